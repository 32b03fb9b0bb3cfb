"""The batched augmentation of the device path draws the same transforms as the per-sample CPU paths.

Two kinds of evidence: for the same parameters the batched transform gives the CPU path's image (OpenCV's
warp, resize and colour conversions, MultiScaleCrops.train_view), and over many random draws the two paths'
transforms, recovered from the images of a known test pattern (or recorded from the CPU path's random
generator), have the same distributions (Kolmogorov-Smirnov and chi-square tests at alpha = 0.001 on
1,000-2,000 draws: deterministic seeds, so a pass is not luck of the day).
"""
import cv2
import numpy as np
import pytest
import torch
from albumentations.augmentations.geometric import functional as albumentations_geometry
from scipy import stats

from galzoo.config import load_params
from galzoo.training import batch_augment as B
from galzoo.training.augment import BORDER_MODES, keras_augmentation, scale_study_augmentation
from galzoo.training.multiscale import MultiScaleCrops, colour_jitter, whiten
from tests.conftest import REPO_ROOT, stored_galaxy

PARAMS = load_params(REPO_ROOT / "params.yaml")
DRAWS = 2000
ALPHA = 1e-3
IDENTITY = B.Standardise([0.0, 0.0, 0.0], [1.0, 1.0, 1.0], "cpu")


def smooth_image(size: int = 64) -> np.ndarray:
    y, x = np.mgrid[:size, :size]
    return np.stack([128 + 100 * np.sin(x / 5 + y / 9), 128 + 100 * np.cos(y / 4), 60 + 50 * np.sin((x - y) / 7)],
                    -1).astype(np.uint8)


# --- same parameters, same image ---------------------------------------------------------------------------

@pytest.mark.parametrize("border", ["reflect", "nearest", "constant"])
def test_the_affine_warp_is_opencvs_warp_of_the_albumentations_matrix_then_the_flips(border):
    augment = B.AffineAugment(rotation=(-180, 180), shift_px=12, hflip_p=0.5, vflip_p=0.5, border=border,
                              standardise=IDENTITY)
    image = smooth_image()
    for angle, dx, dy, hflip, vflip in [(30.0, 5, -7, False, False), (-123.4, -12, 3, True, False),
                                        (77.0, 0, 0, False, True), (179.0, 4, 4, True, True)]:
        matrix = albumentations_geometry.create_affine_transformation_matrix(
            {"x": dx, "y": dy}, {"x": 0, "y": 0}, {"x": 1, "y": 1}, angle, albumentations_geometry.center((64, 64)))
        expected = cv2.warpAffine(image, matrix[:2], (64, 64), flags=cv2.INTER_LINEAR,
                                  borderMode=BORDER_MODES[border], borderValue=(0, 0, 0))
        expected = expected[:, ::-1] if hflip else expected
        expected = expected[::-1] if vflip else expected
        params = {"angle": torch.tensor([angle]), "dx": torch.tensor([float(dx)]), "dy": torch.tensor([float(dy)]),
                  "hflip": torch.tensor([hflip]), "vflip": torch.tensor([vflip])}
        out = augment.warp(torch.from_numpy(image)[None], params)[0].permute(1, 2, 0).numpy()
        difference = np.abs(out - expected)
        assert difference.max() <= 1 and difference.mean() < 0.01  # OpenCV interpolates in 1/32 px steps


