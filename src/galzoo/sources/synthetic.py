"""The embedded synthetic Galaxy Zoo: latent morphology, simulated volunteers and the dataset writer.

The pipeline must run end to end without downloading anything, so galzoo owns a generator whose
output looks like the Kaggle challenge data: 424x424 SDSS-like gri JPEGs (rendered by
:mod:`galzoo.sources.synthetic_render`) and cumulative vote fractions in the exact Kaggle format.

Each galaxy has a latent :class:`Morphology` drawn from a mix chosen so that all five of Dai & Tong's
clean classes occur. A few dozen simulated volunteers then walk the decision tree of
:mod:`galzoo.tree`; each answers from a mixture of the truth and a "confused" prior, and the truth weighs
less for galaxies that are small next to the seeing or faint next to the sky, as in the real Galaxy Zoo.

Lengths are in pixels of the 424-px reference frame; ``morphology.csv`` reports them in pixels of the
images actually written. Surface brightnesses (and fluxes, per reference pixel squared) are in units of
the nominal sky noise, so "faint" means what it means to a volunteer. Labels depend only on the
morphology, never on the pixels, so they are the same at every ``image_size``.
"""
from __future__ import annotations

import math
import multiprocessing
import os
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from galzoo.errors import ConfigError
from galzoo.sources.archive import staged_directory
from galzoo.sources.synthetic_render import (
    GAUSSIAN_FWHM_PER_SIGMA,
    REFERENCE_SIZE,
    STAR_MOFFAT_BETA,
    moffat_alpha,
    render_galaxy,
    sersic_b,
    sersic_ie,
)
from galzoo.tree import ANSWER_COLUMNS, N_ANSWERS, question, question_slice
from galzoo.progress import progress_bar

__all__ = ["Morphology", "draw_morphology", "simulate_votes", "render_galaxy", "generate_dataset"]

# --- The morphology mix -----------------------------------------------------------------------------
#: Fraction of each kind of object: Kaggle-like, with enough edge-on discs and cigars for Dai & Tong.
KIND_WEIGHTS = {"smooth": 0.40, "edge_on": 0.11, "disc": 0.45, "star": 0.025, "artefact": 0.015}
#: Smooth galaxies by shape (Q7 answers) and the intrinsic axis ratio range of each.
ROUNDNESS_WEIGHTS = {"completely round": 0.38, "in between": 0.42, "cigar-shaped": 0.20}
ROUNDNESS_AXIS_RATIO = {"completely round": (0.84, 1.0), "in between": (0.50, 0.76), "cigar-shaped": (0.20, 0.40)}
#: de Vaucouleurs-like light profiles for ellipticals; cigars are a little less concentrated.
SMOOTH_SERSIC_INDEX = (2.5, 5.0)
CIGAR_SERSIC_INDEX = (1.5, 3.5)
#: Edge-on discs: thin projected discs and the Q9 bulge shapes with their bulge-to-total ranges.
EDGE_ON_AXIS_RATIO = (0.08, 0.22)
EDGE_ON_BULGE_WEIGHTS = {"rounded": 0.50, "boxy": 0.20, "no bulge": 0.30}
EDGE_ON_BULGE_TO_TOTAL = {"rounded": (0.12, 0.45), "boxy": (0.10, 0.35), "no bulge": (0.0, 0.0)}
#: Face-on and inclined discs: cos(inclination) stays above the edge-on range.
DISC_AXIS_RATIO = (0.42, 1.0)
DISC_BAR_PROBABILITY = 0.30
DISC_SPIRAL_PROBABILITY = 0.82
#: Q11 arm counts; "more than four" is rendered with 5 to 7 flocculent arms.
ARM_COUNT_WEIGHTS = {1: 0.06, 2: 0.50, 3: 0.16, 4: 0.10, 5: 0.09, 6: 0.06, 7: 0.03}
#: Pitch angle (degrees) ranges for Q10: tight, medium and loose, drawn equally often.
PITCH_ANGLE_RANGES = ((9.0, 15.0), (17.0, 25.0), (27.0, 40.0))
ARM_STRENGTH = (0.3, 0.7)
#: Q5 bulge prominence via the bulge-to-total light ratio.
DISC_BULGE_WEIGHTS = {"no bulge": 0.15, "just noticeable": 0.35, "obvious": 0.35, "dominant": 0.15}
DISC_BULGE_TO_TOTAL = {"no bulge": (0.0, 0.03), "just noticeable": (0.05, 0.14),
                       "obvious": (0.17, 0.38), "dominant": (0.45, 0.70)}
