"""Dai & Tong's ResNet-26 and the pre-activation ResNet-50."""
import copy

import pytest
import torch
from torch import nn

from galzoo.models import list_models
from galzoo.models.dai_resnet import DROPOUT_P, PAPER_PARAMS, PreActBottleneck, dai_resnet26

RESNETS = ("dai_resnet26", "preact_resnet50")

pytestmark = pytest.mark.usefixtures("one_thread")


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_the_two_resnets_are_registered():
    assert set(RESNETS) <= set(list_models())


@pytest.mark.parametrize("num_outputs", [5, 37])
@pytest.mark.parametrize("name", RESNETS)
def test_every_resnet_maps_a_64px_batch_to_its_outputs(built, name, num_outputs):
    with torch.no_grad():
        assert built(name, num_outputs)(torch.randn(2, 3, 64, 64)).shape == (2, num_outputs)


def test_resnet26_has_the_papers_26_3_million_parameters_within_5_percent(built):
    assert abs(n_params(built("dai_resnet26", 5)) / PAPER_PARAMS - 1) < 0.05


def test_resnet26_is_26_layers_of_8_bottleneck_units_ending_in_4096_features(built):
    model = built("dai_resnet26", 5)
    units = [m for m in model.modules() if isinstance(m, PreActBottleneck)]
    assert len(units) == 8
    weighted = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    projections = [u.projection for u in units if u.projection is not None]
    assert len(weighted) - len(projections) == 26  # stem + 8 x 3 + classifier; shortcuts are not layers
    assert model.num_features == 4096


def test_resnet26_downsamples_in_the_last_unit_of_conv2_to_conv4(built):
    model = built("dai_resnet26", 5)
    sizes = []
    x = model.stem(torch.zeros(1, 3, 64, 64))
    assert x.shape[-1] == 32
    with torch.no_grad():
        for unit in model.groups:
            x = unit(x)
            sizes.append(x.shape[-1])
    assert sizes == [32, 16, 16, 8, 8, 4, 4, 4]


def test_resnet26_drops_out_after_the_3x3_convolution_with_tensorflow_keep_probability_0_8(built):
    assert DROPOUT_P == pytest.approx(0.2)
    dropouts = [m for m in built("dai_resnet26", 5).modules() if isinstance(m, nn.Dropout)]
    assert len(dropouts) == 8 and all(d.p == DROPOUT_P for d in dropouts)
    assert not any(isinstance(m, nn.Dropout) for m in built("preact_resnet50", 5).modules())


def test_literal_reading_of_the_widening_would_double_the_papers_parameter_count():
    assert n_params(dai_resnet26(5, widen_bottleneck=True)) > 2 * PAPER_PARAMS


@pytest.mark.parametrize("name", RESNETS)
def test_resnet_batch_norm_runs_in_eval_mode_and_samples_do_not_see_each_other(built, name):
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
