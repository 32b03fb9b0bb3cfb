"""The CPU path's per-sample augmentation (albumentations)."""
import numpy as np

from galzoo.config import load_params
from galzoo.training.augment import scale_study_augmentation
from tests.conftest import REPO_ROOT


def test_augmentation_draws_a_new_transform_for_every_sample():
    params = load_params(REPO_ROOT / "params.yaml").scale_study.augment
    augment = scale_study_augmentation(params, seed=0)
    image = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    outputs = [augment(image=image)["image"] for _ in range(8)]
    assert all(o.shape == image.shape for o in outputs)
    assert len({o.tobytes() for o in outputs}) == 8