#: Bulges are compact next to their disc.
BULGE_RADIUS_FRACTION = (0.15, 0.35)
BULGE_SERSIC_INDEX = (1.5, 4.0)
#: Probability of an odd feature (Q6) and, given one, which Q8 answer it is, per kind.
ODD_PROBABILITY = {"smooth": 0.16, "edge_on": 0.25, "disc": 0.22, "star": 0.0, "artefact": 0.0}
ODD_WEIGHTS = {
    "smooth": {"ring": 0.05, "lens or arc": 0.20, "disturbed": 0.15, "other": 0.25, "merger": 0.30,
               "dust lane": 0.05},
    "edge_on": {"lens or arc": 0.05, "disturbed": 0.15, "other": 0.15, "merger": 0.15, "dust lane": 0.50},
    "disc": {"ring": 0.30, "lens or arc": 0.05, "disturbed": 0.20, "irregular": 0.15, "other": 0.10,
             "merger": 0.15, "dust lane": 0.05},
}

# --- Size, brightness and observing conditions ---------------------------------------------------------
#: Half-light radius (reference px), log-uniform: from a few seeing discs to wider than the 256 px crop.
HALF_LIGHT_RADIUS = (4.0, 75.0)
#: Mean surface brightness inside the half-light radius (sky sigma): log-normal around a size relation.
#: Big cutouts were downsampled from nearby galaxies, averaging the noise away, so per pixel they are
#: brighter; the scatter keeps faint galaxies of every size.
SURFACE_BRIGHTNESS_AT_10PX = 40.0
SURFACE_BRIGHTNESS_SIZE_SLOPE = 0.5
SURFACE_BRIGHTNESS_SCATTER_DEX = 0.4
SURFACE_BRIGHTNESS = (2.0, 500.0)
#: Seeing FWHM (reference px) and sky noise relative to nominal, per image.
SEEING_FWHM = (1.5, 3.0)
SKY_NOISE = (0.8, 1.25)
#: Central stars: total flux (sky sigma x px^2), log-uniform; bright enough to saturate the core.
STAR_FLUX = (3e4, 3e6)
#: Artefacts sit on a faint, small catalogue object.
ARTEFACT_HALF_LIGHT_RADIUS = (3.0, 6.0)
ARTEFACT_SURFACE_BRIGHTNESS = (3.0, 10.0)
#: Arbitrary zero point turning fluxes into r-like magnitudes: the median galaxy is near r = 16, as in GZ2.
MAGNITUDE_ZERO_POINT = 27.9
#: A galaxy's visible extent ends where its surface brightness falls to this many sky sigma.
VISIBLE_LEVEL = 1.0

# --- Volunteers -----------------------------------------------------------------------------------
#: Volunteers per galaxy (inclusive range): a few dozen, as in Galaxy Zoo 2.
VOLUNTEERS = (30, 50)
#: Per-volunteer skill, Beta distributed: most volunteers mostly follow what they see.
SKILL_BETA = (8.0, 1.5)
#: Half-light radius over seeing FWHM at which the global shape / fine structure is half recognisable.
SHAPE_RESOLUTION = 2.0
DETAIL_RESOLUTION = 5.0
#: Surface brightness (sky sigma) at which a galaxy is half recognisable, and the steepness of that.
SURFACE_BRIGHTNESS_HALF = 8.0
SURFACE_BRIGHTNESS_SLOPE = 1.5
#: Stars and artefacts are bright and sharp: their recognisability does not depend on size.
STAR_CLARITY = 0.85
#: Soft bin widths: how far from a class boundary volunteers still disagree.
AXIS_RATIO_SOFTNESS = 0.05
PITCH_SOFTNESS = 2.5
LOG_BULGE_SOFTNESS = 0.12
#: Answer boundaries the volunteers perceive.
ROUND_AXIS_RATIO = 0.78
CIGAR_AXIS_RATIO = 0.45
PITCH_BOUNDARIES = (16.0, 26.0)
BULGE_BOUNDARIES = (0.04, 0.16, 0.42)
#: What a volunteer answers when the image shows nothing to go on: small faint things look smooth.
CONFUSED = {
    1: (0.66, 0.28, 0.06),
    2: (0.25, 0.75),
    3: (0.12, 0.88),
    4: (0.35, 0.65),
    5: (0.15, 0.50, 0.30, 0.05),
    6: (0.12, 0.88),
    7: (0.45, 0.50, 0.05),
    8: (0.08, 0.06, 0.22, 0.14, 0.30, 0.12, 0.08),
    9: (0.45, 0.15, 0.40),
    10: (0.30, 0.45, 0.25),
    11: (0.08, 0.30, 0.08, 0.04, 0.05, 0.45),
}
#: How strongly each odd feature, when present, makes volunteers answer "yes" to Q6.
ODD_SALIENCE = {"ring": 0.85, "lens or arc": 0.70, "disturbed": 0.80, "irregular": 0.80, "other": 0.65,
                "merger": 0.90, "dust lane": 0.75}
