"""Small WaveNet- and HiFi-GAN-style models with every layer type weight norm meets, in any weight-norm form."""

from __future__ import annotations

import warnings

import torch
from torch import nn
from torch.nn.utils import parametrizations

FORMS = ("plain", "legacy", "parametrized")
DIMS = (0, 1, None)


class WaveNetStyle(nn.Module):
    """Gated dilated residual stack with a Linear global condition (Conv1d, dilated Conv1d, Linear)."""

    def __init__(self, channels: int = 8, layers: int = 3, cond: int = 5) -> None:
        super().__init__()
        self.channels = channels
        self.pre = nn.Conv1d(2, channels, 1)
        self.cond = nn.Linear(cond, 2 * channels * layers)
        self.dilated = nn.ModuleList(nn.Conv1d(channels, 2 * channels, 3, dilation=2**i, padding=2**i) for i in range(layers))
        self.res_skip = nn.ModuleList(nn.Conv1d(channels, 2 * channels, 1) for _ in range(layers))
        self.post = nn.Conv1d(channels, 2, 1)

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        h = self.pre(x)
        conds = self.cond(g).unsqueeze(-1).chunk(len(self.dilated), dim=1)
        skip = torch.zeros_like(h)
        for dilated, res_skip, c in zip(self.dilated, self.res_skip, conds):
            z = dilated(h) + c
            a, b = z.chunk(2, dim=1)
            r, s = res_skip(torch.tanh(a) * torch.sigmoid(b)).chunk(2, dim=1)
            h = h + r
            skip = skip + s
        return self.post(skip)


class HiFiGANStyle(nn.Module):
    """Upsampling vocoder: conv_pre, ConvTranspose1d upsamplers, dilated resblocks, conv_post, Linear condition."""

    def __init__(self, channels: int = 8, cond: int = 5) -> None:
        super().__init__()
        self.cond = nn.Linear(cond, channels)
        self.conv_pre = nn.Conv1d(3, channels, 7, padding=3)
        self.ups = nn.ModuleList(
            [nn.ConvTranspose1d(channels, channels // 2, 4, stride=2, padding=1),
             nn.ConvTranspose1d(channels // 2, channels // 4, 6, stride=3, padding=2, output_padding=1)]
        )
        self.resblocks = nn.ModuleList(
            nn.ModuleList(nn.Conv1d(c, c, 3, dilation=d, padding=d) for d in (1, 3)) for c in (channels // 2, channels // 4)
        )
        self.conv_post = nn.Conv1d(channels // 4, 1, 7, padding=3)

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        h = self.conv_pre(x) + self.cond(g).unsqueeze(-1)
        for up, block in zip(self.ups, self.resblocks):
            h = up(nn.functional.leaky_relu(h, 0.1))
            for conv in block:
                h = h + conv(nn.functional.leaky_relu(h, 0.1))
        return torch.tanh(self.conv_post(h))


MODELS = {"wavenet": WaveNetStyle, "hifigan": HiFiGANStyle}
INPUT_CHANNELS = {"wavenet": 2, "hifigan": 3}


def normed_layers(model: nn.Module) -> list[nn.Module]:
    """Every Conv/ConvTranspose/Linear layer."""
    return [m for m in model.modules() if isinstance(m, (nn.Conv1d, nn.ConvTranspose1d, nn.Linear))]


def build(kind: str, form: str, dim: int | None, *, seed: int) -> nn.Module:
    """A seeded model with weight norm in ``form`` at ``dim`` on every layer; g is re-drawn so it is not ||v||.

    Weights have unit gain (std 1/sqrt(fan-in)), so activations stay O(1) and float32 rounding of the weights
    (about 1e-7 relative, which torch's own weight norm also makes) is not amplified past 1e-6 at the output.
    """
    torch.manual_seed(seed)
    model = MODELS[kind]()
    for layer in normed_layers(model):
        fan_in = layer.weight.numel() // layer.weight.shape[1 if isinstance(layer, nn.ConvTranspose1d) else 0]
        with torch.no_grad():
            layer.weight.normal_(0.0, fan_in**-0.5)
            layer.bias.normal_(0.0, 0.1)
        if form == "legacy":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                torch.nn.utils.weight_norm(layer, dim=dim)
        elif form == "parametrized":
            parametrizations.weight_norm(layer, dim=dim)
        if form != "plain":
            g = layer.weight_g if form == "legacy" else layer.parametrizations.weight.original0
            with torch.no_grad():
                g.mul_(torch.empty_like(g).uniform_(0.5, 1.5))
    return model.eval()


def inputs(kind: str, *, seed: int = 123) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(2, INPUT_CHANNELS[kind], 11, generator=generator)
    g = torch.randn(2, 5, generator=generator)
    return x, g


def run(model: nn.Module, kind: str) -> torch.Tensor:
    with torch.no_grad():
        return model(*inputs(kind))
