"""The HiFi-GAN waveform decoder with residual blocks of type "1" or "2".

Activations and residual sums run in place on tensors the decoder itself just made (never on a block's input,
which the parallel blocks share): each fresh activation-sized tensor costs first-touch page faults, which on the
benchmark VM were a large share of synthesis time. Autograd still works (no overwritten tensor is saved for
backward).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

LEAKY_SLOPE = 0.1


def _same_padding(kernel_size: int, dilation: int) -> int:
    return (kernel_size * dilation - dilation) // 2


class ResBlock1(nn.Module):
    """Pairs of (dilated conv, plain conv), each pair added back to its input."""

    def __init__(self, channels: int, kernel_size: int, dilations: Sequence[int]) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel_size, dilation=d, padding=_same_padding(kernel_size, d))
            for d in dilations
        )
        self.convs2 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel_size, padding=_same_padding(kernel_size, 1)) for _ in dilations
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv1, conv2 in zip(self.convs1, self.convs2):
            h = conv1(F.leaky_relu(x, LEAKY_SLOPE))
            x = conv2(F.leaky_relu(h, LEAKY_SLOPE, inplace=True)).add_(x)
        return x


class ResBlock2(nn.Module):
    """Single dilated convolutions, each added back to its input."""

    def __init__(self, channels: int, kernel_size: int, dilations: Sequence[int]) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel_size, dilation=d, padding=_same_padding(kernel_size, d))
            for d in dilations
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = conv(F.leaky_relu(x, LEAKY_SLOPE)).add_(x)
        return x


class HiFiGANDecoder(nn.Module):
    """Latent frames -> waveform: transposed-conv upsampling, multi-receptive-field fusion, tanh output.

    ``resblocks`` is flat: the block for stage ``i`` and kernel ``k`` sits at ``i * len(kernels) + k``.
    """

    def __init__(
        self,
        in_channels: int,
        resblock: str,
        resblock_kernel_sizes: Sequence[int],
        resblock_dilation_sizes: Sequence[Sequence[int]],
        upsample_rates: Sequence[int],
        upsample_initial_channel: int,
        upsample_kernel_sizes: Sequence[int],
        gin_channels: int = 0,
    ) -> None:
        super().__init__()
        self.num_kernels = len(resblock_kernel_sizes)
        block = ResBlock1 if resblock == "1" else ResBlock2
        self.conv_pre = nn.Conv1d(in_channels, upsample_initial_channel, 7, padding=3)
        self.upsampler = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        channels = upsample_initial_channel
        for rate, kernel in zip(upsample_rates, upsample_kernel_sizes):
            self.upsampler.append(
                nn.ConvTranspose1d(channels, channels // 2, kernel, rate, padding=(kernel - rate) // 2)
            )
            channels //= 2
            for k, dilations in zip(resblock_kernel_sizes, resblock_dilation_sizes):
                self.resblocks.append(block(channels, k, dilations))
        self.conv_post = nn.Conv1d(channels, 1, 7, padding=3, bias=False)
        if gin_channels:
            self.cond = nn.Conv1d(gin_channels, upsample_initial_channel, 1)

    def forward(self, z: torch.Tensor, g: torch.Tensor | None = None) -> torch.Tensor:
        """Waveform ``[b, 1, frames * hop]`` in the decoder's own dtype (inputs are cast to it)."""
        dtype = self.conv_pre.weight.dtype  # a decoder cast to bfloat16 runs in bfloat16 whatever feeds it
        x = self.conv_pre(z.to(dtype))
        if g is not None:
            x = x.add_(self.cond(g.to(dtype)))
        for i, upsample in enumerate(self.upsampler):
            x = upsample(F.leaky_relu(x, LEAKY_SLOPE, inplace=True))
            blocks = self.resblocks[i * self.num_kernels : (i + 1) * self.num_kernels]
            total = blocks[0](x)
            if total is x:  # a block without convolutions hands its input back: keep x intact for the others
                total = x.clone()
            for block in blocks[1:]:
                total = total.add_(block(x))
            x = total.div_(self.num_kernels)
        # The last activation uses torch's default slope (0.01), as the original does.
        return torch.tanh_(self.conv_post(F.leaky_relu(x, inplace=True)))
