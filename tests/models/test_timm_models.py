"""The networks timm builds for us: EfficientNet-B0 and Pruitt's ResNet-50."""
import pytest
import torch

from galzoo.models import create_model


@pytest.mark.parametrize("num_outputs", [2, 5, 37])
@pytest.mark.parametrize("name", ["efficientnet_b0", "resnet50"])
def test_efficientnet_and_resnet50_build_for_every_task(name, num_outputs):
    model = create_model(name, num_outputs=num_outputs, input_size=64).eval()
    with torch.no_grad():
        assert model(torch.randn(3, 3, 64, 64)).shape == (3, num_outputs)
