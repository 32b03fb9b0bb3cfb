"""Batched augmentation on tensors, on the GPU or the CPU: every sample draws its own transform, from the same
distributions as the per-sample CPU paths (albumentations in ``augment.py``, ``MultiScaleCrops`` in
``multiscale.py``), in a handful of tensor operations per batch instead of one Python/OpenCV call per image.

An augmenter is two steps: ``draw(n, generator)`` draws the random parameters of ``n`` samples (on the
generator's device), ``apply(images, params)`` transforms a batch of uint8 ``N x H x W x 3`` images with
them into float ``N x 3 x h x w`` model inputs. Drawing for whole global batches and applying each process's
share is how data-parallel processes augment exactly as one process would (``device_data.DeviceBatches``).

Geometry. The albumentations recipes (rotation about the centre, integer shifts, flips) are one 2x3 affine
matrix per sample, applied by ``affine_grid`` + ``grid_sample`` with ``align_corners=True``: normalised -1
and 1 are then the centres of the edge pixels, so ``reflection`` padding mirrors about them as OpenCV's
BORDER_REFLECT_101 does, ``border`` padding repeats the edge pixel as BORDER_REPLICATE, and ``zeros`` is
BORDER_CONSTANT with 0. The matrix is albumentations' own (``create_affine_transformation_matrix``: rotation
``[[cos, sin], [-sin, cos]]`` about ``((W-1)/2, (H-1)/2)``, then the shift), inverted, and the flips, which
albumentations applies after the warp, are folded into it. Dai & Tong's centre crop + resize + random crop
is linear in the pixels: one matrix per image side holding OpenCV's INTER_AREA (or INTER_LINEAR) weights,
applied as two matrix products. Rotations by k x 90 degrees and flips are exact index operations.

Like the CPU paths, warped and resized images are rounded to whole 0-255 levels, halves up (OpenCV returns
uint8), and Keras' brightness factor truncates as albumentations' uint8 lookup table does.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from galzoo.config import AugmentParams, CnnComparisonAugmentParams, KerasAugmentParams

Params = dict[str, torch.Tensor]

PADDING_MODES = {"reflect": "reflection", "nearest": "border", "constant": "zeros"}
"""``params.yaml`` border names -> grid_sample padding (see the module docstring for the OpenCV match)."""

LUMA = (0.299, 0.587, 0.114)
"""Rec. 601 luma weights, as ``multiscale.LUMA``: the grey that saturation jitter blends towards."""


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator, device=generator.device)


def _integers(n: int, low: int, high: int, generator: torch.Generator) -> torch.Tensor:
    """Uniform integers in [low, high], both included (as Python's ``random.randint``)."""
    return torch.randint(low, high + 1, (n,), generator=generator, device=generator.device)


def _bernoulli(n: int, p: float, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=generator, device=generator.device) < p


def round_half_up(x: torch.Tensor) -> torch.Tensor:
    """To whole 0-255 levels as OpenCV's fixed-point uint8 output rounds: halves up."""
    return torch.floor(x + 0.5)


def to_float_nchw(images: torch.Tensor) -> torch.Tensor:
    """uint8 ``N x H x W x 3`` -> float32 ``N x 3 x H x W`` (a channels-last view, no copy of the layout)."""
    return images.permute(0, 3, 1, 2).float()


class Standardise:
    """``(x - mean) / std`` per channel on 0-255 values: the scale study's and EfficientNet study's inputs."""

    def __init__(self, mean, std, device: torch.device | str):
        self.mean = torch.as_tensor(np.asarray(mean, np.float32), device=device).view(1, 3, 1, 1)
        self.std = torch.as_tensor(np.asarray(std, np.float32), device=device).view(1, 3, 1, 1)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class AffineAugment:
    """Albumentations' ``Affine`` (uniform angle, shifts) + ``HorizontalFlip`` + ``VerticalFlip`` (+ Keras'
    per-image brightness factor), then per-channel standardisation, for a batch at once.

    ``shift_px`` draws integer shifts in ``[-shift_px, shift_px]`` (albumentations' ``translate_px``);
    ``shift_fraction`` draws ``trunc(u * side)`` with ``u`` uniform in ``[-shift_fraction, shift_fraction]``
    (its ``translate_percent``, which truncates to whole pixels).
    """

    def __init__(self, *, rotation: tuple[float, float], shift_px: int | None = None,
                 shift_fraction: float | None = None, hflip_p: float, vflip_p: float, border: str,
                 brightness: tuple[float, float] | None = None, standardise: Standardise):
        if (shift_px is None) == (shift_fraction is None):
            raise ValueError("give exactly one of shift_px and shift_fraction")
        self.rotation, self.shift_px, self.shift_fraction = rotation, shift_px, shift_fraction
        self.hflip_p, self.vflip_p, self.padding = hflip_p, vflip_p, PADDING_MODES[border]
        self.brightness, self.standardise = brightness, standardise

    @classmethod
    def scale_study(cls, params: AugmentParams, mean, std, device) -> "AffineAugment":
        """As ``augment.scale_study_augmentation``: a uniform angle in ±rotation_deg/2, integer shifts."""
        half = params.rotation_deg / 2
        return cls(rotation=(-half, half), shift_px=params.shift_px, hflip_p=params.hflip_p,
                   vflip_p=params.vflip_p, border=params.border, standardise=Standardise(mean, std, device))

    @classmethod
    def keras(cls, params: KerasAugmentParams, mean, std, device) -> "AffineAugment":
        """As ``augment.keras_augmentation``: a uniform angle in ±rotation_deg, shifts of a fraction of the
        side, both flips, brightness times a factor per image."""
        return cls(rotation=(-params.rotation_deg, params.rotation_deg), shift_fraction=params.shift,
                   hflip_p=params.hflip_p, vflip_p=params.vflip_p, border=params.border,
                   brightness=tuple(params.brightness), standardise=Standardise(mean, std, device))

    def draw(self, n: int, generator: torch.Generator, *, height: int, width: int) -> Params:
        params = {"angle": _uniform(n, *self.rotation, generator)}
        if self.shift_px is not None:
            params["dx"] = _integers(n, -self.shift_px, self.shift_px, generator).float()
            params["dy"] = _integers(n, -self.shift_px, self.shift_px, generator).float()
        else:
            params["dx"] = torch.trunc(_uniform(n, -self.shift_fraction, self.shift_fraction, generator) * width)
            params["dy"] = torch.trunc(_uniform(n, -self.shift_fraction, self.shift_fraction, generator) * height)
        params["hflip"] = _bernoulli(n, self.hflip_p, generator)
        params["vflip"] = _bernoulli(n, self.vflip_p, generator)
        if self.brightness is not None:
            params["brightness"] = _uniform(n, *self.brightness, generator)
        return params

    def sampling_matrices(self, params: Params, height: int, width: int) -> torch.Tensor:
        """``N x 2 x 3``: for each output pixel (normalised, flipped coordinates), where to sample the input.

        Albumentations maps input to output as ``dst - c = R (src - c) + t``; the output is then flipped,
        ``dst = c + Flip (out - c)``. So ``src - c = R^-1 (Flip (out - c) - t)``, and in normalised
        coordinates (``u = (p - c) / half``, ``half = ((W-1)/2, (H-1)/2)``) the matrix is
        ``[half^-1 R^-1 Flip half | -half^-1 R^-1 t]``.
        """
        radians = torch.deg2rad(params["angle"].float())
        cos, sin = torch.cos(radians), torch.sin(radians)
        inverse = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)  # R^-1 = R^T
        half = torch.tensor([(width - 1) / 2, (height - 1) / 2], device=radians.device)
        flip = torch.stack([torch.where(params["hflip"], -1.0, 1.0), torch.where(params["vflip"], -1.0, 1.0)], -1)
        linear = inverse * (flip * half)[:, None, :] / half[None, :, None]
        shift = torch.stack([params["dx"], params["dy"]], -1).float()
        offset = -(inverse @ shift[..., None])[..., 0] / half
        return torch.cat([linear, offset[..., None]], dim=-1)

    def warp(self, images: torch.Tensor, params: Params) -> torch.Tensor:
        """The geometric part on uint8 ``N x H x W x 3``: float ``N x 3 x H x W`` on the 0-255 scale."""
        n, height, width, _ = images.shape
        x = to_float_nchw(images)
        theta = self.sampling_matrices(params, height, width)
        grid = F.affine_grid(theta, [n, 3, height, width], align_corners=True)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode=self.padding, align_corners=True)
        x = round_half_up(x).clamp_(0, 255)  # OpenCV's warp returns uint8
        if self.brightness is not None:  # albumentations' uint8 lookup table: float32 product, truncated
            x = torch.floor(x * params["brightness"].view(-1, 1, 1, 1)).clamp_(0, 255)
        return x

    def apply(self, images: torch.Tensor, params: Params) -> torch.Tensor:
        return self.standardise(self.warp(images, params))

    def plain(self, images: torch.Tensor) -> torch.Tensor:
        """No augmentation, standardised: validation and test inputs."""
        return self.standardise(to_float_nchw(images))