#: Share of a volunteer's Q8 / Q9 / Q11 answer that is the true one (the rest follows the confused prior).
TRUE_ANSWER_SHARE = 0.65
#: What an ideal volunteer answers, where it is not a soft function of the latent quantities.
IDEAL_Q1 = {"edge_on": (0.12, 0.86, 0.02), "star": (0.05, 0.07, 0.88), "artefact": (0.12, 0.18, 0.70)}
#: Even good volunteers call a galaxy "star or artifact" now and then.
GALAXY_STAR_ANSWER = 0.02
#: "Features" share for smooth galaxies: base and the extra an elongated one draws (it may be a disc).
SMOOTH_FEATURES = (0.06, 0.25)
#: "Features" share for discs: base for a bare disc plus up to this much for strong structure ...
DISC_FEATURES = (0.35, 0.60)
#: ... where structure adds up from a faint bulge, arms, a bar and a disturbed look.
DISC_FEATURE_WEIGHTS = {"disc": 0.35, "arms": 0.60, "bar": 0.25, "odd": 0.30}
#: Q2 "yes, edge-on": for true edge-ons; (base, gain with elongation) for inclined discs and ellipticals.
EDGE_ON_YES = 0.93
INCLINED_DISC_EDGE_ON_YES = (0.03, 0.60)
SMOOTH_EDGE_ON_YES = (0.10, 0.75)
OTHER_EDGE_ON_YES = 0.30
BAR_YES = 0.80
UNBARRED_BAR_YES = 0.05
#: Q4 "yes, spiral": base and gain with arm strength for spirals; for discs without arms.
SPIRAL_YES = (0.75, 0.30)
ARMLESS_SPIRAL_YES = 0.06
#: Ellipticals reached Q5 only by mistake; their light is all "bulge".
SMOOTH_BULGE = (0.05, 0.20, 0.40, 0.35)
#: Keeps log(bulge-to-total) finite for bulgeless discs.
BULGE_LOG_FLOOR = 0.01
#: Q6 "yes, odd" for galaxies with nothing odd (neighbours, stars in the field), and for stars / trails.
NORMAL_GALAXY_ODD_YES = 0.07
STAR_ODD_YES = {"star": 0.25, "artefact": 0.60}

# --- Dataset layout -------------------------------------------------------------------------------
#: GalaxyIDs are FIRST_GALAXY_ID + index: positive, ascending, Kaggle-like six digits.
FIRST_GALAXY_ID = 100000
#: Enough significant digits that the written labels satisfy the tree to far better than 1e-6.
LABEL_FLOAT_FORMAT = "%.12g"
MIN_IMAGE_SIZE = 32

#: A Gaussian's half-light radius in units of its sigma: turns radii into second moments.
GAUSSIAN_HALF_LIGHT_PER_SIGMA = math.sqrt(2.0 * math.log(2.0))


def _check_tree_answers() -> None:
    """Latent categories are spelled as the tree's answers; a typo here must fail at import."""
    tables = [(7, ROUNDNESS_WEIGHTS), (9, EDGE_ON_BULGE_WEIGHTS), (5, DISC_BULGE_WEIGHTS), (8, ODD_SALIENCE),
              *[(8, weights) for weights in ODD_WEIGHTS.values()]]
    for number, table in tables:
        unknown = set(table) - set(question(number).answers)
        if unknown:
            raise RuntimeError(f"answers {sorted(unknown)} are not answers of Q{number}")
    for number, prior in CONFUSED.items():
        if len(prior) != len(question(number).answers) or not math.isclose(sum(prior), 1.0):
            raise RuntimeError(f"the confused prior of Q{number} must have one probability per answer, summing to 1")


_check_tree_answers()


