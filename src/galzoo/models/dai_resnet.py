"""Dai & Tong's (2018, sec. 4.4, figures 7-8, table 3) wide pre-activation bottleneck ResNet-26, and the
pre-activation ResNet-50 (He et al. 2016a) they compare it with (sec. 5, tables 6-7).

Given in the paper: 64x64x3 input; conv1 6x6, 64 filters, stride 1; 2x2 max-pool, stride 2 (32x32x64);
four groups conv2-conv5 of N=2 full pre-activation (BN-ReLU-Conv) bottleneck units, widening factor k=2,
m = 64/128/256/512 and n = 256/512/1024/2048; dropout after the 3x3 convolution; downsampling by stride 2 in
the last unit of conv2, conv3 and conv4 (table 3: 16x16, 8x8, 4x4, 4x4); dashed (projection) shortcuts where
the dimension changes; 4x4 average pool to 1x1x4096; a 5-way fully connected layer; He initialisation;
26 layers and 26.3M parameters.

Our reading where the paper contradicts itself or says nothing:

* **Where k applies.** Section 4.4 writes group 2 as 1x1 64x2, 3x3 64x2, 1x1 256x2 (every layer widened).
  That network has 55.7M parameters, more than twice the 26.3M the paper states (sec. 4.4 and 6). Of the
  readings that apply one rule to every group, only one lands within 5% of 26.3M: widen the *output* 1x1
  only, ``1x1 m -> 3x3 m -> 1x1 n*k`` (27.1M with 5 outputs, +3%). It also keeps the 1x1x4096 average-pool
  output the paper states. We build that (``WIDEN_BOTTLENECK = False``); ``widen_bottleneck=True`` gives
  the literal 55.7M reading. Without any widening (k=1) the network has 13.9M.
* **Shortcuts.** A 1x1 projection where the channel count changes (the first unit of each group); where
  only the resolution halves (the last unit of conv2-conv4) the shortcut is a parameter-free 1x1 stride-2
  subsampling, as in TF-slim's ``resnet_v2`` whose block layout (stride in the last unit) table 3 follows.
  A projection there too would add 5.5M parameters and miss 26.3M.
* **Where the stride sits.** Inside the downsampling unit, on the 3x3 convolution (TF-slim ``resnet_v2``,
  He et al.'s practice); a stride-2 1x1 would drop three of four positions unseen. No parameter changes.
* **Padding of the 6x6 stem.** 'same': 2 pixels before and 3 after (:data:`STEM_PADDING`), so 64 -> 64 as table 3 says.
* **Average pool.** Adaptive average pooling to 1x1, identical to the 4x4 pool at 64 px, so other input
  sizes also work.
* **Dropout.** Only after the 3x3 convolution, with :data:`DROPOUT_P`; none before the classifier.
* **He initialisation** (He et al. 2015): Kaiming-normal (fan-in, ReLU gain) for every convolution and the
  classifier, zero biases, BN weights 1 and biases 0.
"""
from __future__ import annotations

import torch
from torch import nn

from galzoo.models.layers import he_init
from galzoo.models.registry import register_model

INPUT_SIZE = 64
STEM_FILTERS = 64
STEM_KERNEL = 6
#: 'same' padding of the even 6x6 kernel: (left, right, top, bottom), 2 before and 3 after.
STEM_PADDING = (2, 3, 2, 3)
STEM_POOL = 2
#: Bottleneck widths m of conv2-conv5; the output width is n = EXPANSION * m (256/512/1024/2048).
GROUP_WIDTHS = (64, 128, 256, 512)
EXPANSION = 4
#: Dai & Tong's widening factor k and units per group N (k=2, N=2: 26 layers).
WIDEN = 2
UNITS_PER_GROUP = 2
#: Our reading of k (module docstring): widen only the output 1x1; True widens the 1x1 and 3x3 too.
WIDEN_BOTTLENECK = False
#: The paper's 'dropout probability value is 0.8' (sec. 4.5) is TensorFlow's ``keep_prob`` (the
#: probability of *keeping* a unit), the argument of ``tf.nn.dropout`` in 2018; as a drop probability 0.8
#: after every 3x3 convolution would wipe out most of the signal. PyTorch's ``p`` is the drop probability.
DROPOUT_P = 0.2
#: The paper's parameter count of the ResNet-26 (sec. 4.4).
PAPER_PARAMS = 26.3e6
#: Pre-activation ResNet-50 (He et al. 2016a): units per group, no widening, no dropout.
RESNET50_UNITS = (3, 4, 6, 3)


