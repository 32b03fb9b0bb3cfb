"""Pixels of the embedded synthetic Galaxy Zoo: SDSS-like gri composites of a latent morphology.

An image is built the way an SDSS cutout is: surface brightness of the galaxy and its neighbours in
g, r and i (Sersic profiles on a grid, plus arms, bars, rings, arcs, tails and dust), blurred by the
seeing, field stars with a Moffat profile, sky and photon noise, then the asinh colour stretch of
Lupton et al. (2004) with (i, r, g) as (R, G, B).

Rendering happens on a grid of half the output size and is upsampled bilinearly at the end: the Kaggle
cutouts were themselves resampled from coarser SDSS pixels, which gives their noise its blotchy look,
and a quarter of the pixels keeps the generator at tens of images per second per core.

Units: lengths in pixels of the 424-px reference frame (whatever the output size); surface brightness
in units of the sky noise sigma of one rendering pixel.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    from galzoo.sources.synthetic import Morphology

#: Side of the Kaggle images; every length in the latent morphology is in these pixels.
REFERENCE_SIZE = 424
#: Output pixels per rendering pixel along each axis.
RENDER_DOWNSAMPLING = 2
#: Profiles are evaluated at pixel centres; this softening (rendering px) keeps cusps finite.
CORE_SOFTENING = 0.5

# --- Colours: flux in (g, r, i) relative to r --------------------------------------------------------
ELLIPTICAL_COLOUR = (0.66, 1.0, 1.26)
BLUE_ELLIPTICAL_COLOUR = (0.95, 1.0, 1.03)
BLUE_ELLIPTICAL_PROBABILITY = 0.15
BULGE_COLOUR = (0.70, 1.0, 1.22)
DISC_COLOUR = (0.86, 1.0, 1.10)
#: Young stars: spiral arms, rings, star-forming clumps (and, by coincidence of colour, lensed arcs).
YOUNG_COLOUR = (1.30, 1.0, 0.80)
LENSED_COLOUR = (1.45, 1.0, 0.75)
#: Lognormal scatter of each band of each component: no two galaxies share a colour exactly.
COLOUR_SCATTER = 0.06
HOT_STAR_COLOUR = (1.30, 1.0, 0.85)
COOL_STAR_COLOUR = (0.40, 1.0, 1.65)
#: Dust dims g more than r more than i: optical depth per band relative to r.
DUST_REDDENING = (1.30, 1.0, 0.75)

# --- Sky, detector and stretch ----------------------------------------------------------------------
#: Sky noise per band relative to r: the g band looks darker in real composites.
BAND_NOISE = (0.85, 1.0, 1.0)
#: Residual sky left by SDSS sky subtraction (sky sigma): the background is not pure black.
SKY_PEDESTAL = 0.15
#: Photon noise of the source: variance += intensity * sigma / gain (sky sigma units).
POISSON_GAIN = 15.0
#: Detector saturation (sky sigma); saturated pixels are equal in all bands, hence white.
SATURATION = 4000.0
#: Lupton asinh stretch: linear slope for faint light (per sky sigma) and the softening Q.
ASINH_ALPHA = 0.04
ASINH_Q = 8.0

# --- Point spread function ----------------------------------------------------------------------
GAUSSIAN_FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))
#: Moffat index of star cores, and of the faint wide halo of bright stars (scattered light).
STAR_MOFFAT_BETA = 3.0
HALO_MOFFAT_BETA = 1.6
HALO_FRACTION = 0.04
HALO_FWHM_FACTOR = 15.0
#: Stars brighter than this (sky sigma x px^2) show a halo and diffraction spikes.
BRIGHT_STAR_FLUX = 2e5
SPIKE_FRACTION = 0.01
SPIKE_LENGTH_PER_ROOT_FLUX = 0.03
#: The seeing kernel is cut at this many sigma.
BLUR_TRUNCATE = 3.0
#: Profiles are drawn out to where they fall below this surface brightness (sky sigma).
DRAW_LEVEL = 0.03

# --- Field -----------------------------------------------------------------------------------
CENTRE_JITTER = 1.0
NEIGHBOUR_MEAN = 2.0
NEIGHBOUR_RADIUS = (1.5, 12.0)
NEIGHBOUR_SURFACE_BRIGHTNESS = (1.0, 15.0)
NEIGHBOUR_SERSIC_INDEX = (0.8, 4.0)
NEIGHBOUR_AXIS_RATIO = (0.3, 1.0)
FIELD_STAR_MEAN = 3.0
FIELD_STAR_FLUX = (40.0, 4e4)
BRIGHT_FIELD_STAR_PROBABILITY = 0.06
BRIGHT_FIELD_STAR_FLUX = (1e6, 3e7)

# --- Structure: sizes in half-light radii of the main body, surface brightness in sky sigma ----------
BULGE_AXIS_RATIO = (0.75, 1.0)
EDGE_ON_ROUNDED_BULGE_AXIS_RATIO = (0.65, 0.90)
EDGE_ON_BOXY_BULGE_AXIS_RATIO = (0.50, 0.70)
#: Exponent of the generalised ellipse |u|^c + |v|^c of boxy (peanut) bulges.
BOXY_EXPONENT = 3.5
#: Arms: sharpness of the cos^k arm profile, and the radius inside which they fade into the centre.
ARM_SHARPNESS = (1.5, 3.0)
ARM_INNER_RADIUS = 0.3
#: "More than four" arms are flocculent: their phase wanders with radius.
FLOCCULENCE = 0.6
BAR_HALF_LENGTH = (0.6, 1.1)
BAR_AXIS_RATIO = (0.25, 0.40)
BAR_FLUX_FRACTION = (0.08, 0.18)
#: Bars are flat-topped and elongated: a low Sersic index, half-light radius half the bar half-length.
BAR_SERSIC_INDEX = 0.5
BAR_HALF_LIGHT_PER_HALF_LENGTH = 0.5
RING_RADIUS_DISC = (1.4, 2.2)
RING_RADIUS_SMOOTH = (2.0, 3.0)
RING_WIDTH = 0.07
RING_CONTRAST = (1.2, 2.5)
LENS_RADIUS = (1.2, 2.5)
LENS_MIN_RADIUS_FWHM = 4.0
LENS_FULL_RING_PROBABILITY = 0.15
LENS_ARC_HALF_EXTENT = (0.35, 1.2)
LENS_SURFACE_BRIGHTNESS = (8.0, 30.0)
SHELL_RADII = (1.5, 2.3, 3.4, 4.8)
SHELL_CONTRAST = (0.8, 1.5)
SHELL_HALF_EXTENT = (0.4, 0.7)
SHELL_WIDTH = 0.08
LENS_ARC_WIDTH = 0.05
#: Disturbed and merging galaxies: coordinate warp amplitude (half-light radii) and lopsidedness.
WARP_AMPLITUDE = (0.15, 0.35)
WARP_SCALE = 1.5
LOPSIDEDNESS = (0.3, 0.6)
TAIL_PITCH_DEGREES = (35.0, 55.0)
TAIL_LENGTH = (3.0, 5.0)
TAIL_WIDTH = (0.2, 0.4)
TAIL_SURFACE_BRIGHTNESS = (1.0, 4.0)
COMPANION_SEPARATION = (0.8, 1.8)
COMPANION_FLUX_RATIO = (0.3, 1.0)
COMPANION_RADIUS_RATIO = (0.5, 1.0)
COMPANION_MIN_SEPARATION_FWHM = 3.0
COMPANION_ELLIPTICAL_PROBABILITY = 0.6
COMPANION_ELLIPTICAL_SERSIC_INDEX = (2.0, 4.0)
COMPANION_ELLIPTICAL_AXIS_RATIO = (0.6, 1.0)
COMPANION_DISC_AXIS_RATIO = (0.5, 1.0)
IRREGULAR_CLUMPS = (6, 14)
IRREGULAR_CLUMP_SHARE = (0.4, 0.6)
IRREGULAR_CLUMP_SIZE = (0.08, 0.25)
IRREGULAR_CLUMP_SPREAD = 0.7
EDGE_ON_WARP = (0.03, 0.08)
#: How far odd features reach beyond the main body: tidal tails far out; arcs, shells, rings, clumps and
#: companions closer in. The central galaxy is drawn only inside this reach and its own profile's extent.
TAIL_REACH = 12.0
ODD_REACH = 6.0
OVERLAPPING_STAR_FLUX_FRACTION = (0.05, 0.3)
DUST_OPTICAL_DEPTH = {"edge_on": (1.0, 2.5), "smooth": (0.8, 2.0), "disc": (0.6, 1.2)}
#: Lanes fade along their length over this many half-light radii.
DUST_LANE_LENGTH = 1.5
#: Edge-on lanes: width as a fraction of the projected thickness, but never narrower than the seeing allows.
EDGE_ON_LANE_WIDTH = 0.4
EDGE_ON_LANE_MIN_WIDTH_FWHM = 0.7
#: Inclined discs: the lane runs off-centre (fraction of projected thickness), half-light radii wide.
DISC_LANE_OFFSET = 0.2
DISC_LANE_WIDTH = 0.1
SMOOTH_LANE_WIDTH = (0.1, 0.2)
ARTEFACT_TRAIL_SURFACE_BRIGHTNESS = (10.0, 100.0)
#: SDSS exposes g, r and i at different moments, so a satellite trail is three parallel coloured lines.
ARTEFACT_TRAIL_BAND_OFFSET = (1.5, 4.0)


def sersic_b(n: float) -> float:
    """b_n such that the half-light radius encloses half the light (Ciotti & Bertin 1999 expansion)."""
    return 2.0 * n - 1.0 / 3.0 + 4.0 / (405.0 * n) + 46.0 / (25515.0 * n**2)


def sersic_ie(flux: float, re: float, n: float, q: float) -> float:
    """Surface brightness at the half-light radius of a Sersic ellipse of total ``flux``."""
    b = sersic_b(n)
    return flux * b ** (2.0 * n) / (2.0 * math.pi * n * q * re**2 * math.exp(b) * math.gamma(2.0 * n))


def moffat_alpha(fwhm: float, beta: float = STAR_MOFFAT_BETA) -> float:
    """Scale radius of a Moffat profile with the given FWHM."""
    return fwhm / (2.0 * math.sqrt(2.0 ** (1.0 / beta) - 1.0))


@dataclass(frozen=True)
class _Grid:
    """Pixel-centre coordinates (reference px, origin at the image centre) of the rendering grid."""

    size: int
    pixel: float
    x: np.ndarray  # (1, size)
    y: np.ndarray  # (size, 1)

    @property
    def softening(self) -> float:
        return CORE_SOFTENING * self.pixel


@lru_cache(maxsize=8)
def _grid(output_size: int) -> _Grid:
    size = -(-output_size // RENDER_DOWNSAMPLING)
    pixel = REFERENCE_SIZE / size
    centres = ((np.arange(size) + 0.5) * pixel - REFERENCE_SIZE / 2).astype(np.float32)
    return _Grid(size, pixel, centres[None, :], centres[:, None])


def _colour(rng: np.random.Generator, base: tuple[float, float, float]) -> np.ndarray:
    return (np.asarray(base) * np.exp(rng.normal(0.0, COLOUR_SCATTER, 3))).astype(np.float32)


def _paint(model: np.ndarray, colour: np.ndarray, image: np.ndarray, window=(slice(None), slice(None))) -> None:
    """Add a component of the given (g, r, i) colour to the model, band by band to spare temporaries."""
    for band in range(3):
        target = model[(band, *window)]
        target += colour[band] * image


def _rotate(dx: np.ndarray, dy: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates along and across the direction ``angle``."""
    c, s = math.cos(angle), math.sin(angle)
    return dx * c + dy * s, dy * c - dx * s