@dataclass(frozen=True)
class Morphology:
    """Latent truth of one image: what the volunteers would say with perfect eyes and a perfect image.

    Categorical fields use the decision tree's own answer texts ("" where the question does not apply).
    The main body is the component described by ``half_light_radius``, ``sersic_index`` and
    ``axis_ratio``; a separate bulge carries ``bulge_to_total`` of the light.
    """

    kind: str
    half_light_radius: float
    surface_brightness: float
    flux: float
    axis_ratio: float
    position_angle: float
    sersic_index: float
    bulge_to_total: float = 0.0
    bulge_radius: float = 0.0
    bulge_sersic_index: float = 0.0
    roundness: str = ""
    edge_on_bulge: str = ""
    bar: bool = False
    arm_count: int = 0
    arm_pitch: float = 0.0
    arm_strength: float = 0.0
    odd: str = ""
    seeing_fwhm: float = 2.0
    sky_noise: float = 1.0

    @property
    def magnitude(self) -> float:
        return MAGNITUDE_ZERO_POINT - 2.5 * math.log10(self.flux)

    @property
    def is_galaxy(self) -> bool:
        return self.kind in ("smooth", "edge_on", "disc")

    @property
    def apparent_axis_ratio(self) -> float:
        """Axis ratio after the seeing: small galaxies look rounder than they are."""
        major = self.half_light_radius / GAUSSIAN_HALF_LIGHT_PER_SIGMA
        seeing = self.seeing_fwhm / GAUSSIAN_FWHM_PER_SIGMA
        return math.sqrt(((major * self.axis_ratio) ** 2 + seeing**2) / (major**2 + seeing**2))

    @property
    def clarity(self) -> float:
        """How recognisable the global shape is (0..1): falls for small or faint galaxies."""
        if not self.is_galaxy:
            return STAR_CLARITY
        return _resolution_term(self, SHAPE_RESOLUTION) * _brightness_term(self)

    @property
    def detail(self) -> float:
        """How recognisable fine structure (arms, bars, bulge shape) is: needs more pixels than the shape."""
        if not self.is_galaxy:
            return STAR_CLARITY
        return _resolution_term(self, DETAIL_RESOLUTION) * _brightness_term(self)

    @property
    def visible_diameter(self) -> float:
        """Major-axis extent (reference px) inside which the light stands above VISIBLE_LEVEL sky sigma.

        Seeing is ignored and the bulge is taken as round: it is a diagnostic of apparent size, not a
        photometric measurement.
        """
        radius = np.linspace(0.0, 2.0 * REFERENCE_SIZE, 8 * REFERENCE_SIZE + 1)
        return 2.0 * float(radius[_radial_profile(self, radius) >= VISIBLE_LEVEL * self.sky_noise].max(initial=0.0))


def _resolution_term(m: Morphology, half_point: float) -> float:
    resolution = m.half_light_radius / m.seeing_fwhm
    return 1.0 / (1.0 + (half_point / resolution) ** 2)


def _brightness_term(m: Morphology) -> float:
    contrast = m.surface_brightness / m.sky_noise
    return 1.0 / (1.0 + (SURFACE_BRIGHTNESS_HALF / contrast) ** SURFACE_BRIGHTNESS_SLOPE)


def _sersic_profile(radius: np.ndarray, flux: float, re: float, n: float, q: float) -> np.ndarray:
    return sersic_ie(flux, re, n, q) * np.exp(-sersic_b(n) * ((radius / re) ** (1.0 / n) - 1.0))


def _radial_profile(m: Morphology, radius: np.ndarray) -> np.ndarray:
    """Surface brightness along the major axis of the main body (sky sigma)."""
    if m.kind == "star":
        alpha = moffat_alpha(m.seeing_fwhm)
        peak = m.flux * (STAR_MOFFAT_BETA - 1.0) / (math.pi * alpha**2)
        return peak * (1.0 + (radius / alpha) ** 2) ** -STAR_MOFFAT_BETA
    main_flux = m.flux * (1.0 - m.bulge_to_total)
    profile = _sersic_profile(radius, main_flux, m.half_light_radius, m.sersic_index, m.axis_ratio)
    if m.bulge_to_total > 0:
        profile += _sersic_profile(radius, m.flux * m.bulge_to_total, m.bulge_radius, m.bulge_sersic_index, 1.0)
    return profile


# --- Drawing morphologies ---------------------------------------------------------------------------

