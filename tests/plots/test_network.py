"""What a network learned: first-layer filters and feature maps."""
import torch
from PIL import Image
from torch import nn

from galzoo.plots.network import conv_layers, plot_feature_maps, plot_filters


def small_net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 6, 5), nn.ReLU(), nn.Conv2d(6, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3))


def test_conv_layers_lists_every_convolution_by_name():
    assert [name for name, _ in conv_layers(small_net())] == ["0", "2", "4"]


def test_the_filters_of_a_colour_and_a_grey_first_layer_are_drawn(tmp_path):
    for name, model in (("rgb", small_net()), ("grey", nn.Sequential(nn.Conv2d(1, 5, 3)))):
        out = plot_filters(model, tmp_path / f"{name}.png")
        with Image.open(out) as image:
            assert image.format == "PNG"


def test_the_feature_maps_leave_no_hook_on_the_network(tmp_path):
    model = small_net()
    out = plot_feature_maps(model, torch.randn(2, 3, 24, 24), ["a", "b"], tmp_path / "maps.png", maps_per_layer=4)
    with Image.open(out) as image:
        assert image.format == "PNG"
    assert all(not conv._forward_hooks for _, conv in conv_layers(model))
    assert not model.training
