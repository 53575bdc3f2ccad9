"""The generator's text-to-speech path as a traceable module whose every input and output is a tensor."""

from __future__ import annotations

import torch
from torch import nn

from ..arch.vits.generator import VitsGenerator, expand_by_durations

NOISE_MODES = ("graph", "inputs")
OUTPUT_NAMES = ("waveform", "waveform_lengths")


class OnnxInferenceGraph(nn.Module):
    """``VitsGenerator.infer`` restated with tensor-only control flow, so one trace serves every input length.

    The frame count comes from the predicted durations, so it stays a tensor (``torch.arange`` of it) instead of a
    Python int; everything else calls the generator's own modules.

    Inputs, in ``input_names`` order:
        token_ids ``[b, t]`` int64, token_lengths ``[b]`` int64, noise_scale, length_scale, noise_scale_w (0-d
        float32); speaker_ids ``[b]`` int64 for a multi-speaker model; with ``noise="inputs"`` also the
        standard-normal draws duration_noise ``[b, 2, t]`` and prior_noise ``[b, inter_channels, F]`` with ``F`` at
        least the frame count (only its first frames are used).

    Outputs:
        waveform ``[b, samples]`` float32 (zero-padded past each item's length) and waveform_lengths ``[b]`` int64.

    Args:
        generator: a folded (``weight_norm="fold"``) generator in eval mode.
        noise: ``"graph"`` draws the noise inside the model (RandomNormalLike, unseeded); ``"inputs"`` takes it as
            inputs, which makes a run reproducible and comparable with PyTorch's for any noise scale.
    """

    def __init__(self, generator: VitsGenerator, *, noise: str = "graph") -> None:
        super().__init__()
        if noise not in NOISE_MODES:
            raise ValueError(f"noise must be one of {NOISE_MODES}, got {noise!r}")
        self.generator = generator
        self.noise = noise
        names = ["token_ids", "token_lengths", "noise_scale", "length_scale", "noise_scale_w"]
        if generator.hparams.multi_speaker:
            names.append("speaker_ids")
        if noise == "inputs":
            names += ["duration_noise", "prior_noise"]
        self.input_names = tuple(names)

    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        """Variable axes per input and output name, for ``torch.onnx.export``."""
        axes = {
            "token_ids": {0: "batch", 1: "tokens"},
            "token_lengths": {0: "batch"},
            "speaker_ids": {0: "batch"},
            "duration_noise": {0: "batch", 2: "tokens"},
            "prior_noise": {0: "batch", 2: "noise_frames"},
            "waveform": {0: "batch", 1: "samples"},
            "waveform_lengths": {0: "batch"},
        }
        return {name: axes[name] for name in (*self.input_names, *OUTPUT_NAMES) if name in axes}

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        named = dict(zip(self.input_names, inputs, strict=True))
        gen = self.generator
        hidden, prior_mean, prior_log_std, text_mask = gen.text_encoder(named["token_ids"], named["token_lengths"])
        g = gen.speaker_embedding(named.get("speaker_ids"))
        duration_noise = named.get("duration_noise")
        if duration_noise is None:
            duration_noise = torch.randn_like(text_mask.expand(-1, 2, -1))
        log_durations = gen.duration_predictor(
            hidden,
            text_mask,
            g if gen.hparams.dp_condition_on_speaker else None,
            noise_scale=named["noise_scale_w"],
            noise=duration_noise,
        )
        durations = torch.ceil(torch.exp(log_durations) * text_mask * named["length_scale"])
        frame_lengths = torch.clamp_min(torch.sum(durations, [1, 2]), 1).long()
        frames = torch.arange(frame_lengths.max(), device=frame_lengths.device)
        frame_mask = (frames.unsqueeze(0) < frame_lengths.unsqueeze(1)).unsqueeze(1).to(hidden.dtype)
        alignment = expand_by_durations(durations, frame_mask)  # [b, frames, tokens]
        mean = torch.matmul(alignment, prior_mean.transpose(1, 2)).transpose(1, 2)
        log_std = torch.matmul(alignment, prior_log_std.transpose(1, 2)).transpose(1, 2)
        prior_noise = named.get("prior_noise")
        prior_noise = torch.randn_like(mean) if prior_noise is None else prior_noise[:, :, : mean.size(2)]
        z_prior = mean + prior_noise * torch.exp(log_std) * named["noise_scale"]
        z = gen.flow(z_prior, frame_mask, g, reverse=True)
        waveform = gen.decoder(z * frame_mask, g).squeeze(1)
        waveform_lengths = frame_lengths * gen.hparams.hop_length
        samples = torch.arange(waveform.size(1), device=waveform.device)
        sample_mask = (samples.unsqueeze(0) < waveform_lengths.unsqueeze(1)).to(waveform.dtype)
        return waveform * sample_mask, waveform_lengths