def _choice(rng: np.random.Generator, weights: dict):
    keys = list(weights)
    p = np.array([weights[k] for k in keys], dtype=np.float64)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def _log_uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(math.exp(rng.uniform(math.log(bounds[0]), math.log(bounds[1]))))


def _main_flux(surface_brightness: float, re: float, q: float) -> float:
    """Half the light lies inside the half-light ellipse, whose area is pi re^2 q."""
    return 2.0 * math.pi * re**2 * q * surface_brightness


def draw_morphology(rng: np.random.Generator) -> Morphology:
    """One latent galaxy (or star / artefact) from the mix above."""
    kind = _choice(rng, KIND_WEIGHTS)
    conditions = {"seeing_fwhm": float(rng.uniform(*SEEING_FWHM)), "sky_noise": float(rng.uniform(*SKY_NOISE)),
                  "position_angle": float(rng.uniform(0.0, math.pi))}
    if kind == "star":
        flux = _log_uniform(rng, STAR_FLUX)
        fwhm = conditions["seeing_fwhm"]
        return Morphology(kind=kind, half_light_radius=fwhm / 2.0, flux=flux, axis_ratio=1.0, sersic_index=0.0,
                          surface_brightness=flux / (2.0 * math.pi * (fwhm / 2.0) ** 2), **conditions)
    if kind == "artefact":
        re = float(rng.uniform(*ARTEFACT_HALF_LIGHT_RADIUS))
        sb = float(rng.uniform(*ARTEFACT_SURFACE_BRIGHTNESS))
        return Morphology(kind=kind, half_light_radius=re, surface_brightness=sb, flux=_main_flux(sb, re, 1.0),
                          axis_ratio=1.0, sersic_index=1.0, **conditions)

    re = _log_uniform(rng, HALF_LIGHT_RADIUS)
    log_sb = (math.log10(SURFACE_BRIGHTNESS_AT_10PX) + SURFACE_BRIGHTNESS_SIZE_SLOPE * math.log10(re / 10.0)
              + rng.normal(0.0, SURFACE_BRIGHTNESS_SCATTER_DEX))
    sb = float(np.clip(10.0**log_sb, *SURFACE_BRIGHTNESS))
    odd = _choice(rng, ODD_WEIGHTS[kind]) if rng.random() < ODD_PROBABILITY[kind] else ""
    structure: dict = {}
    bulge_to_total = 0.0
    if kind == "smooth":
        roundness = _choice(rng, ROUNDNESS_WEIGHTS)
        q = float(rng.uniform(*ROUNDNESS_AXIS_RATIO[roundness]))
        n_range = CIGAR_SERSIC_INDEX if roundness == "cigar-shaped" else SMOOTH_SERSIC_INDEX
        n = float(rng.uniform(*n_range))
        structure["roundness"] = roundness
    elif kind == "edge_on":
        q = float(rng.uniform(*EDGE_ON_AXIS_RATIO))
        n = 1.0
        bulge = _choice(rng, EDGE_ON_BULGE_WEIGHTS)
        bulge_to_total = float(rng.uniform(*EDGE_ON_BULGE_TO_TOTAL[bulge]))
        structure["edge_on_bulge"] = bulge
    else:
        q = float(rng.uniform(*DISC_AXIS_RATIO))
        n = 1.0
        irregular = odd == "irregular"
        # Irregulars have little or no bulge.
        bulge_weights = {k: w for k, w in DISC_BULGE_WEIGHTS.items()
                         if not irregular or k in ("no bulge", "just noticeable")}
        bulge_to_total = float(rng.uniform(*DISC_BULGE_TO_TOTAL[_choice(rng, bulge_weights)]))
        structure["bar"] = bool(rng.random() < DISC_BAR_PROBABILITY) and not irregular
        if rng.random() < DISC_SPIRAL_PROBABILITY and not irregular:
            structure["arm_count"] = int(_choice(rng, ARM_COUNT_WEIGHTS))
            structure["arm_pitch"] = float(rng.uniform(*PITCH_ANGLE_RANGES[int(rng.integers(len(PITCH_ANGLE_RANGES)))]))
            structure["arm_strength"] = float(rng.uniform(*ARM_STRENGTH))
    if bulge_to_total > 0:
        structure["bulge_radius"] = re * float(rng.uniform(*BULGE_RADIUS_FRACTION))
        structure["bulge_sersic_index"] = float(rng.uniform(*BULGE_SERSIC_INDEX))
    flux = _main_flux(sb, re, q) / (1.0 - bulge_to_total)
    return Morphology(kind=kind, half_light_radius=re, surface_brightness=sb, flux=flux, axis_ratio=q,
                      sersic_index=n, bulge_to_total=bulge_to_total, odd=odd, **structure, **conditions)


