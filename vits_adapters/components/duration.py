"""Duration predictors: the stochastic one (flow-based) and the deterministic one (convolutional)."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .layers import ChannelLayerNorm
from .spline import inverse_rational_quadratic


class DilatedDepthSeparableConv(nn.Module):
    """Residual stack of dilated depthwise + pointwise convolutions with LayerNorm and GELU."""

    def __init__(self, channels: int, kernel_size: int, n_layers: int) -> None:
        super().__init__()
        self.convs_dilated = nn.ModuleList()
        self.convs_pointwise = nn.ModuleList()
        self.norms_1 = nn.ModuleList()
        self.norms_2 = nn.ModuleList()
        for i in range(n_layers):
            dilation = kernel_size**i
            padding = (kernel_size * dilation - dilation) // 2
            self.convs_dilated.append(
                nn.Conv1d(channels, channels, kernel_size, groups=channels, dilation=dilation, padding=padding)
            )
            self.convs_pointwise.append(nn.Conv1d(channels, channels, 1))
            self.norms_1.append(ChannelLayerNorm(channels))
            self.norms_2.append(ChannelLayerNorm(channels))

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor, g: torch.Tensor | None = None) -> torch.Tensor:
        if g is not None:
            x = x + g
        for dilated, pointwise, norm_1, norm_2 in zip(
            self.convs_dilated, self.convs_pointwise, self.norms_1, self.norms_2
        ):
            y = F.gelu(norm_1(dilated(x * x_mask)))
            y = F.gelu(norm_2(pointwise(y)))
            x = x + y
        return x * x_mask


class ElementwiseAffine(nn.Module):
    """Per-channel affine flow ``y = translate + exp(log_scale) * x``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.translate = nn.Parameter(torch.zeros(channels, 1))
        self.log_scale = nn.Parameter(torch.zeros(channels, 1))

    def inverse(self, y: torch.Tensor, x_mask: torch.Tensor, g: torch.Tensor | None = None) -> torch.Tensor:
        return (y - self.translate) * torch.exp(-self.log_scale) * x_mask


class ConvFlow(nn.Module):
    """Spline coupling on two channels: the second is transformed conditioned on the first."""

    def __init__(self, filter_channels: int, kernel_size: int, n_layers: int, num_bins: int, tail_bound: float) -> None:
        super().__init__()
        self.filter_channels = filter_channels
        self.num_bins = num_bins
        self.tail_bound = tail_bound
        self.conv_pre = nn.Conv1d(1, filter_channels, 1)
        self.conv_dds = DilatedDepthSeparableConv(filter_channels, kernel_size, n_layers)
        self.conv_proj = nn.Conv1d(filter_channels, 3 * num_bins - 1, 1)

    def inverse(self, y: torch.Tensor, x_mask: torch.Tensor, g: torch.Tensor | None = None) -> torch.Tensor:
        y0, y1 = torch.split(y, [1, 1], 1)
        h = self.conv_proj(self.conv_dds(self.conv_pre(y0), x_mask, g)) * x_mask
        batch, _, length = y0.shape
        h = h.reshape(batch, 1, -1, length).permute(0, 1, 3, 2)  # [b, 1, t, 3 * bins - 1]
        scale = math.sqrt(self.filter_channels)
        bins = self.num_bins
        x1 = inverse_rational_quadratic(
            y1, h[..., :bins] / scale, h[..., bins : 2 * bins] / scale, h[..., 2 * bins :], self.tail_bound
        )
        return torch.cat([y0, x1], 1) * x_mask


