"""Independent reference peer: small seeded transformers ``VitsModel``s, with every stage output captured.

Every parameter is re-drawn from a seeded generator (transformers zero-initialises parts of the flows, which would
make them the identity and hide bugs), and the duration predictor is shifted so a typical token lasts ~3 frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from transformers import VitsConfig, VitsModel

SMALL = dict(
    vocab_size=38,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    ffn_dim=64,
    flow_size=16,
    spectrogram_bins=33,
    upsample_initial_channel=64,
    upsample_rates=[8, 8, 2, 2],
    upsample_kernel_sizes=[16, 16, 4, 4],
    resblock_kernel_sizes=[3, 7, 11],
    resblock_dilation_sizes=[[1, 3, 5], [1, 3, 5], [1, 3, 5]],
    prior_encoder_num_wavenet_layers=3,
    posterior_encoder_num_wavenet_layers=3,
    duration_predictor_filter_channels=64,
    sampling_rate=16000,
    noise_scale=0.0,
    noise_scale_duration=0.0,
)


@dataclass(frozen=True)
class HFCase:
    """One small VitsConfig."""

    name: str
    overrides: dict = field(hash=False)

    def config(self) -> VitsConfig:
        return VitsConfig(**{**SMALL, **self.overrides})


CASES = {
    "single": HFCase("single", {}),
    "multi": HFCase("multi", dict(num_speakers=3, speaker_embedding_size=16)),
    "nosdp": HFCase("nosdp", dict(use_stochastic_duration_prediction=False)),
}


def _redraw(model: VitsModel, gen: torch.Generator) -> None:
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("original0"):  # weight-norm g: positive, near the norm of v
                continue
            if name.endswith(("layer_norm.weight", "norms_1.0.weight", "norm_1.weight", "norm_2.weight")) or (
                "norms_" in name and name.endswith("weight")
            ):
                param.copy_(1.0 + 0.1 * torch.randn(param.shape, generator=gen))
            elif param.ndim >= 2 and "emb_rel" not in name and "embed" not in name:
                fan_in = param[0].numel() if "upsampler" not in name else param.shape[0] * param.shape[2] / 4
                scale = fan_in**-0.5
                if "flows" in name and ("conv_proj" in name or "conv_post" in name):
                    scale *= 0.3
                param.copy_(torch.randn(param.shape, generator=gen) * scale)
            else:
                param.copy_(torch.randn(param.shape, generator=gen) * (0.3 if "emb" in name else 0.1))
        for name, param in model.named_parameters():
            if name.endswith("original0"):
                v = dict(model.named_parameters())[name[:-1] + "1"]
                norm = torch.norm_except_dim(v, 2, 0)
                param.copy_(norm * (0.5 + torch.rand(param.shape, generator=gen)))


def _log_durations(model: VitsModel, ids: list[int], speaker_id: int | None) -> torch.Tensor:
    return run(model, ids, speaker_id=speaker_id)["log_durations"]


def build(case: HFCase, seed: int = 0) -> VitsModel:
    """A seeded, sensitive, eval-mode VitsModel whose durations are a few frames per token.

    transformers' own initialisation (and the SDP's reverse pass) draw from the global RNG, so they run on a fork
    of it, seeded with ``seed``: the same seed gives the same model, and the caller's RNG is left untouched.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = VitsModel(case.config()).eval()
        _redraw(model, torch.Generator().manual_seed(seed))
        speaker = 0 if model.config.num_speakers > 1 else None
        logw = _log_durations(model, typical_ids(model.config, 0), speaker)
    shift = math.log(3.0) - logw.mean().item()
    with torch.no_grad():
        predictor = model.duration_predictor
        if model.config.use_stochastic_duration_prediction:
            # The last reverse step is (y - translate) * exp(-log_scale): shifting translate shifts log-durations.
            predictor.flows[0].translate[0] -= shift * torch.exp(predictor.flows[0].log_scale[0])
        else:
            predictor.proj.bias += shift
    return model


def typical_ids(config: VitsConfig, seed: int, n: int = 8) -> list[int]:
    """``n`` random symbols with blank 0 around and between them, as add_blank produces."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, config.vocab_size, (n,), generator=gen).tolist()
    out = [0]
    for token in ids:
        out += [token, 0]
    return out


def run(model: VitsModel, ids: list[int], *, speaker_id: int | None = None, speaking_rate: float | None = None) -> dict:
    """transformers' own forward, with the stage outputs captured by hooks."""
    captured: dict[str, torch.Tensor] = {}

    def keep(name):
        def hook(module, inputs, output):
            captured[name] = (inputs, output)

        return hook

    handles = [
        model.text_encoder.register_forward_hook(keep("text")),
        model.duration_predictor.register_forward_hook(keep("duration")),
        model.flow.register_forward_hook(keep("flow")),
    ]
    try:
        with torch.no_grad():
            out = model(
                torch.tensor([ids]),
                speaker_id=None if speaker_id is None else torch.tensor([speaker_id]),
                speaking_rate=speaking_rate,
            )
    finally:
        for handle in handles:
            handle.remove()
    text = captured["text"][1]
    return {
        "hidden": text.last_hidden_state,
        "prior_mean": text.prior_means,
        "prior_log_std": text.prior_log_variances,
        "log_durations": captured["duration"][1],
        "z_prior": captured["flow"][0][0],
        "z": captured["flow"][1],
        "waveform": out.waveform,
    }