# --- Volunteers -----------------------------------------------------------------------------------

def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _soft_bins(value: float, boundaries: tuple[float, ...], softness: float) -> np.ndarray:
    """Probabilities of the bins between increasing boundaries, blurred by ``softness`` at each boundary."""
    above = np.array([1.0] + [_sigmoid((value - b) / softness) for b in boundaries] + [0.0])
    return above[:-1] - above[1:]


def _mix_with_prior(number: int, true_index: int) -> np.ndarray:
    """The true answer with TRUE_ANSWER_SHARE, the rest spread like a confused volunteer's answers."""
    p = (1.0 - TRUE_ANSWER_SHARE) * np.asarray(CONFUSED[number])
    p[true_index] += TRUE_ANSWER_SHARE
    return p


def _yes_no(p_yes: float) -> np.ndarray:
    return np.array([p_yes, 1.0 - p_yes])


def _truth(m: Morphology) -> dict[int, np.ndarray]:
    """Answer probabilities of a volunteer who sees the image perfectly, per question number.

    Questions off the galaxy's true path still get an answer distribution, because confused volunteers
    reach them too (a smooth galaxy called "features" gets an edge-on answer, and so on).
    """
    q_app = m.apparent_axis_ratio
    elongation = _sigmoid((CIGAR_AXIS_RATIO - q_app) / AXIS_RATIO_SOFTNESS)
    if m.kind == "smooth":
        features = SMOOTH_FEATURES[0] + SMOOTH_FEATURES[1] * elongation
        q1 = np.array([1.0 - features - GALAXY_STAR_ANSWER, features, GALAXY_STAR_ANSWER])
    elif m.kind == "disc":
        w = DISC_FEATURE_WEIGHTS
        strength = (w["disc"] * (1.0 - m.bulge_to_total) + w["arms"] * m.arm_strength + w["bar"] * m.bar
                    + w["odd"] * (m.odd in ("irregular", "disturbed", "ring")))
        features = DISC_FEATURES[0] + DISC_FEATURES[1] * min(strength, 1.0)
        q1 = np.array([1.0 - features - GALAXY_STAR_ANSWER, features, GALAXY_STAR_ANSWER])
    else:
        q1 = np.asarray(IDEAL_Q1[m.kind])

    if m.kind == "edge_on":
        q2 = _yes_no(EDGE_ON_YES)
    elif m.kind in ("disc", "smooth"):
        base, gain = INCLINED_DISC_EDGE_ON_YES if m.kind == "disc" else SMOOTH_EDGE_ON_YES
        q2 = _yes_no(base + gain * elongation)
    else:
        q2 = _yes_no(OTHER_EDGE_ON_YES)

    q3 = _yes_no(BAR_YES if m.bar else UNBARRED_BAR_YES)
    q4 = _yes_no(SPIRAL_YES[0] + SPIRAL_YES[1] * m.arm_strength if m.arm_count else ARMLESS_SPIRAL_YES)
    if m.kind == "smooth":
        q5 = np.asarray(SMOOTH_BULGE)
    else:
        q5 = _soft_bins(math.log10(m.bulge_to_total + BULGE_LOG_FLOOR),
                        tuple(math.log10(b + BULGE_LOG_FLOOR) for b in BULGE_BOUNDARIES), LOG_BULGE_SOFTNESS)

    if m.odd:
        q6 = _yes_no(ODD_SALIENCE[m.odd])
        q8 = _mix_with_prior(8, question(8).answers.index(m.odd))
    elif m.is_galaxy:
        q6 = _yes_no(NORMAL_GALAXY_ODD_YES)
        q8 = np.asarray(CONFUSED[8])
    else:
        # What is odd about a star or a trail is "other".
        q6 = _yes_no(STAR_ODD_YES[m.kind])
        q8 = _mix_with_prior(8, question(8).answers.index("other"))

    q7 = _soft_bins(q_app, (CIGAR_AXIS_RATIO, ROUND_AXIS_RATIO), AXIS_RATIO_SOFTNESS)[::-1]
    if m.kind == "edge_on":
        q9 = _mix_with_prior(9, question(9).answers.index(m.edge_on_bulge))
    else:
        has_bulge = m.kind == "smooth" or m.bulge_to_total > BULGE_BOUNDARIES[0]
        q9 = _mix_with_prior(9, question(9).answers.index("rounded" if has_bulge else "no bulge"))

    if m.arm_count:
        q10 = _soft_bins(m.arm_pitch, PITCH_BOUNDARIES, PITCH_SOFTNESS)
        q11 = _mix_with_prior(11, min(m.arm_count, len(question(11).answers) - 1) - 1)
    else:
        q10 = np.asarray(CONFUSED[10])
        q11 = _mix_with_prior(11, question(11).answers.index("can't tell"))
    return {1: q1, 2: q2, 3: q3, 4: q4, 5: q5, 6: q6, 7: q7, 8: q8, 9: q9, 10: q10, 11: q11}