def _radius(u: np.ndarray, v: np.ndarray, softening: float, boxiness: float = 2.0) -> np.ndarray:
    if boxiness == 2.0:
        return np.sqrt(u * u + v * v + softening**2)
    return (np.abs(u) ** boxiness + np.abs(v) ** boxiness) ** (1.0 / boxiness) + softening


def _sersic(r: np.ndarray, re: float, n: float, ie: float) -> np.ndarray:
    return ie * np.exp(-sersic_b(n) * ((r / re) ** (1.0 / n) - 1.0))


def _sersic_extent(re: float, n: float, ie: float) -> float:
    """Radius where a Sersic profile fades below DRAW_LEVEL: how far it is worth drawing."""
    if ie <= DRAW_LEVEL:
        return re
    return re * (1.0 + math.log(ie / DRAW_LEVEL) / sersic_b(n)) ** n


def _window(g: _Grid, x0: float, y0: float, radius: float):
    """Slices of the rendering grid covering a disc of ``radius`` around (x0, y0), or None if off-image."""
    lo = REFERENCE_SIZE / 2

    def span(c: float) -> slice:
        return slice(max(0, int((c - radius + lo) / g.pixel)), min(g.size, int((c + radius + lo) / g.pixel) + 1))

    sy, sx = span(y0), span(x0)
    if sy.start >= sy.stop or sx.start >= sx.stop:
        return None
    return sy, sx


