"""ImageNet networks of Dai & Tong's (2018) comparison, adapted to 64x64 galaxy crops and trained from scratch.

Dai & Tong compare Dieleman's network, AlexNet, VGG-16, Inception-v3, ResNet-50 and their ResNet-26 on
64x64 crops with 5 classes. They give no details of how the ImageNet networks were fitted to 64 px, so each
adaptation below is our choice, stated in the class docstring. Common to all: no pretrained weights (nothing
is downloaded), ``num_outputs`` linear outputs, and any square input of at least 64 px.

* ``alexnet`` -- Krizhevsky, Sutskever & Hinton (2012), "ImageNet classification with deep convolutional
  neural networks", sec. 3.5 and figure 2: five convolutions, three overlapping 3x3/2 max-pools, local
  response normalisation, FC 4096-4096 with dropout 0.5. Written by hand (timm has no AlexNet).
* ``vgg16`` -- Simonyan & Zisserman (2015), "Very deep convolutional networks for large-scale image
  recognition", table 1 configuration D: thirteen 3x3 convolutions in five blocks, five 2x2 max-pools,
  FC 4096-4096 with dropout 0.5. Written by hand, with batch-norm (see :class:`VGG16`).
* ``inception_v3`` -- Szegedy et al. (2016), "Rethinking the Inception architecture for computer vision",
  built by timm, behind a bilinear upsampling of the input (see :class:`UpsampledInceptionV3`).

Hand-written networks use He (Kaiming) initialisation, as Dai & Tong state for their training; timm's network
keeps timm's own initialisation.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from galzoo.compat import import_timm
from galzoo.models.layers import he_init
from galzoo.models.registry import register_model

#: The smallest input every network here accepts (Dai & Tong's 64x64 crops).
MIN_INPUT_SIZE = 64

# --- AlexNet (Krizhevsky et al. 2012) ---------------------------------------------------------------------
#: Filters of conv1-conv5: the paper's two-tower totals (48+48, 128+128, 192+192, 192+192, 128+128) in one tower.
ALEXNET_FILTERS = (96, 256, 384, 384, 256)
ALEXNET_KERNELS = (11, 5, 3, 3, 3)
#: conv1 stride: the paper's is 4 on 224 px; ours is 2 on 64 px (see :class:`AlexNet`).
ALEXNET_PAPER_STEM_STRIDE = 4
ALEXNET_STEM_STRIDE = 2
#: Overlapping max-pool (paper sec. 3.4: z=3, s=2) after conv1, conv2 and conv5.
ALEXNET_POOL_KERNEL, ALEXNET_POOL_STRIDE = 3, 2
ALEXNET_POOL_AFTER = (0, 1, 4)
#: Local response normalisation after conv1 and conv2 (paper sec. 3.3: k=2, n=5, alpha=1e-4, beta=0.75).
LRN_K, LRN_SIZE, LRN_ALPHA, LRN_BETA = 2.0, 5, 1e-4, 0.75
FC_WIDTH = 4096
DROPOUT = 0.5

# --- VGG-16 (Simonyan & Zisserman 2015, configuration D) ----------------------------------------------------
#: Convolutions per block and filters per block; every block ends with a 2x2/2 max-pool.
VGG16_BLOCK_DEPTHS = (2, 2, 3, 3, 3)
VGG16_BLOCK_FILTERS = (64, 128, 256, 512, 512)
VGG_KERNEL_SIZE = 3

# --- Inception-v3 (Szegedy et al. 2016) ------------------------------------------------------------------
#: Designed input size, and the smallest the unmodified network accepts (the stem shrinks 75 px to 7x7 before
#: Mixed_5b, the two grid reductions then leave 3x3 and 1x1).
INCEPTION_DESIGN_SIZE = 299
INCEPTION_MIN_SIZE = 75
#: What 64 px inputs are upsampled to: 139 px leaves 15x15 / 7x7 / 3x3 grids at the three inception stages
#: (35 / 17 / 8 at 299 px), the smallest size at which the last stage still sees a spatial grid.
INCEPTION_INPUT_SIZE = 139


def _check_input_size(name: str, input_size: int) -> None:
    if input_size < MIN_INPUT_SIZE:
        raise ValueError(f"{name} needs an input size of at least {MIN_INPUT_SIZE} px, got {input_size}")


def _flat_features(features: nn.Module, input_size: int) -> int:
    """Length of the flattened feature map for a ``3 x input_size x input_size`` input."""
    with torch.no_grad():
        return features(torch.zeros(1, 3, input_size, input_size)).numel()


class AlexNet(nn.Module):
    """AlexNet (Krizhevsky et al. 2012) in one tower, for 64 px inputs.

    Kept from the paper: the filter counts of its two towers summed (96, 256, 384, 384, 256 -- not the
    64/192/384/256/256 of torchvision's single-GPU variant), kernels 11/5/3/3/3, ReLU, local response
    normalisation after conv1 and conv2 with the paper's constants (torch divides ``alpha`` by the window
    size, so we pass ``alpha * n``), overlapping 3x3/2 max-pools after conv1, conv2 and conv5, and the
    classifier: dropout 0.5, FC 4096, dropout 0.5, FC 4096, linear ``num_outputs``.

    Adapted to 64 px: conv1 strides by 2 (padding 5, "same"-like) instead of 4. With stride 4 a 64 px crop
    leaves 15 -> 7 -> 3 -> 1 pixels through the three pools, so the top convolutions see a 3x3 map and the
    classifier a 1x1x256 vector; stride 2 leaves 32 -> 15 -> 7 -> 3, i.e. 3x3x256 = 2304 inputs to the first
    FC layer (the paper has 6x6x256 at 224 px: 64 px is ~3.5 times smaller, so stride 2 keeps roughly the
    paper's feature resolution per pixel of object). The classifier flattens the map it actually gets
    (computed from ``input_size``) rather than pooling it to 6x6 as torchvision does, which would only copy
    pixels of a 3x3 map. The paper's two-GPU grouping (conv2, conv4, conv5 see only their tower's half) is
    not kept: one tower, as every single-GPU reimplementation. Weights: He initialisation.
    """

    def __init__(self, num_outputs: int = 5, input_size: int = MIN_INPUT_SIZE, in_channels: int = 3):
        super().__init__()
        _check_input_size("AlexNet", input_size)
        layers: list[nn.Module] = []
        channels = in_channels
        for i, (filters, kernel) in enumerate(zip(ALEXNET_FILTERS, ALEXNET_KERNELS)):
            stride = ALEXNET_STEM_STRIDE if i == 0 else 1
            layers += [nn.Conv2d(channels, filters, kernel, stride=stride, padding=kernel // 2), nn.ReLU(inplace=True)]
            if i < 2:
                layers.append(nn.LocalResponseNorm(LRN_SIZE, alpha=LRN_ALPHA * LRN_SIZE, beta=LRN_BETA, k=LRN_K))
            if i in ALEXNET_POOL_AFTER:
                layers.append(nn.MaxPool2d(ALEXNET_POOL_KERNEL, ALEXNET_POOL_STRIDE))
            channels = filters
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(DROPOUT),
            nn.Linear(_flat_features(self.features, input_size), FC_WIDTH),
            nn.ReLU(inplace=True),
            nn.Dropout(DROPOUT),
            nn.Linear(FC_WIDTH, FC_WIDTH),
            nn.ReLU(inplace=True),
            nn.Linear(FC_WIDTH, num_outputs),
        )
        he_init(self)

    def forward(self, x):
        return self.classifier(self.features(x))


class VGG16(nn.Module):
    """VGG-16 (Simonyan & Zisserman 2015, configuration D) with batch-norm, for 64 px inputs.

    Kept from the paper: thirteen 3x3 convolutions (padding 1, ReLU) in five blocks of 2, 2, 3, 3, 3 with
    64, 128, 256, 512, 512 filters, a 2x2/2 max-pool after each block, and the classifier FC 4096, dropout
    0.5, FC 4096, dropout 0.5, linear ``num_outputs``.

    Changed: a batch-norm after every convolution (the ``vgg16_bn`` variant of torchvision/timm). The paper has
    none and trained configuration D by initialising it from the shallower configuration A; from scratch with
    He initialisation and Dai & Tong's SGD at lr 0.1, a 16-layer plain network without normalisation usually
    diverges or does not start learning. Dai & Tong do not say which variant they used; batch-norm is the
    safer choice in the spirit of their training. The BN layers must run in eval mode at test time (the trap
    in their code).

    Adapted to 64 px: the five pools leave a 2x2x512 map (7x7x512 at 224 px); the classifier flattens it
    (2048 inputs to the first FC layer; in general ``512 * (input_size // 32) ** 2``) instead of pooling it
    to 7x7 (which would copy pixels and add ~94M parameters) or to 1x1 (which would drop the layout). timm's
    ``vgg16`` is not used: its pre-logits ``ConvMlp`` is a 7x7 convolution that must pad a 2x2 map.
    Weights: He initialisation.
    """

    def __init__(self, num_outputs: int = 5, input_size: int = MIN_INPUT_SIZE, in_channels: int = 3):
        super().__init__()
        _check_input_size("VGG16", input_size)
        layers: list[nn.Module] = []
        channels = in_channels
        for depth, filters in zip(VGG16_BLOCK_DEPTHS, VGG16_BLOCK_FILTERS):
            for _ in range(depth):
                layers += [
                    nn.Conv2d(channels, filters, VGG_KERNEL_SIZE, padding=VGG_KERNEL_SIZE // 2),
                    nn.BatchNorm2d(filters),
                    nn.ReLU(inplace=True),
                ]
                channels = filters
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        final = input_size // 2 ** len(VGG16_BLOCK_DEPTHS)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels * final * final, FC_WIDTH),
            nn.ReLU(inplace=True),
            nn.Dropout(DROPOUT),
            nn.Linear(FC_WIDTH, FC_WIDTH),
            nn.ReLU(inplace=True),
            nn.Dropout(DROPOUT),
            nn.Linear(FC_WIDTH, num_outputs),
        )
        he_init(self)

    def forward(self, x):
        return self.classifier(self.features(x))


class UpsampledInceptionV3(nn.Module):
    """Inception-v3 (Szegedy et al. 2016) built by timm, behind a bilinear upsampling of the input.

    The network is timm's ``inception_v3`` unchanged (``pretrained=False``, its own initialisation, batch-norm,
    global average pool, dropout, linear ``num_outputs``; no auxiliary classifier -- timm builds none unless
    ``aux_logits=True``). As designed it takes 299 px and rejects anything under 75 px: its stem shrinks the
    image ~8-fold with unpadded convolutions before the first inception block, and the two grid reductions
    (Mixed_6a, Mixed_7a) are unpadded 3x3/2 convolutions.

    Adapted to 64 px: the input is upsampled bilinearly (``align_corners=False``) to ``resize_to`` px,
    139 by default, inside the module, so the training stages see a network that takes 64 px like the others.
    We upsample rather than shrink the stem because upsampling keeps every layer of the published network;
    it adds no information, but neither would a 299 px upsampling, which costs ~4.6x the FLOPs (~13x the
    time of a training step on a 2-core CPU: 16 s instead of 1.25 s for a batch of 16).
    139 px is the smallest size at which the last inception stage (Mixed_7b/7c, with its 1x3/3x1 branches)
    still sees a 3x3 grid; the strict minimum of 75 px leaves it 1x1, where its 3x3 kernels see only their
    centre. Inputs already at least ``resize_to`` px are passed through unchanged.
    """

    def __init__(self, num_outputs: int = 5, input_size: int = MIN_INPUT_SIZE, resize_to: int = INCEPTION_INPUT_SIZE):
        super().__init__()
        _check_input_size("Inception-v3", input_size)
        if resize_to < INCEPTION_MIN_SIZE:
            raise ValueError(f"Inception-v3 needs at least {INCEPTION_MIN_SIZE} px, got resize_to={resize_to}")
        self.resize_to = resize_to
        self.net = import_timm().create_model("inception_v3", pretrained=False, num_classes=num_outputs)

    def forward(self, x):
        if min(x.shape[-2:]) < self.resize_to:
            x = F.interpolate(x, size=(self.resize_to, self.resize_to), mode="bilinear", align_corners=False)
        return self.net(x)


@register_model("alexnet", "AlexNet (Krizhevsky 2012), 96-256-384-384-256, stride-2 stem for 64 px, FC 4096")
def _alexnet(num_outputs: int, input_size: int) -> nn.Module:
    return AlexNet(num_outputs=num_outputs, input_size=input_size)


@register_model("vgg16", "VGG-16 config D (Simonyan 2015) with batch-norm, 2x2x512 -> FC 4096-4096")
def _vgg16(num_outputs: int, input_size: int) -> nn.Module:
    return VGG16(num_outputs=num_outputs, input_size=input_size)


@register_model("inception_v3", "Inception-v3 (timm, Szegedy 2016), 64 px upsampled to 139 px, no aux logits")
def _inception_v3(num_outputs: int, input_size: int) -> nn.Module:
    return UpsampledInceptionV3(num_outputs=num_outputs, input_size=input_size)
