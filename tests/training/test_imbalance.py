"""Remedies for imbalanced classes: a class-weighted cross-entropy whose weights average 1 over the training
galaxies, and class-balanced draws that are seeded, equal per class in expectation, and shared out among
processes as the shuffled passes are, on both data paths."""
import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from galzoo.training.device_data import DeviceBatches, LoaderBatches
from galzoo.training.distributed import Distributed
from galzoo.training.imbalance import (WeightedCrossEntropy, balanced_draw_weights, class_weights,
                                       imbalance_remedy)
from tests.training.test_batch_order import Identity

CPU = torch.device("cpu")
LABELS = np.repeat([0, 1, 2], [700, 200, 100])  # 70% ellipticals, as a user's folder might be


# --- the weighted loss ------------------------------------------------------------------------------------

def test_class_weights_are_n_over_k_times_the_class_count_and_average_one_over_the_galaxies():
    labels = np.repeat([0, 1, 2], [7, 2, 1])
    weights = class_weights(labels, 3)
    np.testing.assert_allclose(weights, [10 / (3 * 7), 10 / (3 * 2), 10 / 3], rtol=1e-6)
    assert float(weights[torch.as_tensor(labels)].mean()) == pytest.approx(1.0)


def test_a_class_absent_from_the_training_split_weighs_nothing_and_is_not_counted_in_k():
    weights = class_weights(np.array([0, 0, 0, 1]), 3)
    np.testing.assert_allclose(weights, [4 / (2 * 3), 4 / (2 * 1), 0.0], rtol=1e-6)


def test_square_root_weights_keep_the_order_of_the_full_weights_with_the_square_root_of_their_ratios():
    labels = np.repeat([0, 1, 2], [7, 2, 1])
    full, mild = class_weights(labels, 3).numpy(), class_weights(labels, 3, power=0.5).numpy()
    np.testing.assert_allclose(mild / mild[0], np.sqrt(full / full[0]), rtol=1e-6)  # rarest: sqrt(7) x, not 7 x
    assert float(mild[labels].mean()) == pytest.approx(1.0)  # the loss keeps its scale, the lr its meaning
    # w_c = N / (sqrt(n_c) * sum_k sqrt(n_k))
    assert mild[2] == pytest.approx(10 / (np.sqrt(7) + np.sqrt(2) + np.sqrt(1)), rel=1e-6)


def test_the_weighted_loss_is_the_batch_mean_of_each_galaxys_weight_times_its_cross_entropy():
    torch.manual_seed(0)
    logits, targets = torch.randn(6, 3), torch.tensor([0, 0, 0, 1, 1, 2])
    weights = torch.tensor([0.5, 1.0, 3.0])
    each = nn.functional.cross_entropy(logits, targets, reduction="none")
    expected = (weights[targets] * each).sum() / 6
    assert float(WeightedCrossEntropy(weights)(logits, targets)) == pytest.approx(float(expected))
    assert float(WeightedCrossEntropy(torch.ones(3))(logits, targets)) == pytest.approx(
        float(nn.CrossEntropyLoss()(logits, targets)))


def test_two_processes_halves_of_the_weighted_loss_average_to_the_whole_batchs_loss():
    """DDP averages the processes' gradients: a loss divided by the batch's summed weights would not split."""
    torch.manual_seed(1)
    logits, targets = torch.randn(8, 3), torch.tensor([0, 0, 0, 0, 0, 1, 2, 2])
    loss = WeightedCrossEntropy(class_weights(targets.numpy(), 3))
    halves = (loss(logits[:4], targets[:4]) + loss(logits[4:], targets[4:])) / 2
    assert float(halves) == pytest.approx(float(loss(logits, targets)))


# --- the remedies as a study asks for them ----------------------------------------------------------------

def test_no_remedy_is_the_plain_cross_entropy_and_the_shuffled_passes_as_before():
    loss_fn, draw_weights = imbalance_remedy("none", LABELS, 3, device=CPU)
    assert type(loss_fn) is nn.CrossEntropyLoss and loss_fn.weight is None and loss_fn.reduction == "mean"
    assert draw_weights is None