#: Questions whose answer hinges on fine structure rather than the global shape.
DETAIL_QUESTIONS = frozenset({3, 4, 9, 10, 11})


def simulate_votes(morphology: Morphology, rng: np.random.Generator, n_volunteers: int) -> np.ndarray:
    """Cumulative vote fractions (37,) of ``n_volunteers`` volunteers walking the decision tree.

    Every volunteer answers Q1; smooth goes to Q7; features to Q2, then Q9 (edge-on) or Q3, Q4,
    (Q10, Q11 if spiral), Q5; everyone answers Q6 and, if odd, Q8. Each value is the number of volunteers
    giving that answer over all volunteers, so the rows obey the tree exactly (integer counts).
    """
    if isinstance(n_volunteers, bool) or not isinstance(n_volunteers, (int, np.integer)) or n_volunteers < 1:
        raise ConfigError(f"n_volunteers must be a positive integer, got {n_volunteers!r}")
    truth = _truth(morphology)
    skill = rng.beta(*SKILL_BETA, size=n_volunteers)
    answers: dict[int, np.ndarray] = {}
    for number in sorted(truth):
        weight = skill * (morphology.detail if number in DETAIL_QUESTIONS else morphology.clarity)
        p = weight[:, None] * truth[number] + (1.0 - weight[:, None]) * np.asarray(CONFUSED[number])
        cumulative = np.cumsum(p, axis=1)
        answers[number] = (rng.random(n_volunteers)[:, None] * cumulative[:, -1:] > cumulative[:, :-1]).sum(axis=1)

    everyone = np.ones(n_volunteers, dtype=bool)
    features = answers[1] == 1
    face_on = features & (answers[2] == 1)
    spiral = face_on & (answers[4] == 0)
    reached = {1: everyone, 2: features, 3: face_on, 4: face_on, 5: face_on, 6: everyone, 7: answers[1] == 0,
               8: answers[6] == 0, 9: features & (answers[2] == 0), 10: spiral, 11: spiral}
    votes = np.zeros(N_ANSWERS)
    for number, who in reached.items():
        counts = np.bincount(answers[number][who], minlength=len(question(number).answers))
        votes[question_slice(question(number))] = counts / n_volunteers
    return votes


# --- The dataset ------------------------------------------------------------------------------------

def _item_rngs(seed: int, index: int) -> tuple[np.random.Generator, ...]:
    """Independent streams for morphology, votes and pixels of one image, whatever process renders it."""
    children = np.random.SeedSequence(seed, spawn_key=(index,)).spawn(3)
    return tuple(np.random.default_rng(child) for child in children)


def _make_item(task: tuple[int, int, int, int, str]) -> tuple[dict, np.ndarray]:
    """Draw, vote on, render and write one image; runs in a worker process."""
    seed, index, image_size, jpeg_quality, images_dir = task
    morphology_rng, votes_rng, render_rng = _item_rngs(seed, index)
    morphology = draw_morphology(morphology_rng)
    n_volunteers = int(votes_rng.integers(VOLUNTEERS[0], VOLUNTEERS[1] + 1))
    votes = simulate_votes(morphology, votes_rng, n_volunteers)
    pixels = render_galaxy(morphology, render_rng, image_size=image_size)
    galaxy_id = FIRST_GALAXY_ID + index
    Image.fromarray(pixels).save(Path(images_dir) / f"{galaxy_id}.jpg", "JPEG", quality=jpeg_quality)
    return _morphology_row(galaxy_id, morphology, n_volunteers, image_size / REFERENCE_SIZE), votes