# --------------------------------------------------------------------------- Dai & Tong's multi-scale views

def area_weights(source: int, size: int) -> np.ndarray:
    """``size x source``: OpenCV's INTER_AREA shrink of ``source`` pixels to ``size`` (computeResizeAreaTab):
    each output pixel averages the source interval it covers, edge pixels weighted by their covered part."""
    scale = source / size
    weights = np.zeros((size, source))
    for out in range(size):
        start, end = out * scale, out * scale + scale
        cell = min(scale, source - start)
        first, last = math.ceil(start), min(math.floor(end), source - 1)
        first = min(first, last)
        if first - start > 1e-3:
            weights[out, first - 1] = (first - start) / cell
        weights[out, first:last] = 1.0 / cell
        if end - last > 1e-3:
            weights[out, last] = min(min(end - last, 1.0), cell) / cell
    return weights


def linear_weights(source: int, size: int) -> np.ndarray:
    """``size x source``: OpenCV's INTER_LINEAR resize (half-pixel centres, edge pixels repeated)."""
    scale = source / size
    weights = np.zeros((size, source))
    for out in range(size):
        position = (out + 0.5) * scale - 0.5
        left = math.floor(position)
        fraction = position - left
        if left < 0:
            left, fraction = 0, 0.0
        if left >= source - 1:
            left, fraction = source - 1, 0.0
        weights[out, left] += 1 - fraction
        if fraction:
            weights[out, left + 1] += fraction
    return weights