def test_each_remedy_changes_only_its_own_part():
    loss_fn, draw_weights = imbalance_remedy("weighted_loss", LABELS, 3, device=CPU)
    assert isinstance(loss_fn, WeightedCrossEntropy) and draw_weights is None
    np.testing.assert_allclose(loss_fn.weights, class_weights(LABELS, 3))
    loss_fn, draw_weights = imbalance_remedy("sqrt_weighted_loss", LABELS, 3, device=CPU)
    assert isinstance(loss_fn, WeightedCrossEntropy) and draw_weights is None
    np.testing.assert_allclose(loss_fn.weights, class_weights(LABELS, 3, power=0.5))
    loss_fn, draw_weights = imbalance_remedy("balanced_sampling", LABELS, 3, device=CPU)
    assert type(loss_fn) is nn.CrossEntropyLoss and loss_fn.weight is None
    assert draw_weights.shape == (len(LABELS),) and float(draw_weights.sum()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="expected one of none, weighted_loss, sqrt_weighted_loss, balanced_sampling"):
        imbalance_remedy("oversample", LABELS, 3, device=CPU)


def test_balanced_draw_weights_give_every_class_the_same_total_probability():
    weights = balanced_draw_weights(LABELS).numpy()
    totals = [weights[LABELS == c].sum() for c in range(3)]
    np.testing.assert_allclose(totals, [1 / 3] * 3)


# --- balanced draws on both data paths --------------------------------------------------------------------

def loader_draws(seed: int, passes: int = 1, dist: Distributed = Distributed(), batch_size: int = 50) -> list:
    """Each pass's batches of sample indices (the targets are the indices) on the DataLoader path."""
    dataset = TensorDataset(torch.zeros(len(LABELS), 1), torch.arange(len(LABELS)))
    batches = LoaderBatches(dataset, batch_size, seed=seed, device=CPU, dist=dist,
                            draw_weights=balanced_draw_weights(LABELS))
    return [[ys.tolist() for _, ys in batches] for _ in range(passes)]


def device_draws(seed: int, passes: int = 1, dist: Distributed = Distributed(), batch_size: int = 50) -> list:
    """Each pass's batches of sample indices on the device path (the targets are the indices)."""
    images = np.zeros((len(LABELS), 2, 2, 3), np.uint8)
    batches = DeviceBatches(images, np.arange(len(LABELS)), np.arange(len(LABELS)), Identity(),
                            batch_size=batch_size, seed=seed, device=CPU, dist=dist,
                            draw_weights=balanced_draw_weights(LABELS))
    return [[ys.tolist() for _, ys in batches] for _ in range(passes)]


@pytest.mark.parametrize("draws", [loader_draws, device_draws])
def test_balanced_draws_make_the_classes_equally_frequent(draws):
    drawn = np.concatenate([np.ravel(batches) for batches in draws(seed=0, passes=20)])
    assert len(drawn) == 20 * len(LABELS)  # a pass is as many draws as the split has galaxies
    frequencies = np.bincount(LABELS[drawn], minlength=3) / len(drawn)
    # 20,000 draws: one standard deviation is 0.0033; the split itself is 0.7 / 0.2 / 0.1
    np.testing.assert_allclose(frequencies, [1 / 3] * 3, atol=0.02)


@pytest.mark.parametrize("draws", [loader_draws, device_draws])
def test_balanced_draws_are_fixed_by_the_seed_and_new_every_pass(draws):
    first = draws(seed=4, passes=2)
    assert draws(seed=4, passes=2) == first
    assert draws(seed=5, passes=2) != first
    assert first[0] != first[1]


@pytest.mark.parametrize("draws", [loader_draws, device_draws])
def test_each_process_draws_its_own_share_of_the_one_process_batches(draws):
    whole = draws(seed=2, passes=2, batch_size=40)
    shares = [draws(seed=2, passes=2, dist=Distributed(rank=r, world_size=2, local_rank=r), batch_size=40)
              for r in (0, 1)]
    for p in range(2):
        assert len(shares[0][p]) == len(shares[1][p]) == len(whole[p])
        for step, batch in enumerate(whole[p]):
            assert shares[0][p][step] == batch[:20] and shares[1][p][step] == batch[20:]


def test_draw_weights_must_match_the_split_and_cannot_be_unshuffled():
    dataset = TensorDataset(torch.zeros(10, 1), torch.arange(10))
    with pytest.raises(ValueError, match=r"\(9,\) draw weights for 10 samples"):
        LoaderBatches(dataset, 5, seed=0, device=CPU, draw_weights=torch.ones(9))
    with pytest.raises(ValueError, match="shuffle=False"):
        DeviceBatches(np.zeros((10, 2, 2, 3), np.uint8), np.arange(10), np.arange(10), Identity(), batch_size=5,
                      seed=0, device=CPU, shuffle=False, draw_weights=torch.ones(10))