class PreActBottleneck(nn.Module):
    """Full pre-activation bottleneck unit (He et al. 2016a; Dai & Tong figure 7).

    ``x + W3(s(drop(W2(s(W1(s(x)))))))`` with ``s`` = BN-ReLU, 1x1 ``width`` -> 3x3 ``width`` (stride
    ``stride``) -> 1x1 ``out_channels``. The shortcut is a 1x1 projection of the pre-activated input when
    the channel count changes, a 1x1 stride-2 subsampling when only the resolution halves, else identity.
    """

    def __init__(self, in_channels: int, width: int, out_channels: int, stride: int = 1, dropout: float = 0.0):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.bn3 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.projection = (nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)
                           if in_channels != out_channels else None)
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = torch.relu(self.bn1(x))
        if self.projection is not None:
            shortcut = self.projection(pre)
        else:
            shortcut = x[:, :, ::self.stride, ::self.stride] if self.stride > 1 else x
        out = self.conv1(pre)
        out = self.dropout(self.conv2(torch.relu(self.bn2(out))))
        out = self.conv3(torch.relu(self.bn3(out)))
        return out + shortcut


class PreActResNet(nn.Module):
    """Stem (6x6 conv, 'same', stride 1; 2x2 max-pool), four groups of :class:`PreActBottleneck` with
    stride 2 in the last unit of the first three groups, final BN-ReLU, global average pool, linear layer.
    """

    def __init__(self, num_outputs: int, units: tuple[int, ...], widen: int = 1, widen_bottleneck: bool = True,
                 dropout: float = 0.0, in_channels: int = 3):
        super().__init__()
        self.stem = nn.Sequential(
            nn.ZeroPad2d(STEM_PADDING),
            nn.Conv2d(in_channels, STEM_FILTERS, STEM_KERNEL, bias=False),
            nn.MaxPool2d(STEM_POOL),
        )
        blocks: list[nn.Module] = []
        channels = STEM_FILTERS
        for group, (n_units, m) in enumerate(zip(units, GROUP_WIDTHS)):
            width = m * widen if widen_bottleneck else m
            out_channels = m * EXPANSION * widen
            for unit in range(n_units):
                last_downsampling = unit == n_units - 1 and group < len(units) - 1
                blocks.append(PreActBottleneck(channels, width, out_channels,
                                               stride=2 if last_downsampling else 1, dropout=dropout))
                channels = out_channels
        self.groups = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(inplace=True),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_outputs))
        self.num_features = channels
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """He et al. (2015) initialisation, as Dai & Tong state (sec. 4.5)."""
        he_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.groups(self.stem(x)))


def dai_resnet26(num_outputs: int = 5, widen_bottleneck: bool = WIDEN_BOTTLENECK) -> PreActResNet:
    """Dai & Tong's ResNet-26 (k=2, N=2); ``widen_bottleneck=True`` is the literal 55.7M reading."""
    return PreActResNet(num_outputs, (UNITS_PER_GROUP,) * len(GROUP_WIDTHS), widen=WIDEN,
                        widen_bottleneck=widen_bottleneck, dropout=DROPOUT_P)


def preact_resnet50(num_outputs: int = 5) -> PreActResNet:
    """He et al.'s (2016a) pre-activation ResNet-50 with the ResNet-26's stem and stride layout.

    The stem is the ResNet-26's (6x6 conv stride 1 + 2x2 max-pool, 64 -> 32 px) rather than ImageNet's
    7x7/2 conv + 3x3/2 pool (64 -> 16 px, 2x2 after conv5): both networks of the comparison then see the
    same resolutions (32, 16, 8, 4, 4 px per group), so the comparison isolates depth and width. Stride 2
    sits in the last unit of conv2-conv4, the TF-slim ``resnet_v2_50`` layout that Dai & Tong's network
    follows. No widening, no dropout (He et al. use none).
    """
    return PreActResNet(num_outputs, RESNET50_UNITS)


@register_model("dai_resnet26", "Dai & Tong 2018 wide pre-activation bottleneck ResNet-26 (k=2, N=2, ~27M params)")
def _dai_resnet26(num_outputs: int, input_size: int) -> nn.Module:
    return dai_resnet26(num_outputs)


@register_model("preact_resnet50", "He et al. 2016 pre-activation ResNet-50 with Dai & Tong's 64 px stem")
def _preact_resnet50(num_outputs: int, input_size: int) -> nn.Module:
    return preact_resnet50(num_outputs)
