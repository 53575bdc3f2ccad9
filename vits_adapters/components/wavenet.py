"""WaveNet stacks and the two VITS components built on them: the coupling flow and the posterior encoder."""

from __future__ import annotations

import torch
from torch import nn

from .layers import gated_activation, sequence_mask


class WaveNet(nn.Module):
    """Non-causal WaveNet: dilated gated convolutions with residual and skip paths, optional global conditioning."""

    def __init__(
        self, hidden_channels: int, kernel_size: int, dilation_rate: int, n_layers: int, gin_channels: int = 0
    ) -> None:
        super().__init__()
        self.hidden_channels = hidden_channels
        self.n_layers = n_layers
        self.in_layers = nn.ModuleList()
        self.res_skip_layers = nn.ModuleList()
        if gin_channels:
            self.cond_layer = nn.Conv1d(gin_channels, 2 * hidden_channels * n_layers, 1)
        for i in range(n_layers):
            dilation = dilation_rate**i
            padding = (kernel_size * dilation - dilation) // 2
            self.in_layers.append(
                nn.Conv1d(hidden_channels, 2 * hidden_channels, kernel_size, dilation=dilation, padding=padding)
            )
            # The last layer feeds only the skip path, so it needs half the channels.
            out = 2 * hidden_channels if i < n_layers - 1 else hidden_channels
            self.res_skip_layers.append(nn.Conv1d(hidden_channels, out, 1))

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor, g: torch.Tensor | None = None) -> torch.Tensor:
        hidden = self.hidden_channels
        output = torch.zeros_like(x)
        cond = self.cond_layer(g) if g is not None else None
        for i in range(self.n_layers):
            x_in = self.in_layers[i](x)
            if cond is not None:
                x_in = x_in + cond[:, 2 * hidden * i : 2 * hidden * (i + 1)]
            res_skip = self.res_skip_layers[i](gated_activation(x_in, hidden))
            if i < self.n_layers - 1:
                x = (x + res_skip[:, :hidden]) * x_mask
                output = output + res_skip[:, hidden:]
            else:
                output = output + res_skip
        return output * x_mask


class CouplingLayer(nn.Module):
    """Mean-only affine coupling: the second half of the channels is shifted by a WaveNet of the first half."""

    def __init__(
        self, channels: int, hidden_channels: int, kernel_size: int, dilation_rate: int, n_layers: int, gin_channels: int
    ) -> None:
        super().__init__()
        self.half_channels = channels // 2
        self.conv_pre = nn.Conv1d(self.half_channels, hidden_channels, 1)
        self.wavenet = WaveNet(hidden_channels, kernel_size, dilation_rate, n_layers, gin_channels)
        self.conv_post = nn.Conv1d(hidden_channels, self.half_channels, 1)

    def shift(self, x0: torch.Tensor, x_mask: torch.Tensor, g: torch.Tensor | None) -> torch.Tensor:
        hidden = self.wavenet(self.conv_pre(x0) * x_mask, x_mask, g)
        return self.conv_post(hidden) * x_mask

    def forward(
        self, x: torch.Tensor, x_mask: torch.Tensor, g: torch.Tensor | None = None, reverse: bool = False
    ) -> torch.Tensor:
        x0, x1 = torch.split(x, [self.half_channels] * 2, 1)
        mean = self.shift(x0, x_mask, g)
        x1 = (x1 - mean) * x_mask if reverse else mean + x1 * x_mask
        return torch.cat([x0, x1], 1)


class ResidualCouplingFlow(nn.Module):
    """A chain of coupling layers with a channel flip after each (the flips hold no weights)."""

    def __init__(
        self,
        channels: int,
        hidden_channels: int,
        kernel_size: int,
        dilation_rate: int,
        n_layers: int,
        n_flows: int,
        gin_channels: int = 0,
    ) -> None:
        super().__init__()
        self.flows = nn.ModuleList(
            CouplingLayer(channels, hidden_channels, kernel_size, dilation_rate, n_layers, gin_channels)
            for _ in range(n_flows)
        )

    def forward(
        self, x: torch.Tensor, x_mask: torch.Tensor, g: torch.Tensor | None = None, reverse: bool = False
    ) -> torch.Tensor:
        if reverse:
            for flow in reversed(self.flows):
                x = flow(torch.flip(x, [1]), x_mask, g, reverse=True)
        else:
            for flow in self.flows:
                x = torch.flip(flow(x, x_mask, g), [1])
        return x


class PosteriorEncoder(nn.Module):
    """Linear spectrogram -> latent ``z`` (used in training and voice conversion, not in text-to-speech)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        hidden_channels: int,
        kernel_size: int,
        dilation_rate: int,
        n_layers: int,
        gin_channels: int = 0,
    ) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.conv_pre = nn.Conv1d(in_channels, hidden_channels, 1)
        self.wavenet = WaveNet(hidden_channels, kernel_size, dilation_rate, n_layers, gin_channels)
        self.conv_proj = nn.Conv1d(hidden_channels, 2 * out_channels, 1)

    def forward(
        self,
        spectrogram: torch.Tensor,
        lengths: torch.Tensor,
        g: torch.Tensor | None = None,
        noise_scale: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        x_mask = sequence_mask(lengths, spectrogram.size(2)).unsqueeze(1).to(spectrogram.dtype)
        x = self.wavenet(self.conv_pre(spectrogram) * x_mask, x_mask, g)
        stats = self.conv_proj(x) * x_mask
        mean, log_std = torch.split(stats, self.out_channels, dim=1)
        noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=mean.device)
        z = (mean + noise * torch.exp(log_std) * noise_scale) * x_mask
        return z, mean, log_std, x_mask