def _wrap(angle: np.ndarray) -> np.ndarray:
    return (angle + np.pi) % (2.0 * np.pi) - np.pi


def _arc(dx, dy, radius: float, width: float, centre_angle: float, half_extent: float) -> np.ndarray:
    """A ring segment: Gaussian across the ring, Gaussian along it (half_extent=inf gives a full ring)."""
    rho = np.sqrt(dx * dx + dy * dy)
    profile = np.exp(-0.5 * ((rho - radius) / width) ** 2)
    if math.isfinite(half_extent):
        profile *= np.exp(-0.5 * (_wrap(np.arctan2(dy, dx) - centre_angle) / half_extent) ** 2)
    return profile


def _tails(dx, dy, re: float, count: int, rng: np.random.Generator) -> np.ndarray:
    """Tidal tails: ``count`` loosely wound, narrow one-sided spirals of faint light beyond the body."""
    pitch = math.radians(rng.uniform(*TAIL_PITCH_DEGREES))
    rho = np.sqrt(dx * dx + dy * dy) + 1e-3
    phase = np.arctan2(dy, dx) - np.log(rho / re) / math.tan(pitch) - rng.uniform(0, 2 * np.pi)
    across = _wrap(count * phase) / count * rho * math.sin(pitch)
    width = re * rng.uniform(*TAIL_WIDTH)
    length = re * rng.uniform(*TAIL_LENGTH)
    onset = 1.0 - np.exp(-((rho / re) ** 2))
    return rng.uniform(*TAIL_SURFACE_BRIGHTNESS) * np.exp(-0.5 * (across / width) ** 2 - rho / length) * onset