def crop_resize_matrix(store_size: int, side: int, size: int) -> np.ndarray:
    """``size x store_size``: the centred ``side`` square of a ``store_size`` row (``centre_crop``'s offset)
    resized to ``size`` as ``MultiScaleCrops._crop_resize`` does (INTER_AREA to shrink, INTER_LINEAR to
    enlarge)."""
    offset = (store_size - side) // 2
    weights = area_weights(side, size) if side >= size else linear_weights(side, size)
    matrix = np.zeros((size, store_size))
    matrix[:, offset:offset + side] = weights
    return matrix


@dataclass(frozen=True)
class _D4:
    """A k x 90 degree rotation followed by an optional left-right flip, as transpose / row flip / column
    flip applied in that order (``numpy.rot90`` rotates from the row axis towards the column axis)."""

    transpose: bool
    flip_rows: bool
    flip_columns: bool


def _d4_table() -> list[_D4]:
    """Entry ``2 * k + hflip`` for ``np.rot90(image, k)`` then ``image[:, ::-1]`` if ``hflip``."""
    rotations = [_D4(False, False, False), _D4(True, True, False), _D4(False, True, True), _D4(True, False, True)]
    return [_D4(r.transpose, r.flip_rows, r.flip_columns != bool(h)) for r in rotations for h in (0, 1)]


D4_TABLE = _d4_table()


def rgb_to_hsv(rgb: torch.Tensor) -> torch.Tensor:
    """``N x 3 x H x W`` RGB in [0, 1] -> HSV with hue in degrees [0, 360), as OpenCV's float conversion."""
    r, g, b = rgb.unbind(1)
    value, _ = rgb.max(1)
    low, _ = rgb.min(1)
    spread = value - low
    saturation = spread / (value.abs() + torch.finfo(rgb.dtype).eps)
    scale = 60.0 / (spread + torch.finfo(rgb.dtype).eps)
    hue = torch.where(value == r, (g - b) * scale,
                      torch.where(value == g, (b - r) * scale + 120.0, (r - g) * scale + 240.0))
    hue = torch.where(hue < 0, hue + 360.0, hue)
    return torch.stack([hue, saturation, value], 1)


def hsv_to_rgb(hsv: torch.Tensor) -> torch.Tensor:
    """Inverse of ``rgb_to_hsv`` (OpenCV's sector formula)."""
    hue, saturation, value = hsv.unbind(1)
    h = torch.remainder(hue / 60.0, 6.0)
    sector = torch.floor(h)
    fraction = h - sector
    p = value * (1 - saturation)
    q = value * (1 - saturation * fraction)
    t = value * (1 - saturation * (1 - fraction))
    sector = sector.long().clamp_(0, 5)
    choices = torch.stack([
        torch.stack([value, t, p], 1), torch.stack([q, value, p], 1), torch.stack([p, value, t], 1),
        torch.stack([p, q, value], 1), torch.stack([t, p, value], 1), torch.stack([value, p, q], 1),
    ], 0)  # 6 x N x 3 x H x W
    index = sector[None, :, None].expand(1, -1, 3, -1, -1)
    return choices.gather(0, index)[0]


