"""The order of the training batches: shuffled from the seed, or the split's own order when a recipe says so
(the EfficientNet study's `efficientnet.recipe.shuffle: false`, as its paper says it trained)."""
import numpy as np
import torch
from torch.utils.data import TensorDataset

from galzoo.training.device_data import DeviceBatches, LoaderBatches

CPU = torch.device("cpu")


class Identity:
    """An augmentation that changes nothing (DeviceBatches' interface)."""

    def draw(self, n, generator, *, height, width):
        return {"unused": torch.zeros(n)}

    def apply(self, images, params):
        return images.float()


def loader_targets(shuffle: bool, seed: int = 0) -> list[int]:
    dataset = TensorDataset(torch.zeros(12, 1), torch.arange(12))
    return [int(y) for _, ys in LoaderBatches(dataset, 4, seed=seed, device=CPU, shuffle=shuffle) for y in ys]


def device_targets(shuffle: bool, seed: int = 0) -> list[int]:
    images = np.zeros((12, 2, 2, 3), np.uint8)
    batches = DeviceBatches(images, np.arange(12), np.arange(12), Identity(), batch_size=4, seed=seed, device=CPU,
                            shuffle=shuffle)
    return [int(y) for _, ys in batches for y in ys]


def test_unshuffled_batches_keep_the_splits_order_on_both_data_paths():
    assert loader_targets(shuffle=False) == list(range(12))
    assert device_targets(shuffle=False) == list(range(12))


def test_shuffled_batches_are_a_seeded_permutation_on_both_data_paths():
    for targets in (loader_targets, device_targets):
        order = targets(shuffle=True)
        assert sorted(order) == list(range(12)) and order != list(range(12))
        assert targets(shuffle=True) == order and targets(shuffle=True, seed=1) != order
