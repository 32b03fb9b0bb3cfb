"""ImageNet architectures built by timm, with their classifier replaced by the task's outputs.

No weights are loaded here: the embedded run trains from scratch (pretrained weights are a later study's
parameter). timm imports torchvision, so the CPU-torch compatibility patch runs first.
"""
from __future__ import annotations

from torch import nn

from galzoo.compat import patch_torchvision
from galzoo.models.registry import register_model

patch_torchvision()
import timm  # noqa: E402  (must follow the patch)


@register_model("efficientnet_b0", "EfficientNet-B0 (timm), trained from scratch, linear head")
def _efficientnet_b0(num_outputs: int, input_size: int) -> nn.Module:
    return timm.create_model("efficientnet_b0", pretrained=False, num_classes=num_outputs)