class MultiScaleAugment:
    """``MultiScaleCrops.train_view`` for a batch: centre crop of random side S, resize, random crop,
    k x 90 degree rotation, horizontal flip, colour jitter, per-image whitening."""

    def __init__(self, params: CnnComparisonAugmentParams, *, source_side: int, store_size: int,
                 device: torch.device | str):
        self.params, self.source_side, self.store_size = params, source_side, store_size
        low, high = params.train_sides
        self.low_side = low
        sides = range(low, high + 1)
        # the stored side of each original side S, rounded as MultiScaleCrops._crop_resize rounds it
        stored = [max(1, min(store_size, round(side * store_size / source_side))) for side in sides]
        matrices = np.stack([crop_resize_matrix(store_size, s, params.resize) for s in stored])
        self.matrices = torch.as_tensor(matrices, dtype=torch.float32, device=device)  # sides x resize x store
        self.luma = torch.tensor(LUMA, device=device).view(1, 3, 1, 1)
        self.d4 = torch.tensor([[e.transpose, e.flip_rows, e.flip_columns] for e in D4_TABLE], device=device)

    def draw(self, n: int, generator: torch.Generator, **_) -> Params:
        p = self.params
        low, high = p.train_sides
        margin = p.resize - p.input_size
        draws = {
            "side": _integers(n, low, high, generator),
            "top": _integers(n, 0, margin, generator),
            "left": _integers(n, 0, margin, generator),
            "k": _integers(n, 0, 3, generator) if p.rotate90 else torch.zeros(n, dtype=torch.long,
                                                                            device=generator.device),
            "hflip": _bernoulli(n, p.hflip_p, generator),
            "brightness": _uniform(n, -p.brightness, p.brightness, generator),
            "saturation": _uniform(n, *p.saturation, generator),
            "hue": _uniform(n, -p.hue, p.hue, generator),
            "contrast": _uniform(n, *p.contrast, generator),
        }
        return draws

    def crop(self, images: torch.Tensor, params: Params) -> torch.Tensor:
        """Centre crop of side S, resize to ``resize``, the random ``input_size`` crop: float ``N x 3 x s x s``
        in [0, 1], rounded to 0-255 levels after the resize as OpenCV's uint8 resize is."""
        size = self.params.input_size
        matrices = self.matrices[params["side"] - self.low_side]  # N x resize x store
        span = torch.arange(size, device=matrices.device)
        rows = matrices.gather(1, (params["top"][:, None] + span)[..., None].expand(-1, -1, self.store_size))
        cols = matrices.gather(1, (params["left"][:, None] + span)[..., None].expand(-1, -1, self.store_size))
        x = to_float_nchw(images)
        x = rows[:, None] @ x @ cols[:, None].transpose(-1, -2)
        return round_half_up(x).clamp_(0, 255) / 255.0

    def orient(self, x: torch.Tensor, params: Params) -> torch.Tensor:
        """The k x 90 degree rotation and the flip, as exact index operations."""
        ops = self.d4[2 * params["k"] + params["hflip"].long()]  # N x (transpose, flip rows, flip columns)
        x = torch.where(ops[:, 0].view(-1, 1, 1, 1), x.transpose(-1, -2), x)
        x = torch.where(ops[:, 1].view(-1, 1, 1, 1), x.flip(-2), x)
        return torch.where(ops[:, 2].view(-1, 1, 1, 1), x.flip(-1), x)

    def colour_jitter(self, x: torch.Tensor, params: Params) -> torch.Tensor:
        """``multiscale.colour_jitter`` for a batch: brightness, saturation, hue, contrast, clipped to [0, 1]."""
        x = x + params["brightness"].view(-1, 1, 1, 1)
        grey = (x * self.luma).sum(1, keepdim=True)
        x = grey + params["saturation"].view(-1, 1, 1, 1) * (x - grey)
        if self.params.hue > 0:
            hsv = rgb_to_hsv(x.clamp(0, 1))
            hue = torch.remainder(hsv[:, 0] + 360.0 * params["hue"].view(-1, 1, 1), 360.0)
            x = hsv_to_rgb(torch.stack([hue, hsv[:, 1], hsv[:, 2]], 1))
        mean = x.mean(dim=(2, 3), keepdim=True)
        x = mean + params["contrast"].view(-1, 1, 1, 1) * (x - mean)
        return x.clamp(0, 1)

    def apply(self, images: torch.Tensor, params: Params) -> torch.Tensor:
        x = self.orient(self.crop(images, params), params)
        return whiten(self.colour_jitter(x, params))


def whiten(x: torch.Tensor) -> torch.Tensor:
    """``multiscale.whiten`` per image of a batch: zero mean, unit (population) std, std floored at
    ``1/sqrt(n)``."""
    flat = x.flatten(1)
    mean = flat.mean(1)
    std = flat.std(1, correction=0).clamp_min(1.0 / math.sqrt(flat.shape[1]))
    return (x - mean.view(-1, 1, 1, 1)) / std.view(-1, 1, 1, 1)