#: Morphology fields measured in reference pixels: rescaled to the written image size.
_LENGTH_FIELDS = ("half_light_radius", "bulge_radius", "seeing_fwhm", "visible_diameter")
#: Units appended to column names in morphology.csv, so the file explains itself.
_UNIT_SUFFIXES = {**{name: "_px" for name in _LENGTH_FIELDS}, "position_angle": "_deg", "arm_pitch": "_deg"}


def _morphology_row(galaxy_id: int, m: Morphology, n_volunteers: int, pixel_scale: float) -> dict:
    row = {**asdict(m), "visible_diameter": m.visible_diameter, "apparent_axis_ratio": m.apparent_axis_ratio,
           "magnitude": m.magnitude, "clarity": m.clarity, "detail": m.detail, "n_volunteers": n_volunteers}
    for name in _LENGTH_FIELDS:
        row[name] *= pixel_scale
    row["position_angle"] = math.degrees(m.position_angle)
    return {"GalaxyID": galaxy_id, **{name + _UNIT_SUFFIXES.get(name, ""): value for name, value in row.items()}}


def _validate(out_dir, n_images, seed, workers, image_size, jpeg_quality) -> None:
    def is_int(value) -> bool:
        return isinstance(value, (int, np.integer)) and not isinstance(value, bool)

    if not isinstance(out_dir, (str, os.PathLike)):
        raise ConfigError(f"out_dir must be a path, got {out_dir!r}")
    if not is_int(n_images) or n_images < 1:
        raise ConfigError(f"n_images must be an integer >= 1, got {n_images!r}")
    if not is_int(seed) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    if workers is not None and (not is_int(workers) or workers < 1):
        raise ConfigError(f"workers must be None (all CPU cores) or an integer >= 1, got {workers!r}")
    if not is_int(image_size) or image_size < MIN_IMAGE_SIZE:
        raise ConfigError(f"image_size must be an integer >= {MIN_IMAGE_SIZE}, got {image_size!r}")
    if not is_int(jpeg_quality) or not 1 <= jpeg_quality <= 95:
        raise ConfigError(f"jpeg_quality must be an integer in 1..95, got {jpeg_quality!r}")


def generate_dataset(out_dir: Path, n_images: int, seed: int, *, workers: int | None = None,
                     image_size: int = REFERENCE_SIZE, jpeg_quality: int = 85, progress: bool = True) -> Path:
    """Write ``n_images`` synthetic galaxies in the common raw layout and return ``out_dir``.

    Layout: ``images/<GalaxyID>.jpg``, ``morphology.csv`` (latent truth, for diagnostics) and
    ``labels.csv`` (GalaxyID + the 37 Kaggle columns). Like the real sources, everything is written into a
    staging folder beside ``out_dir`` that replaces it in one rename when complete
    (:func:`galzoo.sources.archive.staged_directory`): a failed or interrupted run leaves the previous output,
    or nothing, never a partial folder. Image i depends only on (seed, i): the output is the same for any
    number of workers, and labels do not depend on ``image_size``.
    """
    _validate(out_dir, n_images, seed, workers, image_size, jpeg_quality)
    out_dir = Path(out_dir)
    workers = (os.cpu_count() or 1) if workers is None else workers
    workers = min(workers, n_images)
    with staged_directory(out_dir) as staging:
        images_dir = staging / "images"
        images_dir.mkdir()
        tasks = [(seed, i, image_size, jpeg_quality, str(images_dir)) for i in range(n_images)]
        bar = partial(progress_bar, total=n_images, desc="synthetic galaxies", unit="img", enabled=progress)
        if workers == 1:
            results = list(bar(map(_make_item, tasks)))
        else:
            # Small chunks keep the progress bar live; results come back in index order.
            chunksize = max(1, min(16, n_images // (8 * workers)))
            with multiprocessing.Pool(workers) as pool:
                results = list(bar(pool.imap(_make_item, tasks, chunksize=chunksize)))

        rows = [row for row, _ in results]
        pd.DataFrame(rows).to_csv(staging / "morphology.csv", index=False, float_format="%.6g")
        labels = pd.DataFrame(np.stack([votes for _, votes in results]), columns=list(ANSWER_COLUMNS))
        labels.insert(0, "GalaxyID", [row["GalaxyID"] for row in rows])
        labels.to_csv(staging / "labels.csv", index=False, float_format=LABEL_FLOAT_FORMAT)
    return out_dir
