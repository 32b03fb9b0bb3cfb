"""The model registry and the scale-study network."""
import pytest
import torch

from galzoo import tree
from galzoo.errors import ConfigError
from galzoo.models import create_model, list_models
from galzoo.models.kabani import BLOCK_DEPTHS, KabaniMaxoutNet
from galzoo.models.layers import Maxout, UntiedBiasConv2d


PAPER_MODELS = {"kabani_maxout", "efficientnet_b0", "dieleman", "alexnet", "vgg16", "inception_v3",
                "preact_resnet50", "dai_resnet26", "resnet50"}


def test_registry_lists_the_nine_paper_models():
    # the scale study's, EfficientNet-B0, the six of the CNN comparison and Pruitt's ResNet-50
    assert set(list_models()) == PAPER_MODELS


@pytest.mark.parametrize("num_outputs", [2, 5, 37])
@pytest.mark.parametrize("name", ["kabani_maxout", "efficientnet_b0", "resnet50"])
def test_scale_study_network_efficientnet_and_resnet50_build_for_every_task(name, num_outputs):
    # the other six are checked in test_models_dieleman_dai.py and test_models_imagenet.py
    model = create_model(name, num_outputs=num_outputs, input_size=64).eval()
    with torch.no_grad():
        assert model(torch.randn(3, 3, 64, 64)).shape == (3, num_outputs)


def test_tree_output_layer_makes_predictions_valid_trees():
    model = create_model("kabani_maxout", num_outputs=37, input_size=64, output_layer="tree").eval()
    with torch.no_grad():
        out = model(torch.randn(4, 3, 64, 64)).numpy()
    assert tree.satisfies_tree(out, 1e-6).all()


def test_unknown_model_names_the_registered_ones():
    with pytest.raises(ConfigError, match="unknown model 'resnet9000'.*kabani_maxout"):
        create_model("resnet9000", num_outputs=37, input_size=64)


def test_unknown_output_layer_is_rejected():
    with pytest.raises(ConfigError, match="output_layer"):
        create_model("kabani_maxout", num_outputs=37, input_size=64, output_layer="softmax")


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
