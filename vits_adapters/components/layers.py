"""Small building blocks shared by the VITS components: channel LayerNorm and sequence masks."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class ChannelLayerNorm(nn.LayerNorm):
    """LayerNorm over the channel axis of a ``[batch, channels, time]`` tensor."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.layer_norm(x.transpose(1, -1), self.normalized_shape, self.weight, self.bias, self.eps)
        return y.transpose(1, -1)


def sequence_mask(lengths: torch.Tensor, max_length: int | None = None) -> torch.Tensor:
    """Boolean ``[batch, max_length]`` mask, True inside each sequence."""
    if max_length is None:
        max_length = int(lengths.max())
    positions = torch.arange(max_length, dtype=lengths.dtype, device=lengths.device)
    return positions.unsqueeze(0) < lengths.unsqueeze(1)


def gated_activation(x: torch.Tensor, channels: int) -> torch.Tensor:
    """WaveNet gate: tanh of the first half of the channels times sigmoid of the second half."""
    return torch.tanh(x[:, :channels]) * torch.sigmoid(x[:, channels:])
