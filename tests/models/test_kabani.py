"""Kabani & El-Sakka's scale-study network."""
import pytest
import torch

from galzoo.models import create_model
from galzoo.models.kabani import BLOCK_DEPTHS, KabaniMaxoutNet
from galzoo.models.layers import Maxout, UntiedBiasConv2d


@pytest.mark.parametrize("num_outputs", [2, 5, 37])
def test_scale_study_network_builds_for_every_task(num_outputs):
    model = create_model("kabani_maxout", num_outputs=num_outputs, input_size=64).eval()
    with torch.no_grad():
        assert model(torch.randn(3, 3, 64, 64)).shape == (3, num_outputs)


def test_kabani_network_has_nine_untied_bias_convolutions_three_pools_and_two_maxout_layers():
    net = KabaniMaxoutNet()
    convs = [m for m in net.modules() if isinstance(m, UntiedBiasConv2d)]
    assert len(convs) == sum(BLOCK_DEPTHS) == 9
    assert all(c.conv.kernel_size == (3, 3) and c.conv.padding == (1, 1) for c in convs)
    assert convs[0].bias.shape == (32, 64, 64)  # one bias per channel and position
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in net.modules()) == 3
    assert sum(isinstance(m, Maxout) for m in net.modules()) == 2
    assert [m.p for m in net.modules() if isinstance(m, torch.nn.Dropout)] == [0.5, 0.5]


def test_kabani_network_rejects_an_input_size_the_pools_cannot_halve():
    with pytest.raises(ValueError, match="divisible by 8"):
        KabaniMaxoutNet(input_size=60)
