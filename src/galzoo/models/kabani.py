"""The scale-study network of Kabani & El-Sakka (2016, sec. 5, figure 4).

Given in the paper: 64x64x3 input; nine 3x3 convolutions, padding 1, ReLU, untied biases, in blocks of
3, 2, 2 and 2 with a 2x2 max-pool after each of the first three blocks; two maxout dense layers with
dropout 0.5; a linear layer of 37 outputs; Glorot initialisation; no L1/L2.

Not given (figure 4 is lost), our choice: the filter counts and maxout sizes below. The filters follow
Dieleman et al.'s winning network (32, 64, 128, 128), whose style the paper builds on; the maxout layers
are 512 units of 2 pieces each, a quarter of Dieleman's 2048 so that 20 epochs fit on a laptop GPU of 2015
as the paper reports. Dropout sits before each dense layer, as in Dieleman's network.
"""
from __future__ import annotations

from torch import nn

from galzoo.models.layers import Maxout, UntiedBiasConv2d
from galzoo.models.registry import register_model

#: Convolutions per block and the filters of each block (blocks 1-3 end with a 2x2 max-pool).
BLOCK_DEPTHS = (3, 2, 2, 2)
BLOCK_FILTERS = (32, 64, 128, 128)
KERNEL_SIZE = 3
MAXOUT_UNITS = 512
MAXOUT_PIECES = 2
DROPOUT = 0.5
INPUT_SIZE = 64


class KabaniMaxoutNet(nn.Module):
    def __init__(self, num_outputs: int = 37, input_size: int = INPUT_SIZE, in_channels: int = 3):
        super().__init__()
        if input_size % 8:
            raise ValueError(f"KabaniMaxoutNet needs an input size divisible by 8 (three 2x2 pools), got {input_size}")
        layers: list[nn.Module] = []
        size, channels = input_size, in_channels
        for block, (depth, filters) in enumerate(zip(BLOCK_DEPTHS, BLOCK_FILTERS)):
            for _ in range(depth):
                layers += [UntiedBiasConv2d(channels, filters, KERNEL_SIZE, size), nn.ReLU(inplace=True)]
                channels = filters
            if block < len(BLOCK_DEPTHS) - 1:
                layers.append(nn.MaxPool2d(2))
                size //= 2
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(DROPOUT),
            Maxout(channels * size * size, MAXOUT_UNITS, MAXOUT_PIECES),
            nn.Dropout(DROPOUT),
            Maxout(MAXOUT_UNITS, MAXOUT_UNITS, MAXOUT_PIECES),
            nn.Linear(MAXOUT_UNITS, num_outputs),
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Glorot (Xavier) uniform weights and zero biases, as the paper states."""
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, x):
        return self.head(self.features(x))


@register_model("kabani_maxout", "Kabani & El-Sakka 2016 scale-study network: 9 conv 3x3, untied biases, 2 maxout")
def _kabani_maxout(num_outputs: int, input_size: int) -> nn.Module:
    return KabaniMaxoutNet(num_outputs=num_outputs, input_size=input_size)
