"""The reference VITS generator: text encoder, duration predictor, flow, decoder, posterior encoder, speakers."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import parametrizations

from ...weightnorm.modules import fold_weight_norm
from ...components.duration import DurationPredictor, StochasticDurationPredictor
from ...components.chunked import decode_waveform
from ...components.hifigan import HiFiGANDecoder
from .hparams import VitsHParams
from ...components.layers import sequence_mask
from ...components.text_encoder import TextEncoder
from ...components.wavenet import PosteriorEncoder, ResidualCouplingFlow

WEIGHT_NORM_MODES = ("fold", "keep")


@dataclass(frozen=True)
class InferenceStages:
    """Intermediate tensors of one inference pass, for equivalence checks and inspection."""

    hidden: torch.Tensor
    prior_mean: torch.Tensor
    prior_log_std: torch.Tensor
    text_mask: torch.Tensor
    log_durations: torch.Tensor
    durations: torch.Tensor
    frame_lengths: torch.Tensor
    z_prior: torch.Tensor
    z: torch.Tensor
    waveform: torch.Tensor | None  # None when inferred with decode=False


def expand_by_durations(durations: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
    """Hard alignment ``[b, frames, tokens]``: frame ``t`` belongs to token ``i`` while ``t`` < cumsum(d)[i]."""
    ends = torch.cumsum(durations.squeeze(1), dim=-1)  # [b, tokens]
    starts = ends - durations.squeeze(1)
    frames = torch.arange(frame_mask.size(-1), device=durations.device, dtype=durations.dtype)
    frames = frames.view(1, -1, 1)
    path = (frames >= starts.unsqueeze(1)) & (frames < ends.unsqueeze(1))
    return path.to(durations.dtype) * frame_mask.transpose(1, 2)


_WEIGHTED = (nn.Conv1d, nn.ConvTranspose1d, nn.Linear)


class VitsGenerator(nn.Module):
    """The full VITS synthesizer (every generator weight, including training-only parts).

    Args:
        hparams: the model's hyperparameters.
        weight_norm: ``"fold"`` (plain weights, for inference) or ``"keep"`` (modern parametrized weight norm on
            the layers VITS trains with it, for fine-tuning).
        weight_norm_dims: the layers trained with weight norm and their ``dim``, as ``{full-match pattern: dim}``,
            exactly as a format's YAML declares them (``FormatSpec.weight_norm_dims``); ``"keep"`` needs them.
        posterior_encoder: build the posterior encoder (training and voice conversion only); leaving it out
            saves memory for pure text-to-speech.
    """

    def __init__(
        self,
        hparams: VitsHParams,
        *,
        weight_norm: str = "fold",
        weight_norm_dims: Mapping[str, int | None] | None = None,
        posterior_encoder: bool = True,
    ) -> None:
        super().__init__()
        if weight_norm not in WEIGHT_NORM_MODES:
            raise ValueError(f"weight_norm must be one of {WEIGHT_NORM_MODES}, got {weight_norm!r}")
        if weight_norm == "keep" and not weight_norm_dims:
            raise ValueError('weight_norm="keep" needs weight_norm_dims: the weight-norm layers a format declares')
        hp = hparams
        self.hparams = hp
        gin = hp.gin_channels
        # An unconditioned stochastic predictor has no speaker input; the deterministic one keeps it (Coqui).
        dp_gin = gin if hp.dp_condition_on_speaker or not hp.use_sdp else 0
        self.text_encoder = TextEncoder(
            hp.n_vocab,
            hp.inter_channels,
            hp.hidden_channels,
            hp.filter_channels,
            hp.n_heads,
            hp.n_layers,
            hp.kernel_size,
            hp.window_size,
        )
        self.decoder = HiFiGANDecoder(
            hp.inter_channels,
            hp.resblock,
            hp.resblock_kernel_sizes,
            hp.resblock_dilation_sizes,
            hp.upsample_rates,
            hp.upsample_initial_channel,
            hp.upsample_kernel_sizes,
            gin,
        )
        if posterior_encoder:
            self.posterior_encoder = PosteriorEncoder(
                hp.spec_channels,
                hp.inter_channels,
                hp.hidden_channels,
                hp.posterior_kernel_size,
                hp.posterior_dilation_rate,
                hp.posterior_n_layers,
                gin,
            )
        self.flow = ResidualCouplingFlow(
            hp.inter_channels,
            hp.hidden_channels,
            hp.flow_kernel_size,
            hp.flow_dilation_rate,
            hp.flow_n_layers,
            hp.flow_n_flows,
            gin,
        )
        if hp.use_sdp:
            self.duration_predictor: nn.Module = StochasticDurationPredictor(
                hp.hidden_channels,
                hp.sdp_filter_channels or hp.hidden_channels,
                hp.dp_kernel_size,
                hp.sdp_n_flows,
                hp.sdp_post_n_flows,
                hp.sdp_dds_layers,
                hp.sdp_num_bins,
                hp.sdp_tail_bound,
                dp_gin,
            )
        else:
            self.duration_predictor = DurationPredictor(
                hp.hidden_channels, hp.dp_filter_channels, hp.dp_kernel_size, dp_gin, hp.dp_layer_norm_eps
            )
        if hp.multi_speaker:
            self.embed_speaker = nn.Embedding(hp.n_speakers, hp.gin_channels)
        self.weight_norm = weight_norm
        self.weight_norm_dims = dict(weight_norm_dims or {})
        if weight_norm == "keep":
            for name in self.weight_norm_layer_names():
                parametrizations.weight_norm(self.get_submodule(name), dim=self.weight_norm_dim(name))

    def weight_norm_layer_names(self) -> list[str]:
        """Names of the layers with a weight that a declared weight-norm pattern fully matches."""
        patterns = [re.compile(p) for p in self.weight_norm_dims]
        return [
            name
            for name, module in self.named_modules()
            if isinstance(module, _WEIGHTED) and any(p.fullmatch(name) for p in patterns)
        ]

    def weight_norm_dim(self, name: str) -> int | None:
        """The declared weight-norm ``dim`` of layer ``name``; a layer no pattern declares is a ValueError."""
        for pattern, dim in self.weight_norm_dims.items():
            if re.fullmatch(pattern, name):
                return dim
        raise ValueError(f"layer {name!r} is not declared weight-normed (declared: {', '.join(self.weight_norm_dims)})")

    def fold_weight_norm(self) -> list[str]:
        """Fold every weight norm into a plain weight; returns the layer names changed."""
        folded = fold_weight_norm(self)
        self.weight_norm = "fold"
        return folded

    def speaker_embedding(self, speaker_ids: torch.Tensor | None) -> torch.Tensor | None:
        """Global conditioning ``[b, gin, 1]`` for multi-speaker models, else None."""
        if not self.hparams.multi_speaker:
            return None
        if speaker_ids is None:
            raise ValueError("this model has several speakers: pass a speaker id")
        return self.embed_speaker(speaker_ids).unsqueeze(-1)

    @torch.no_grad()
    def infer(
        self,
        token_ids: torch.Tensor,
        lengths: torch.Tensor | None = None,
        *,
        speaker_ids: torch.Tensor | None = None,
        noise_scale: float = 0.667,
        noise_scale_w: float = 0.8,
        length_scale: float = 1.0,
        generator: torch.Generator | None = None,
        decode: bool = True,
        speaker_embedding: torch.Tensor | None = None,
    ) -> InferenceStages:
        """Run text-to-speech for a batch of token ids ``[b, t]``; returns every stage's output.

        Noise is drawn only from ``generator`` (or torch's default generator when None). With ``decode=False``
        the decoder is skipped (``waveform`` is None), for callers that decode ``z`` themselves, e.g. in chunks.
        ``speaker_embedding`` ``[b, gin_channels]`` conditions a voice that has no speaker table of its own
        (an external d-vector, YourTTS-style) in place of ``speaker_ids``.
        """
        if lengths is None:
            lengths = torch.full((token_ids.size(0),), token_ids.size(1), dtype=torch.long, device=token_ids.device)
        hidden, prior_mean, prior_log_std, text_mask = self.text_encoder(token_ids, lengths)
        g = self.speaker_embedding(speaker_ids) if speaker_embedding is None else speaker_embedding.unsqueeze(-1)
        log_durations = self.duration_predictor(
            hidden,
            text_mask,
            g if self.hparams.dp_condition_on_speaker else None,
            noise_scale=noise_scale_w,
            generator=generator,
        )
        durations = torch.ceil(torch.exp(log_durations) * text_mask * length_scale)
        frame_lengths = torch.clamp_min(torch.sum(durations, [1, 2]), 1).long()
        frame_mask = sequence_mask(frame_lengths, int(frame_lengths.max())).unsqueeze(1).to(hidden.dtype)
        alignment = expand_by_durations(durations, frame_mask)  # [b, frames, tokens]
        mean = torch.matmul(alignment, prior_mean.transpose(1, 2)).transpose(1, 2)
        log_std = torch.matmul(alignment, prior_log_std.transpose(1, 2)).transpose(1, 2)
        # Same call as the original's randn_like on the same (transposed) layout, so a seeded generator
        # reproduces the original's noisy output too.
        noise = torch.empty_like(mean).normal_(generator=generator)
        z_prior = mean + noise * torch.exp(log_std) * noise_scale
        z = self.flow(z_prior, frame_mask, g, reverse=True)
        waveform = decode_waveform(self.decoder, z * frame_mask, g, self.hparams) if decode else None
        return InferenceStages(
            hidden=hidden,
            prior_mean=prior_mean,
            prior_log_std=prior_log_std,
            text_mask=text_mask,
            log_durations=log_durations,
            durations=durations,
            frame_lengths=frame_lengths,
            z_prior=z_prior,
            z=z,
            waveform=waveform,
        )