def resized(image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``matrix @ channel @ matrix.T`` for each channel of an H x W x 3 image."""
    return np.stack([matrix @ image[..., c].astype(np.float64) @ matrix.T for c in range(3)], -1)


@pytest.mark.parametrize("side", [85, 86, 99, 120, 160, 240])
def test_the_crop_resize_matrix_holds_opencvs_inter_area_weights(side):
    stored = np.random.default_rng(side).integers(0, 256, (240, 240, 3), dtype=np.uint8)
    offset = (240 - side) // 2
    expected = cv2.resize(np.ascontiguousarray(stored[offset:offset + side, offset:offset + side]), (80, 80),
                          interpolation=cv2.INTER_AREA)
    out = np.floor(resized(stored, B.crop_resize_matrix(240, side, 80)) + 0.5)  # OpenCV rounds halves up
    assert np.array_equal(out, expected)


def test_enlarging_uses_opencvs_bilinear_weights():
    stored = np.random.default_rng(0).integers(0, 256, (120, 120, 3), dtype=np.uint8)
    expected = cv2.resize(np.ascontiguousarray(stored[41:78, 41:78]), (80, 80), interpolation=cv2.INTER_LINEAR)
    out = np.floor(resized(stored, B.crop_resize_matrix(120, 37, 80)) + 0.5)
    assert np.abs(out - expected).max() <= 1 and (out != expected).mean() < 0.2  # OpenCV's fixed-point weights


def test_hsv_conversions_match_opencvs_float_conversions():
    rgb = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    expected = np.stack([cv2.cvtColor(np.ascontiguousarray(image.permute(1, 2, 0).numpy()), cv2.COLOR_RGB2HSV)
                         for image in rgb])
    hsv = B.rgb_to_hsv(rgb)
    assert np.abs(hsv.permute(0, 2, 3, 1).numpy() - expected).max() < 1e-3  # degrees
    assert torch.allclose(B.hsv_to_rgb(hsv), rgb, atol=1e-5)


def test_the_d4_table_is_numpys_rot90_then_a_left_right_flip():
    image = np.arange(20).reshape(4, 5)
    for k in range(4):
        for hflip in (0, 1):
            expected = np.rot90(image, k)[:, ::-1] if hflip else np.rot90(image, k)
            op = B.D4_TABLE[2 * k + hflip]
            x = torch.from_numpy(image)
            x = x.T if op.transpose else x
            x = x.flip(0) if op.flip_rows else x
            x = x.flip(1) if op.flip_columns else x
            assert np.array_equal(x.numpy(), expected)


class Scripted:
    """A stand-in for numpy's Generator that returns given values, in the order train_view asks for them."""

    def __init__(self, values):
        self.values = list(values)

    def integers(self, *args, size=None):
        return self.values.pop(0)

    def random(self):
        return self.values.pop(0)

    def uniform(self, *args):
        return self.values.pop(0)


def test_a_multiscale_view_is_train_views_image_for_the_same_draws():
    settings = PARAMS.cnn_comparison.augment
    crops = MultiScaleCrops(settings, source_side=240, store_size=120)
    augment = B.MultiScaleAugment(settings, source_side=240, store_size=120, device="cpu")
    stored = stored_galaxy()
    cases = [(171, 3, 16, 1, 0.2, 0.1, 1.3, 0.15, 0.6), (240, 0, 0, 0, 0.9, -0.12, 0.5, -0.2, 1.5),
             (199, 16, 5, 3, 0.4, 0.0, 1.0, 0.05, 1.0), (170, 8, 8, 2, 0.7, 0.05, 0.8, -0.1, 1.2)]
    for side, top, left, k, flip_draw, brightness, saturation, hue, contrast in cases:
        expected = crops.train_view(stored, Scripted([side, (top, left), k, flip_draw, brightness, saturation,
                                                       hue, contrast]))
        params = {"side": torch.tensor([side]), "top": torch.tensor([top]), "left": torch.tensor([left]),
                  "k": torch.tensor([k]), "hflip": torch.tensor([flip_draw < settings.hflip_p]),
                  "brightness": torch.tensor([brightness]), "saturation": torch.tensor([saturation]),
                  "hue": torch.tensor([hue]), "contrast": torch.tensor([contrast])}
        out = augment.apply(torch.from_numpy(stored)[None], params)[0].permute(1, 2, 0).numpy()
        assert np.abs(out - expected).max() < 1e-3


def test_batched_colour_jitter_and_whitening_are_the_cpu_functions():
    settings = PARAMS.cnn_comparison.augment
    augment = B.MultiScaleAugment(settings, source_side=240, store_size=120, device="cpu")
    image = np.random.default_rng(1).uniform(0, 1, (64, 64, 3)).astype(np.float32)
    expected = whiten(colour_jitter(image, settings, Scripted([0.1, 1.4, -0.15, 0.7])))
    params = {"brightness": torch.tensor([0.1]), "saturation": torch.tensor([1.4]), "hue": torch.tensor([-0.15]),
              "contrast": torch.tensor([0.7])}
    out = B.whiten(augment.colour_jitter(torch.from_numpy(image).permute(2, 0, 1)[None], params))
    assert np.abs(out[0].permute(1, 2, 0).numpy() - expected).max() < 1e-4


# --- many random draws, same distributions -----------------------------------------------------------------

def blob_pattern(size: int = 64) -> np.ndarray:
    """Blue at the centre, red 8 px right of it, green 5 px below: the blue centroid gives the shift, the
    red offset the rotation, the sign of red x green whether the image was mirrored."""
    y, x = np.mgrid[:size, :size].astype(np.float64)
    c = (size - 1) / 2

    def blob(dx, dy):
        return np.exp(-((x - c - dx) ** 2 + (y - c - dy) ** 2) / (2 * 1.5**2))

    return np.clip(np.stack([blob(8, 0), blob(0, 5), blob(0, 0)], -1) * 255, 0, 255).astype(np.uint8)


def recovered_transforms(images: np.ndarray) -> dict[str, np.ndarray]:
    """Per image (``N x H x W x 3``, 0-255): shift of the blue blob, angle of the red one around it (degrees),
    whether the pattern is mirrored, and the total intensity relative to the pattern's."""
    n, size = images.shape[0], images.shape[1]
    y, x = np.mgrid[:size, :size]
    weights = images.astype(np.float64)
    mass = weights.sum(axis=(1, 2))
    cx = (weights * x[None, :, :, None]).sum(axis=(1, 2)) / mass
    cy = (weights * y[None, :, :, None]).sum(axis=(1, 2)) / mass
    red = np.stack([cx[:, 0] - cx[:, 2], cy[:, 0] - cy[:, 2]], 1)
    green = np.stack([cx[:, 1] - cx[:, 2], cy[:, 1] - cy[:, 2]], 1)
    centre = (size - 1) / 2
    return {"dx": cx[:, 2] - centre, "dy": cy[:, 2] - centre,
            "angle": np.degrees(np.arctan2(red[:, 1], red[:, 0])),
            "mirrored": (red[:, 0] * green[:, 1] - red[:, 1] * green[:, 0]) < 0,
            "brightness": mass.sum(1)}


def cpu_draws(pipeline, image: np.ndarray) -> np.ndarray:
    return np.stack([pipeline(image=image)["image"] for _ in range(DRAWS)])


def batched_draws(augment: B.AffineAugment, image: np.ndarray, seed: int = 1) -> np.ndarray:
    generator = torch.Generator().manual_seed(seed)
    images = torch.from_numpy(image)[None].expand(DRAWS, -1, -1, -1)
    params = augment.draw(DRAWS, generator, height=image.shape[0], width=image.shape[1])
    return augment.warp(images, params).permute(0, 2, 3, 1).numpy()


def assert_same_continuous(a: np.ndarray, b: np.ndarray, name: str) -> None:
    p = stats.ks_2samp(a, b).pvalue
    assert p > ALPHA, f"{name}: the two paths differ (KS p = {p:.2g})"


def assert_same_counts(a: np.ndarray, b: np.ndarray, name: str) -> None:
    values = np.union1d(a, b)
    table = np.array([[np.sum(a == v) for v in values], [np.sum(b == v) for v in values]])
    p = stats.chi2_contingency(table).pvalue
    assert p > ALPHA, f"{name}: the two paths differ (chi-square p = {p:.2g})"


def test_scale_study_transforms_have_albumentations_distribution():
    settings = PARAMS.scale_study.augment
    pattern = blob_pattern()
    cpu = recovered_transforms(cpu_draws(scale_study_augmentation(settings, seed=0), pattern))
    gpu = recovered_transforms(batched_draws(B.AffineAugment.scale_study(settings, [0] * 3, [1] * 3, "cpu"), pattern))
    assert_same_continuous(cpu["angle"], gpu["angle"], "rotation angle")
    assert_same_counts(cpu["mirrored"], gpu["mirrored"], "mirrored (one flip of two)")
    for axis in ("dx", "dy"):  # whole-pixel shifts in [-12, 12]
        assert_same_counts(np.round(cpu[axis]), np.round(gpu[axis]), f"shift {axis}")
    assert np.abs(np.round(gpu["dx"])).max() == settings.shift_px
    assert_same_continuous(cpu["brightness"], gpu["brightness"], "total intensity")


def test_reflected_corners_have_the_cpu_paths_pixel_statistics():
    """Rotated corners filled by reflection: a bright-edged image keeps its brightness; zeros would not."""
    settings = PARAMS.scale_study.augment
    image = smooth_image()
    cpu = cpu_draws(scale_study_augmentation(settings, seed=0), image).reshape(DRAWS, -1, 3)
    gpu = batched_draws(B.AffineAugment.scale_study(settings, [0] * 3, [1] * 3, "cpu"), image).reshape(DRAWS, -1, 3)
    for channel in range(3):
        assert_same_continuous(cpu[..., channel].mean(1), gpu[..., channel].mean(1), f"mean of channel {channel}")
        assert_same_continuous(cpu[..., channel].std(1), gpu[..., channel].std(1), f"std of channel {channel}")


def test_keras_transforms_have_albumentations_distribution():
    settings = PARAMS.efficientnet.augment
    pattern = blob_pattern()
    cpu = recovered_transforms(cpu_draws(keras_augmentation(settings, seed=0), pattern))
    gpu = recovered_transforms(batched_draws(B.AffineAugment.keras(settings, [0] * 3, [1] * 3, "cpu"), pattern))
    assert_same_continuous(cpu["angle"], gpu["angle"], "rotation angle (±90 degrees, with flips)")
    assert_same_counts(cpu["mirrored"], gpu["mirrored"], "mirrored")
    for axis in ("dx", "dy"):  # trunc(u x 64), u in ±0.1: whole pixels in [-6, 6], 0 twice as likely
        assert_same_counts(np.round(cpu[axis]), np.round(gpu[axis]), f"shift {axis}")
    assert_same_continuous(cpu["brightness"], gpu["brightness"], "brightness factor x total intensity")


@pytest.mark.parametrize("pipeline", ["scale_study", "keras"])
def test_the_cpu_path_mirrors_half_of_its_images(pipeline):
    # Compose(seed=...) alone gave both flips one seed each, the same one: they always agreed, and an image
    # was turned by 180 degrees but never mirrored (augment._one_stream).
    build = {"scale_study": (scale_study_augmentation, PARAMS.scale_study.augment),
             "keras": (keras_augmentation, PARAMS.efficientnet.augment)}[pipeline]
    cpu = recovered_transforms(cpu_draws(build[0](build[1], seed=0), blob_pattern()))
    assert 0.4 < cpu["mirrored"].mean() < 0.6


class Recording:
    """numpy's Generator, recording what MultiScaleCrops.train_view draws from it."""

    def __init__(self, seed: int):
        self.rng, self.draws = np.random.default_rng(seed), []

    def integers(self, *args, **kwargs):
        value = self.rng.integers(*args, **kwargs)
        self.draws.append(value)
        return value

    def random(self):
        self.draws.append(self.rng.random())
        return self.draws[-1]

    def uniform(self, *args):
        self.draws.append(self.rng.uniform(*args))
        return self.draws[-1]


def test_multiscale_parameters_and_views_have_the_cpu_paths_distribution():
    settings = PARAMS.cnn_comparison.augment
    crops = MultiScaleCrops(settings, source_side=240, store_size=120)
    stored = stored_galaxy()
    draws = DRAWS // 2  # train_view is the slowest CPU path
    recorder = Recording(0)
    cpu_views = np.stack([crops.train_view(stored, recorder) for _ in range(draws)])
    # per view: S, (top, left), k, the flip's uniform, brightness, saturation, hue, contrast
    side, corner, k, flip, brightness, saturation, hue, contrast = zip(*np.array(recorder.draws, dtype=object)
                                                                        .reshape(draws, 8))
    corner = np.stack(corner)
    cpu = {"side": np.array(side), "top": corner[:, 0], "left": corner[:, 1], "k": np.array(k),
           "hflip": np.array(flip) < settings.hflip_p, "brightness": np.array(brightness, float),
           "saturation": np.array(saturation, float), "hue": np.array(hue, float),
           "contrast": np.array(contrast, float)}
    augment = B.MultiScaleAugment(settings, source_side=240, store_size=120, device="cpu")
    params = augment.draw(draws, torch.Generator().manual_seed(1))
    gpu = {name: value.numpy() for name, value in params.items()}
    for name in ("side", "top", "left", "k", "hflip"):
        assert_same_counts(cpu[name], gpu[name], name)
    for name in ("brightness", "saturation", "hue", "contrast"):
        assert_same_continuous(cpu[name], gpu[name], name)
    gpu_views = augment.apply(torch.from_numpy(stored)[None].expand(draws, -1, -1, -1), params).numpy()
    cpu_views = cpu_views.transpose(0, 3, 1, 2)
    for name, statistic in {"red minus green": lambda v: (v[:, 0] - v[:, 1]).mean((1, 2)),
                            "green minus blue": lambda v: (v[:, 1] - v[:, 2]).mean((1, 2)),
                            "bright pixels": lambda v: (v.mean(1) > 1).mean((1, 2)),
                            "centroid row": lambda v: (np.clip(v.mean(1), 0, None) * np.arange(64)[:, None]).sum((1, 2))
                            / np.clip(v.mean(1), 0, None).sum((1, 2))}.items():
        assert_same_continuous(statistic(cpu_views), statistic(gpu_views), name)


def test_every_sample_of_a_batch_draws_its_own_transform_and_a_seed_repeats_them():
    settings = PARAMS.scale_study.augment
    augment = B.AffineAugment.scale_study(settings, [0] * 3, [1] * 3, "cpu")
    images = torch.from_numpy(smooth_image())[None].expand(16, -1, -1, -1)

    def batch(seed):
        return augment.apply(images, augment.draw(16, torch.Generator().manual_seed(seed), height=64, width=64))

    first = batch(3)
    assert len({tuple(view.flatten()[::97].tolist()) for view in first}) == 16
    assert torch.equal(first, batch(3)) and not torch.equal(first, batch(4))