class StochasticDurationPredictor(nn.Module):
    """Flow-based duration predictor; inference runs its flows in reverse from Gaussian noise.

    ``flows`` is [ElementwiseAffine, ConvFlow x n_flows] and ``post_flows`` [ElementwiseAffine, ConvFlow x
    post_n_flows]; the ``post_*`` modules model the posterior and are used in training only, as is ``flows[1]``,
    which the reverse pass skips.
    """

    def __init__(
        self,
        in_channels: int,
        channels: int,
        kernel_size: int,
        n_flows: int,
        post_n_flows: int,
        dds_layers: int,
        num_bins: int,
        tail_bound: float,
        gin_channels: int = 0,
    ) -> None:
        super().__init__()
        self.conv_pre = nn.Conv1d(in_channels, channels, 1)
        self.conv_proj = nn.Conv1d(channels, channels, 1)
        self.conv_dds = DilatedDepthSeparableConv(channels, kernel_size, dds_layers)
        if gin_channels:
            self.cond = nn.Conv1d(gin_channels, channels, 1)
        self.flows = nn.ModuleList([ElementwiseAffine(2)])
        self.flows.extend(ConvFlow(channels, kernel_size, dds_layers, num_bins, tail_bound) for _ in range(n_flows))
        self.post_conv_pre = nn.Conv1d(1, channels, 1)
        self.post_conv_proj = nn.Conv1d(channels, channels, 1)
        self.post_conv_dds = DilatedDepthSeparableConv(channels, kernel_size, dds_layers)
        self.post_flows = nn.ModuleList([ElementwiseAffine(2)])
        self.post_flows.extend(
            ConvFlow(channels, kernel_size, dds_layers, num_bins, tail_bound) for _ in range(post_n_flows)
        )

    def forward(
        self,
        x: torch.Tensor,
        x_mask: torch.Tensor,
        g: torch.Tensor | None = None,
        noise_scale: float | torch.Tensor = 1.0,
        generator: torch.Generator | None = None,
        noise: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Log-durations ``[b, 1, t]`` for hidden states ``x``.

        The flows start from standard-normal ``noise`` ``[b, 2, t]`` when given, else from a draw of ``generator``.
        """
        h = self.conv_pre(x)
        if g is not None:
            h = h + self.cond(g)
        h = self.conv_proj(self.conv_dds(h, x_mask)) * x_mask
        if noise is None:
            noise = torch.randn((x.size(0), 2, x.size(2)), generator=generator, dtype=x.dtype, device=x.device)
        z = noise * noise_scale
        # Reverse order, each coupling preceded by the flip that followed it; flows[1] is skipped.
        for flow in reversed(self.flows[2:]):
            z = flow.inverse(torch.flip(z, [1]), x_mask, h)
        z = self.flows[0].inverse(torch.flip(z, [1]), x_mask)
        return z[:, :1]


class DurationPredictor(nn.Module):
    """Deterministic duration predictor: two conv-ReLU-LayerNorm blocks and a projection to log-durations."""

    def __init__(
        self, in_channels: int, filter_channels: int, kernel_size: int, gin_channels: int = 0, eps: float = 1e-5
    ) -> None:
        super().__init__()
        self.conv_1 = nn.Conv1d(in_channels, filter_channels, kernel_size, padding=kernel_size // 2)
        self.norm_1 = ChannelLayerNorm(filter_channels, eps=eps)
        self.conv_2 = nn.Conv1d(filter_channels, filter_channels, kernel_size, padding=kernel_size // 2)
        self.norm_2 = ChannelLayerNorm(filter_channels, eps=eps)
        self.conv_proj = nn.Conv1d(filter_channels, 1, 1)
        if gin_channels:
            self.cond = nn.Conv1d(gin_channels, in_channels, 1)

    def forward(
        self,
        x: torch.Tensor,
        x_mask: torch.Tensor,
        g: torch.Tensor | None = None,
        noise_scale: float | torch.Tensor = 1.0,
        generator: torch.Generator | None = None,
        noise: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Log-durations ``[b, 1, t]``; ``noise_scale``, ``generator`` and ``noise`` are accepted and unused."""
        if g is not None:
            x = x + self.cond(g)
        x = self.norm_1(torch.relu(self.conv_1(x * x_mask)))
        x = self.norm_2(torch.relu(self.conv_2(x * x_mask)))
        return self.conv_proj(x * x_mask) * x_mask
