"""Dai & Tong's ResNet-26, the pre-activation ResNet-50 and Dieleman's view-sharing network."""
import copy

import pytest
import torch
from torch import nn

from galzoo.models import create_model, list_models
from galzoo.models.dai_resnet import DROPOUT_P, PAPER_PARAMS, PreActBottleneck, dai_resnet26
from galzoo.models.dieleman import N_VIEWS, DielemanNet, dihedral_views

MODELS = ("dai_resnet26", "preact_resnet50", "dieleman")
RESNETS = ("dai_resnet26", "preact_resnet50")

_cache: dict[tuple[str, int], nn.Module] = {}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One intra-op thread: on a shared 2-core machine OpenMP spinning makes these nets 30x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    _cache.clear()


def built(name: str, num_outputs: int) -> nn.Module:
    """Each network is built once per output count (the big ones take a moment to initialise)."""
    if (name, num_outputs) not in _cache:
        torch.manual_seed(0)
        _cache[name, num_outputs] = create_model(name, num_outputs=num_outputs, input_size=64).eval()
    return _cache[name, num_outputs]


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_the_three_networks_are_registered():
    assert set(MODELS) <= set(list_models())


@pytest.mark.parametrize("num_outputs", [5, 37])
@pytest.mark.parametrize("name", MODELS)
def test_every_network_maps_a_64px_batch_to_its_outputs(name, num_outputs):
    with torch.no_grad():
        assert built(name, num_outputs)(torch.randn(2, 3, 64, 64)).shape == (2, num_outputs)


def test_resnet26_has_the_papers_26_3_million_parameters_within_5_percent():
    assert abs(n_params(built("dai_resnet26", 5)) / PAPER_PARAMS - 1) < 0.05


def test_resnet26_is_26_layers_of_8_bottleneck_units_ending_in_4096_features():
    model = built("dai_resnet26", 5)
    units = [m for m in model.modules() if isinstance(m, PreActBottleneck)]
    assert len(units) == 8
    weighted = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    projections = [u.projection for u in units if u.projection is not None]
    assert len(weighted) - len(projections) == 26  # stem + 8 x 3 + classifier; shortcuts are not layers
    assert model.num_features == 4096


def test_resnet26_downsamples_in_the_last_unit_of_conv2_to_conv4():
    model = built("dai_resnet26", 5)
    sizes = []
    x = model.stem(torch.zeros(1, 3, 64, 64))
    assert x.shape[-1] == 32
    with torch.no_grad():
        for unit in model.groups:
            x = unit(x)
            sizes.append(x.shape[-1])
    assert sizes == [32, 16, 16, 8, 8, 4, 4, 4]


def test_resnet26_drops_out_after_the_3x3_convolution_with_tensorflow_keep_probability_0_8():
    assert DROPOUT_P == pytest.approx(0.2)
    dropouts = [m for m in built("dai_resnet26", 5).modules() if isinstance(m, nn.Dropout)]
    assert len(dropouts) == 8 and all(d.p == DROPOUT_P for d in dropouts)
    assert not any(isinstance(m, nn.Dropout) for m in built("preact_resnet50", 5).modules())


def test_literal_reading_of_the_widening_would_double_the_papers_parameter_count():
    assert n_params(dai_resnet26(5, widen_bottleneck=True)) > 2 * PAPER_PARAMS


@pytest.mark.parametrize("name", RESNETS)
def test_resnet_batch_norm_runs_in_eval_mode_and_samples_do_not_see_each_other(name):
    """Dai & Tong's trap: BN left in training mode at test time makes a prediction depend on its batch."""
    model = built(name, 5)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and not any(bn.training for bn in bns)
    torch.manual_seed(1)
    x = torch.randn(4, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x)[0], model(x[:1])[0], atol=1e-3, rtol=1e-3)
        trap = copy.deepcopy(model).train()  # batch statistics: the prediction moves with its batch
        assert not torch.allclose(trap(x)[0], trap(x[:1])[0], atol=1e-3, rtol=1e-3)


def test_dihedral_views_are_the_eight_rotations_of_the_image_and_its_mirror_image_stacked_view_major():
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).view(2, 3, 4, 4)
    views = dihedral_views(x)
    assert views.shape == (N_VIEWS * 2, 3, 4, 4)
    torch.testing.assert_close(views[:2], x)
    torch.testing.assert_close(views[2:4], torch.rot90(x, 1, dims=(-2, -1)))
    torch.testing.assert_close(views[8:10], torch.flip(x, dims=(-1,)))
    distinct = {tuple(v.flatten().tolist()) for v in views[::2]}
    assert len(distinct) == N_VIEWS


TRANSFORMS = {
    "rot90": lambda x: torch.rot90(x, 1, dims=(-2, -1)),
    "rot180": lambda x: torch.rot90(x, 2, dims=(-2, -1)),
    "hflip": lambda x: torch.flip(x, dims=(-1,)),
    "vflip": lambda x: torch.flip(x, dims=(-2,)),
}


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_dieleman_views_of_a_rotated_or_flipped_galaxy_are_the_same_features_in_another_order(transform):
    """The concatenated (registered) network sees the same evidence; its dense layers must learn invariance."""
    model = built("dieleman", 5)
    torch.manual_seed(2)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        original, moved = model.view_features(x), model.view_features(TRANSFORMS[transform](x))
    for sample in range(2):
        distance = torch.cdist(original[sample], moved[sample])  # (8, 8)
        matched = distance.argmin(dim=1)
        assert sorted(matched.tolist()) == list(range(N_VIEWS))  # a permutation
        assert distance.min(dim=1).values.max() < 1e-4 * original[sample].norm(dim=1).max()


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_dieleman_with_mean_view_pooling_is_exactly_invariant_to_the_dihedral_group(transform):
    torch.manual_seed(0)
    model = DielemanNet(num_outputs=37, view_pooling="mean").eval()
    torch.manual_seed(3)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(TRANSFORMS[transform](x)), model(x), atol=1e-4, rtol=1e-4)


def test_dieleman_centre_crop_views_give_dielemans_2x2x128_features_per_view():
    model = DielemanNet(num_outputs=5, view_size=46, view_pooling="mean").eval()
    with torch.no_grad():
        assert model.view_features(torch.randn(1, 3, 64, 64)).shape == (1, N_VIEWS, 2 * 2 * 128)
    with pytest.raises(ValueError, match="even margin"):
        DielemanNet(num_outputs=5, view_size=45)