def _point(dx, dy, flux: float, g: _Grid) -> np.ndarray:
    """An unresolved source before the seeing: a Gaussian one rendering pixel wide."""
    sigma = 0.5 * g.pixel
    return flux / (2 * math.pi * sigma**2) * np.exp(-0.5 * (dx * dx + dy * dy) / sigma**2)


def _spiral_arms(rho, theta, m: Morphology, rng: np.random.Generator,
                 inner_radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Arm share of the disc light: (taper, modulation / its mean) for a logarithmic spiral."""
    phase = theta - np.log(rho / m.half_light_radius) / math.tan(math.radians(m.arm_pitch))
    if m.arm_count > 4:
        phase = phase + FLOCCULENCE * np.sin(2.0 * theta + 3.0 * np.log(rho / m.half_light_radius)
                                             + rng.uniform(0, 2 * np.pi))
    sharpness = rng.uniform(*ARM_SHARPNESS)
    modulation = (0.5 + 0.5 * np.cos(m.arm_count * (phase - rng.uniform(0, 2 * np.pi)))) ** sharpness
    samples = (0.5 + 0.5 * np.cos(np.linspace(0, 2 * np.pi, 256, endpoint=False))) ** sharpness
    taper = 1.0 - np.exp(-((rho / inner_radius) ** 2))
    return taper, modulation / samples.mean()


def _disc(model, g, dx, dy, m: Morphology, rng: np.random.Generator) -> None:
    """Face-on or inclined disc: bulge, exponential disc with arms, bar, ring or star-forming clumps."""
    u, v = _rotate(dx, dy, m.position_angle)
    v = v / m.axis_ratio
    rho = _radius(u, v, g.softening)
    re = m.half_light_radius
    main_flux = m.flux * (1.0 - m.bulge_to_total)
    disc_ie = sersic_ie(main_flux, re, 1.0, m.axis_ratio)
    disc = _sersic(rho, re, 1.0, disc_ie)
    if m.bulge_to_total > 0:
        q_bulge = rng.uniform(*BULGE_AXIS_RATIO)
        bu, bv = _rotate(dx, dy, m.position_angle)
        r_bulge = _radius(bu, bv / q_bulge, g.softening)
        ie = sersic_ie(m.flux * m.bulge_to_total, m.bulge_radius, m.bulge_sersic_index, q_bulge)
        _paint(model, _colour(rng, BULGE_COLOUR), _sersic(r_bulge, m.bulge_radius, m.bulge_sersic_index, ie))
    inner = max(ARM_INNER_RADIUS * re, m.bulge_radius)
    if m.bar:
        half_length = re * rng.uniform(*BAR_HALF_LENGTH)
        inner = max(inner, half_length)
        bar_u, bar_v = _rotate(u, v, rng.uniform(0, np.pi))
        q_bar = rng.uniform(*BAR_AXIS_RATIO)
        bar_re = BAR_HALF_LIGHT_PER_HALF_LENGTH * half_length
        r_bar = _radius(bar_u, bar_v / q_bar, g.softening)
        ie = sersic_ie(main_flux * rng.uniform(*BAR_FLUX_FRACTION), bar_re, BAR_SERSIC_INDEX, q_bar * m.axis_ratio)
        _paint(model, _colour(rng, BULGE_COLOUR), _sersic(r_bar, bar_re, BAR_SERSIC_INDEX, ie))
    if m.odd == "irregular":
        _irregular(model, g, u, v, disc, m, rng)
    elif m.arm_count:
        theta = np.arctan2(v, u)
        taper, modulation = _spiral_arms(rho, theta, m, rng, inner)
        arm_share = m.arm_strength * taper
        _paint(model, _colour(rng, DISC_COLOUR), disc * (1.0 - arm_share))
        _paint(model, _colour(rng, YOUNG_COLOUR), disc * arm_share * modulation)
    else:
        _paint(model, _colour(rng, DISC_COLOUR), disc)
    if m.odd == "ring":
        radius = re * rng.uniform(*RING_RADIUS_DISC)
        level = rng.uniform(*RING_CONTRAST) * _sersic(radius, re, 1.0, disc_ie)
        _paint(model, _colour(rng, YOUNG_COLOUR), level * _arc(u, v, radius, RING_WIDTH * radius, 0.0, math.inf))


def _irregular(model, g, u, v, disc, m: Morphology, rng: np.random.Generator) -> None:
    """Clumpy light: a dim lopsided disc plus star-forming knots scattered around the centre."""
    share = rng.uniform(*IRREGULAR_CLUMP_SHARE)
    lopsided = 1.0 + rng.uniform(*LOPSIDEDNESS) * np.cos(np.arctan2(v, u) - rng.uniform(0, 2 * np.pi))
    _paint(model, _colour(rng, DISC_COLOUR), disc * (1.0 - share) * lopsided)
    count = int(rng.integers(IRREGULAR_CLUMPS[0], IRREGULAR_CLUMPS[1] + 1))
    fluxes = rng.dirichlet(np.ones(count)) * share * m.flux * (1.0 - m.bulge_to_total)
    colour = _colour(rng, YOUNG_COLOUR)
    re = m.half_light_radius
    for flux in fluxes:
        cu, cv = rng.normal(0.0, IRREGULAR_CLUMP_SPREAD * re, 2)
        sigma = re * rng.uniform(*IRREGULAR_CLUMP_SIZE)
        # u, v live in the disc plane; a clump of sky-plane size sigma is sigma/q long across.
        d2 = (u - cu) ** 2 + ((v - cv) * m.axis_ratio) ** 2
        _paint(model, colour, flux / (2 * math.pi * sigma**2) * np.exp(-0.5 * d2 / sigma**2))


def _smooth(model, g, dx, dy, m: Morphology, rng: np.random.Generator) -> np.ndarray:
    """Elliptical: one Sersic ellipse. Returns its colour so that shells can share it."""
    u, v = _rotate(dx, dy, m.position_angle)
    r = _radius(u, v / m.axis_ratio, g.softening)
    base = BLUE_ELLIPTICAL_COLOUR if rng.random() < BLUE_ELLIPTICAL_PROBABILITY else ELLIPTICAL_COLOUR
    colour = _colour(rng, base)
    ie = sersic_ie(m.flux, m.half_light_radius, m.sersic_index, m.axis_ratio)
    _paint(model, colour, _sersic(r, m.half_light_radius, m.sersic_index, ie))
    re = m.half_light_radius
    if m.odd == "ring":
        radius = re * rng.uniform(*RING_RADIUS_SMOOTH)
        level = rng.uniform(*RING_CONTRAST) * _sersic(radius, re, m.sersic_index, ie)
        ring = _arc(u, v / m.axis_ratio, radius, RING_WIDTH * radius, 0.0, math.inf)
        _paint(model, _colour(rng, YOUNG_COLOUR), level * ring)
    if m.odd == "other":
        # Shells: sharp arcs on alternating sides, the debris of an accreted companion.
        start = rng.uniform(0, 2 * np.pi)
        for k, factor in enumerate(SHELL_RADII[: int(rng.integers(2, len(SHELL_RADII) + 1))]):
            radius = factor * re
            level = rng.uniform(*SHELL_CONTRAST) * _sersic(radius, re, m.sersic_index, ie)
            arc = _arc(dx, dy, radius, SHELL_WIDTH * radius, start + k * np.pi, rng.uniform(*SHELL_HALF_EXTENT))
            _paint(model, colour, max(level, 1.0) * arc)
    return colour


def _edge_on(model, g, dx, dy, m: Morphology, rng: np.random.Generator) -> None:
    """Edge-on disc: a thin exponential ellipse with a rounded, boxy or no bulge."""
    u, v = _rotate(dx, dy, m.position_angle)
    re = m.half_light_radius
    if m.odd == "other":
        # An integral-sign warp: the outer disc bends away from the mid-plane in opposite directions.
        bend = rng.uniform(*EDGE_ON_WARP) * rng.choice((-1.0, 1.0))
        v = v - bend * np.sign(u) * np.maximum(np.abs(u) - re, 0.0) ** 2 / re
    r = _radius(u, v / m.axis_ratio, g.softening)
    main_flux = m.flux * (1.0 - m.bulge_to_total)
    _paint(model, _colour(rng, DISC_COLOUR), _sersic(r, re, 1.0, sersic_ie(main_flux, re, 1.0, m.axis_ratio)))
    if m.bulge_to_total > 0:
        boxy = m.edge_on_bulge == "boxy"
        q_bulge = rng.uniform(*(EDGE_ON_BOXY_BULGE_AXIS_RATIO if boxy else EDGE_ON_ROUNDED_BULGE_AXIS_RATIO))
        r_bulge = _radius(u, v / q_bulge, g.softening, BOXY_EXPONENT if boxy else 2.0)
        ie = sersic_ie(m.flux * m.bulge_to_total, m.bulge_radius, m.bulge_sersic_index, q_bulge)
        _paint(model, _colour(rng, BULGE_COLOUR), _sersic(r_bulge, m.bulge_radius, m.bulge_sersic_index, ie))


def _dust_lane(model, dx, dy, m: Morphology, rng: np.random.Generator) -> None:
    """An absorbing band: along the mid-plane of discs, across the centre of ellipticals at any angle."""
    re = m.half_light_radius
    tau = rng.uniform(*DUST_OPTICAL_DEPTH[m.kind])
    thickness = m.axis_ratio * re
    if m.kind == "edge_on":
        width = max(EDGE_ON_LANE_WIDTH * thickness, EDGE_ON_LANE_MIN_WIDTH_FWHM * m.seeing_fwhm)
        angle, offset = m.position_angle, 0.0
    elif m.kind == "disc":
        angle, offset, width = m.position_angle, DISC_LANE_OFFSET * thickness, DISC_LANE_WIDTH * re
    else:
        angle, offset, width = rng.uniform(0, np.pi), 0.0, rng.uniform(*SMOOTH_LANE_WIDTH) * re
    along, across = _rotate(dx, dy, angle)
    depth = tau * np.exp(-0.5 * ((across - offset) / width) ** 2 - 0.5 * (along / (DUST_LANE_LENGTH * re)) ** 2)
    model *= np.exp(-np.asarray(DUST_REDDENING, dtype=np.float32)[:, None, None] * depth)


def _central_extent(m: Morphology) -> float:
    """Radius (reference px) beyond which the central galaxy adds nothing visible: where drawing stops."""
    re = m.half_light_radius
    main_ie = sersic_ie(m.flux * (1.0 - m.bulge_to_total), re, m.sersic_index, m.axis_ratio)
    extent = _sersic_extent(re, m.sersic_index, main_ie)
    if m.bulge_to_total > 0:
        flattest = min(BULGE_AXIS_RATIO[0], EDGE_ON_ROUNDED_BULGE_AXIS_RATIO[0], EDGE_ON_BOXY_BULGE_AXIS_RATIO[0])
        bulge_ie = sersic_ie(m.flux * m.bulge_to_total, m.bulge_radius, m.bulge_sersic_index, flattest)
        extent = max(extent, _sersic_extent(m.bulge_radius, m.bulge_sersic_index, bulge_ie))
    reach = TAIL_REACH if m.odd in ("disturbed", "merger") else ODD_REACH if m.odd else 0.0
    return max(extent, reach * re)


def _central_galaxy(model, g: _Grid, x0: float, y0: float, m: Morphology, rng: np.random.Generator) -> None:
    """The galaxy the image is about, drawn in a window around it (most galaxies are far smaller than the image)."""
    sy, sx = _window(g, x0, y0, _central_extent(m))
    dx, dy = g.x[:, sx] - x0, g.y[sy] - y0
    re = m.half_light_radius
    if m.odd in ("disturbed", "merger"):
        amplitude = re * rng.uniform(*WARP_AMPLITUDE)
        k = 1.0 / (WARP_SCALE * re)
        dx, dy = (dx + amplitude * np.sin(k * dy + rng.uniform(0, 2 * np.pi)),
                  dy + amplitude * np.sin(k * dx + rng.uniform(0, 2 * np.pi)))
    galaxy = np.zeros((3, dy.shape[0], dx.shape[1]), dtype=np.float32)
    if m.kind == "smooth":
        colour = _smooth(galaxy, g, dx, dy, m, rng)
    elif m.kind == "edge_on":
        colour = _colour(rng, DISC_COLOUR)
        _edge_on(galaxy, g, dx, dy, m, rng)
    else:
        colour = _colour(rng, DISC_COLOUR)
        _disc(galaxy, g, dx, dy, m, rng)
    if m.odd == "disturbed":
        lopsided = 1.0 + rng.uniform(*LOPSIDEDNESS) * np.cos(np.arctan2(dy, dx) - rng.uniform(0, 2 * np.pi))
        galaxy *= lopsided
        _paint(galaxy, colour, _tails(dx, dy, re, 1, rng))
    elif m.odd == "merger":
        _companion(galaxy, g, dx, dy, m, rng)
        _paint(galaxy, colour, _tails(dx, dy, re, 2, rng))
    elif m.odd == "lens or arc":
        radius = max(re * rng.uniform(*LENS_RADIUS), LENS_MIN_RADIUS_FWHM * m.seeing_fwhm)
        full = rng.random() < LENS_FULL_RING_PROBABILITY
        for _ in range(1 if full else int(rng.integers(1, 4))):
            half_extent = math.inf if full else rng.uniform(*LENS_ARC_HALF_EXTENT)
            width = max(LENS_ARC_WIDTH * radius, 0.5 * g.pixel)
            arc = _arc(dx, dy, radius, width, rng.uniform(0, 2 * np.pi), half_extent)
            _paint(galaxy, _colour(rng, LENSED_COLOUR), rng.uniform(*LENS_SURFACE_BRIGHTNESS) * arc)
    elif m.odd == "other" and m.kind == "disc":
        # A foreground star or supernova on top of the disc.
        radius = re * math.sqrt(rng.random())
        angle = rng.uniform(0, 2 * np.pi)
        flux = m.flux * rng.uniform(*OVERLAPPING_STAR_FLUX_FRACTION)
        point = _point(dx - radius * math.cos(angle), dy - radius * math.sin(angle), flux, g)
        _paint(galaxy, _star_colour(rng), point)
    elif m.odd == "dust lane":
        _dust_lane(galaxy, dx, dy, m, rng)
    model[:, sy, sx] += galaxy


def _companion(model, g, dx, dy, m: Morphology, rng: np.random.Generator) -> None:
    """The second galaxy of a merger, overlapping the first."""
    separation = max(m.half_light_radius * rng.uniform(*COMPANION_SEPARATION),
                     COMPANION_MIN_SEPARATION_FWHM * m.seeing_fwhm)
    angle = rng.uniform(0, 2 * np.pi)
    cx, cy = dx - separation * math.cos(angle), dy - separation * math.sin(angle)
    re = m.half_light_radius * rng.uniform(*COMPANION_RADIUS_RATIO)
    flux = m.flux * rng.uniform(*COMPANION_FLUX_RATIO)
    elliptical = rng.random() < COMPANION_ELLIPTICAL_PROBABILITY
    n = rng.uniform(*COMPANION_ELLIPTICAL_SERSIC_INDEX) if elliptical else 1.0
    q = rng.uniform(*(COMPANION_ELLIPTICAL_AXIS_RATIO if elliptical else COMPANION_DISC_AXIS_RATIO))
    u, v = _rotate(cx, cy, rng.uniform(0, np.pi))
    r = _radius(u, v / q, g.softening)
    colour = _colour(rng, ELLIPTICAL_COLOUR if elliptical else DISC_COLOUR)
    _paint(model, colour, _sersic(r, re, n, sersic_ie(flux, re, n, q)))


def _neighbour(model, g: _Grid, rng: np.random.Generator) -> None:
    """A small background galaxy somewhere in the field."""
    x0, y0 = rng.uniform(-REFERENCE_SIZE / 2, REFERENCE_SIZE / 2, 2)
    re = math.exp(rng.uniform(*np.log(NEIGHBOUR_RADIUS)))
    sb = math.exp(rng.uniform(*np.log(NEIGHBOUR_SURFACE_BRIGHTNESS)))
    n = rng.uniform(*NEIGHBOUR_SERSIC_INDEX)
    q = rng.uniform(*NEIGHBOUR_AXIS_RATIO)
    base = (ELLIPTICAL_COLOUR, DISC_COLOUR, YOUNG_COLOUR)[int(rng.integers(3))]
    colour = _colour(rng, base)
    ie = sersic_ie(2 * math.pi * re**2 * q * sb, re, n, q)
    window = _window(g, x0, y0, _sersic_extent(re, n, ie))
    if window is None:
        return
    u, v = _rotate(g.x[:, window[1]] - x0, g.y[window[0]] - y0, rng.uniform(0, np.pi))
    _paint(model, colour, _sersic(_radius(u, v / q, g.softening), re, n, ie), window)


def _star_colour(rng: np.random.Generator) -> np.ndarray:
    t = rng.random()
    return _colour(rng, tuple(h ** (1 - t) * c**t for h, c in zip(HOT_STAR_COLOUR, COOL_STAR_COLOUR)))


def _star(model, g: _Grid, x0: float, y0: float, flux: float, fwhm: float, spike_angle: float,
          rng: np.random.Generator) -> None:
    """A star after the seeing: Moffat core, and for bright ones a reddish halo and diffraction spikes."""
    colour = _star_colour(rng)
    alpha = moffat_alpha(fwhm)
    peak = flux * (STAR_MOFFAT_BETA - 1.0) / (math.pi * alpha**2)
    window = _window(g, x0, y0, alpha * (peak / DRAW_LEVEL) ** (1.0 / (2.0 * STAR_MOFFAT_BETA)))
    if window is not None:
        dx, dy = g.x[:, window[1]] - x0, g.y[window[0]] - y0
        r2 = dx * dx + dy * dy
        _paint(model, colour, peak * (1.0 + r2 / alpha**2) ** -STAR_MOFFAT_BETA, window)
    if flux < BRIGHT_STAR_FLUX:
        return
    halo_alpha = moffat_alpha(HALO_FWHM_FACTOR * fwhm, HALO_MOFFAT_BETA)
    halo_peak = HALO_FRACTION * flux * (HALO_MOFFAT_BETA - 1.0) / (math.pi * halo_alpha**2)
    dx, dy = g.x - x0, g.y - y0
    halo = halo_peak * (1.0 + (dx * dx + dy * dy) / halo_alpha**2) ** -HALO_MOFFAT_BETA
    _paint(model, _colour(rng, COOL_STAR_COLOUR), halo)
    length = SPIKE_LENGTH_PER_ROOT_FLUX * math.sqrt(flux)
    width = 0.5 * max(fwhm, g.pixel)
    spike_peak = SPIKE_FRACTION * flux / (4 * 2 * length * math.sqrt(2 * math.pi) * width)
    spikes = np.zeros((g.size, g.size), dtype=np.float32)
    for k in range(2):
        along, across = _rotate(dx, dy, spike_angle + k * np.pi / 2)
        spikes += np.exp(-np.abs(along) / length - 0.5 * (across / width) ** 2)
    _paint(model, colour, spike_peak * spikes)


def _trail(model, g: _Grid, x0: float, y0: float, rng: np.random.Generator) -> None:
    """A satellite trail through the centre: one line per band, each offset across the trail."""
    along_angle = rng.uniform(0, np.pi)
    offset = rng.uniform(*ARTEFACT_TRAIL_BAND_OFFSET)
    level = rng.uniform(*ARTEFACT_TRAIL_SURFACE_BRIGHTNESS)
    _, across = _rotate(g.x - x0, g.y - y0, along_angle)
    width = 0.5 * g.pixel
    for band in range(3):
        model[band] += level * np.exp(-0.5 * ((across - (band - 1) * offset) / width) ** 2)


def _blur(model: np.ndarray, g: _Grid, fwhm: float) -> np.ndarray:
    """Gaussian seeing as a separable convolution: the kernel spans only a few rendering pixels."""
    sigma = fwhm / GAUSSIAN_FWHM_PER_SIGMA / g.pixel
    radius = max(1, math.ceil(BLUR_TRUNCATE * sigma))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps = (taps / taps.sum()).astype(np.float32)
    padded = np.pad(model, ((0, 0), (radius, radius), (radius, radius)), mode="edge")
    rows = _correlate(padded, taps, axis=1, size=g.size)
    return _correlate(rows, taps, axis=2, size=g.size)


def _correlate(source: np.ndarray, taps: np.ndarray, axis: int, size: int) -> np.ndarray:
    """Weighted sum of shifted slices along ``axis``, reusing two buffers (no temporary per tap)."""
    def shifted(k: int) -> np.ndarray:
        index = [slice(None)] * source.ndim
        index[axis] = slice(k, k + size)
        return source[tuple(index)]

    out = np.multiply(shifted(0), taps[0])
    term = np.empty_like(out)
    for k in range(1, len(taps)):
        np.multiply(shifted(k), taps[k], out=term)
        out += term
    return out


def _observe(model: np.ndarray, sky_noise: float, rng: np.random.Generator) -> np.ndarray:
    """Saturate, then add residual sky, sky noise and photon noise."""
    sigma = (sky_noise * np.asarray(BAND_NOISE, dtype=np.float32))[:, None, None]
    np.minimum(model, SATURATION, out=model)
    std = np.sqrt(sigma**2 + np.maximum(model, 0.0) * (sigma / POISSON_GAIN))
    return model + SKY_PEDESTAL * sigma + std * rng.standard_normal(model.shape, dtype=np.float32)


def _asinh_rgb(bands: np.ndarray) -> np.ndarray:
    """Lupton et al. (2004) colour-preserving asinh stretch of (g, r, i) into an RGB uint8 image."""
    total = bands.mean(axis=0)
    scale = np.zeros_like(total)
    np.divide(np.arcsinh(ASINH_ALPHA * ASINH_Q * total) / ASINH_Q, total, out=scale, where=total > 0)
    rgb = bands[::-1] * scale
    rgb /= np.maximum(rgb.max(axis=0), 1.0)
    return np.clip(rgb * 255.0 + 0.5, 0.0, 255.0).astype(np.uint8).transpose(1, 2, 0)


def render_galaxy(morphology: Morphology, rng: np.random.Generator, *, image_size: int = REFERENCE_SIZE) -> np.ndarray:
    """An ``image_size`` x ``image_size`` x 3 uint8 SDSS-like composite of ``morphology``, centred.

    The field (neighbours, stars, the exact centre) and nuisance details (colours, bar angle, arm phase)
    come from ``rng``; the morphology fixes everything volunteers answer about.
    """
    g = _grid(image_size)
    m = morphology
    model = np.zeros((3, g.size, g.size), dtype=np.float32)
    x0, y0 = rng.normal(0.0, CENTRE_JITTER, 2)
    if m.is_galaxy:
        _central_galaxy(model, g, x0, y0, m, rng)
    elif m.kind == "artefact":
        dx, dy = g.x - x0, g.y - y0
        r = _radius(dx, dy, g.softening)
        ie = sersic_ie(m.flux, m.half_light_radius, 1.0, 1.0)
        _paint(model, _colour(rng, DISC_COLOUR), _sersic(r, m.half_light_radius, 1.0, ie))
        _trail(model, g, x0, y0, rng)
    for _ in range(rng.poisson(NEIGHBOUR_MEAN)):
        _neighbour(model, g, rng)
    model = _blur(model, g, m.seeing_fwhm)

    spike_angle = rng.uniform(0, np.pi / 2)
    if m.kind == "star":
        _star(model, g, x0, y0, m.flux, m.seeing_fwhm, spike_angle, rng)
    fluxes = [math.exp(rng.uniform(*np.log(FIELD_STAR_FLUX))) for _ in range(rng.poisson(FIELD_STAR_MEAN))]
    if rng.random() < BRIGHT_FIELD_STAR_PROBABILITY:
        fluxes.append(math.exp(rng.uniform(*np.log(BRIGHT_FIELD_STAR_FLUX))))
    for flux in fluxes:
        sx, sy = rng.uniform(-REFERENCE_SIZE / 2, REFERENCE_SIZE / 2, 2)
        _star(model, g, sx, sy, flux, m.seeing_fwhm, spike_angle, rng)

    rgb = _asinh_rgb(_observe(model, m.sky_noise, rng))
    return np.asarray(Image.fromarray(rgb).resize((image_size, image_size), Image.Resampling.BILINEAR))
