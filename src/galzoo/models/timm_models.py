"""ImageNet architectures built by timm, with their classifier replaced by the task's outputs.

No weights are loaded here: pretrained weights are applied afterwards by :mod:`galzoo.models.pretrained`,
so the embedded run trains from scratch. timm (and the torchvision it pulls in) is imported inside the factories
by :func:`galzoo.compat.import_timm`, so registering these names, and checking them in params.yaml, costs no timm.
"""
from __future__ import annotations

from torch import nn

from galzoo.compat import import_timm
from galzoo.models.registry import register_model


@register_model("efficientnet_b0", "EfficientNet-B0 (timm): global average pool, dropout, dense outputs")
def _efficientnet_b0(num_outputs: int, input_size: int, dropout: float | None = None) -> nn.Module:
    """timm's EfficientNet-B0; ``dropout`` is its pre-logit dropout (timm's default 0.2 when None)."""
    options = {} if dropout is None else {"drop_rate": dropout}
    return import_timm().create_model("efficientnet_b0", pretrained=False, num_classes=num_outputs, **options)


@register_model("resnet50", "ResNet-50 (timm, He et al. 2016 with post-activation bottlenecks): Pruitt's network")
def _resnet50(num_outputs: int, input_size: int) -> nn.Module:
    """The plain ResNet-50 that Pruitt (2024, sec. 2.6) trains from scratch on 200x200 cutouts; global average
    pooling makes it take any input of 32 px or more. timm's version puts the stride-2 of each stage's first
    bottleneck on its 3x3 convolution (torchvision's "v1.5"); the Keras ResNet-50 put it on the first 1x1."""
    if input_size < 32:
        raise ValueError(f"resnet50 needs inputs of at least 32 px (five stride-2 stages), got {input_size}")
    return import_timm().create_model("resnet50", pretrained=False, num_classes=num_outputs)
