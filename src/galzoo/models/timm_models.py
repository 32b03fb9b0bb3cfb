"""ImageNet architectures built by timm, with their classifier replaced by the task's outputs.

No weights are loaded here: pretrained weights are applied afterwards by :mod:`galzoo.models.pretrained`,
so the embedded run trains from scratch. timm imports torchvision, so the CPU-torch compatibility patch runs first.
"""
from __future__ import annotations

from torch import nn

from galzoo.compat import patch_torchvision
from galzoo.models.registry import register_model

patch_torchvision()
import timm  # noqa: E402  (must follow the patch)


@register_model("efficientnet_b0", "EfficientNet-B0 (timm): global average pool, dropout, dense outputs")
def _efficientnet_b0(num_outputs: int, input_size: int, dropout: float | None = None) -> nn.Module:
    """timm's EfficientNet-B0; ``dropout`` is its pre-logit dropout (timm's default 0.2 when None)."""
    options = {} if dropout is None else {"drop_rate": dropout}
    return timm.create_model("efficientnet_b0", pretrained=False, num_classes=num_outputs, **options)
