"""Read a Coqui ``VitsConfig`` (embedded in the checkpoint or its config.json) in the reference generator's terms."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .config_fields import COQUI_INERT, ignored_fields
from ..mapping.config_info import ConfigInfo
from ..errors import SpecError
from ..arch.vits.hparams import check_hparam_types

# Coqui VitsArgs field -> our hyperparameter(s).
COQUI_FIELDS: dict[str, tuple[str, ...]] = {
    "num_chars": ("n_vocab",),
    "out_channels": ("spec_channels",),
    "hidden_channels": ("hidden_channels", "inter_channels"),
    "hidden_channels_ffn_text_encoder": ("filter_channels",),
    "num_heads_text_encoder": ("n_heads",),
    "num_layers_text_encoder": ("n_layers",),
    "kernel_size_text_encoder": ("kernel_size",),
    "kernel_size_posterior_encoder": ("posterior_kernel_size",),
    "dilation_rate_posterior_encoder": ("posterior_dilation_rate",),
    "num_layers_posterior_encoder": ("posterior_n_layers",),
    "kernel_size_flow": ("flow_kernel_size",),
    "dilation_rate_flow": ("flow_dilation_rate",),
    "num_layers_flow": ("flow_n_layers",),
    "resblock_type_decoder": ("resblock",),
    "resblock_kernel_sizes_decoder": ("resblock_kernel_sizes",),
    "resblock_dilation_sizes_decoder": ("resblock_dilation_sizes",),
    "upsample_rates_decoder": ("upsample_rates",),
    "upsample_initial_channel_decoder": ("upsample_initial_channel",),
    "upsample_kernel_sizes_decoder": ("upsample_kernel_sizes",),
    "use_sdp": ("use_sdp",),
    "condition_dp_on_speaker": ("dp_condition_on_speaker",),
}
# Coqui features the reference generator does not have: a true value cannot be represented.
_COQUI_UNSUPPORTED = ("use_language_embedding", "use_d_vector_file", "interpolate_z")
_COQUI_SYNTHESIS = ("inference_noise_scale", "inference_noise_scale_dp", "length_scale")
_COQUI_TEXT = ("characters", "add_blank", "use_phonemes", "text_cleaner", "enable_eos_bos_chars")
_COQUI_READ_TOP = ("model_args", "audio", "speakers", *_COQUI_TEXT)
_COQUI_READ_ARGS = (
    *COQUI_FIELDS, *_COQUI_UNSUPPORTED, *_COQUI_SYNTHESIS, "use_speaker_embedding", "num_speakers", "encoder_sample_rate"
)


def _coqui_speaker_count(config: Mapping[str, Any]) -> int | None:
    """Speakers a Coqui config declares for its embedding table (older: ``num_speakers``; newer: ``speakers``)."""
    args = config["model_args"]
    if not args.get("use_speaker_embedding"):
        return None
    if args.get("num_speakers"):
        return args["num_speakers"]
    names = config.get("speakers")
    return len(names) if isinstance(names, list) and names else None


def read_coqui_config(data: Mapping[str, Any], source: str = "config", *, strict: bool = True) -> ConfigInfo:
    """Coqui ``VitsConfig``: the checkpoint's embedded ``config`` (``data["embedded"]``) or config.json (``data["file"]``).

    ``strict`` refuses unknown fields.
    """
    wrapped = "embedded" in data or "file" in data
    config = (data.get("embedded") or data.get("file")) if wrapped else data
    if not isinstance(config, Mapping) or not isinstance(config.get("model_args"), Mapping):
        raise SpecError(f"{source}: a Coqui VITS config needs a 'model_args' section")
    args = config["model_args"]
    audio = config.get("audio") or {}
    if not isinstance(audio, Mapping):
        raise SpecError(f"{source}: field 'audio' must be a mapping")
    ignored = ignored_fields(
        [
            ("", config, _COQUI_READ_TOP, COQUI_INERT[""]),
            ("model_args.", args, _COQUI_READ_ARGS, COQUI_INERT["model_args"]),
            ("audio.", audio, ("sample_rate", "hop_length"), COQUI_INERT["audio"]),
        ],
        source=source,
        strict=strict,
    )
    hparams: dict[str, Any] = {}
    labels: dict[str, str] = {}
    for name, targets in COQUI_FIELDS.items():
        if args.get(name) is not None:
            for target in targets:
                hparams[target] = args[name]
                labels[target] = f"model_args.{name}"
    if isinstance(hparams.get("resblock"), int):
        hparams["resblock"] = str(hparams["resblock"])
    speakers = _coqui_speaker_count(config)
    if speakers is not None:
        hparams["n_speakers"] = speakers
        labels["n_speakers"] = "model_args.num_speakers / speakers"
    unsupported = [name for name in _COQUI_UNSUPPORTED if args.get(name)]
    if "interpolate_z" in unsupported and args.get("encoder_sample_rate") is None:
        unsupported.remove("interpolate_z")  # interpolation only acts with an encoder sample rate
    if unsupported:
        raise SpecError(f"{source}: the reference VITS generator has no equivalent of: {', '.join(unsupported)}")
    checks: dict[str, Any] = {}
    if audio.get("sample_rate") is not None:
        hparams["sampling_rate"] = audio["sample_rate"]
        labels["sampling_rate"] = "audio.sample_rate"
    check_hparam_types(hparams, labels, source)
    if audio.get("hop_length") is not None:
        checks["hop_length"] = audio["hop_length"]
    synthesis = {}
    for name, key in zip(_COQUI_SYNTHESIS, ("noise_scale", "noise_scale_w", "length_scale")):
        if isinstance(args.get(name), (int, float)):
            synthesis[key] = float(args[name])
    text = {"coqui": {k: config[k] for k in _COQUI_TEXT if k in config}} if config.get("characters") else {}
    return ConfigInfo(
        hparams=hparams, text=text, checks=checks, ignored=ignored, source=source, synthesis=synthesis,
        original=dict(config),
    )
