"""Build each layout's config file from a voice's hyperparameters and text settings; refuse what a layout cannot hold."""

from __future__ import annotations

from importlib import metadata as importlib_metadata
from typing import TYPE_CHECKING, Any

import torch

from .config_reader_coqui import COQUI_FIELDS
from .config_readers import TRANSFORMERS_FIELDS, TRANSFORMERS_FIXED, plain_value
from ..errors import SpecError, format_keys
from ..arch.vits.hparams import VitsHParams

if TYPE_CHECKING:
    from ..voice import Voice

# Original VITS configs can only express these; anything else differs from what its code hard-codes.
_ORIGINAL_FIXED = {
    "sdp_filter_channels": None,
    "dp_layer_norm_eps": 1e-5,
    "dp_condition_on_speaker": True,
    "window_size": 4,
    "flow_n_flows": 4,
    "flow_n_layers": 4,
    "flow_kernel_size": 5,
    "flow_dilation_rate": 1,
    "posterior_n_layers": 16,
    "posterior_kernel_size": 5,
    "posterior_dilation_rate": 1,
    "dp_filter_channels": 256,
    "dp_kernel_size": 3,
    "sdp_n_flows": 4,
    "sdp_post_n_flows": 4,
    "sdp_num_bins": 10,
    "sdp_tail_bound": 5.0,
    "sdp_dds_layers": 3,
}


def _library_versions() -> dict[str, str]:
    try:
        ours = importlib_metadata.version("vits-adapters")
    except importlib_metadata.PackageNotFoundError:
        ours = "unknown"
    return {"vits_adapters": ours, "torch": torch.__version__}


def own_config(voice: Voice) -> dict[str, Any]:
    text = voice.frontend.to_dict() if voice.frontend is not None else dict(voice.text_settings)
    report = voice.report
    config = {
        "format": "vits-adapters",
        "hparams": voice.config.to_dict(),
        "components": {"posterior_encoder": hasattr(voice.generator, "posterior_encoder")},
        "text": text,
        "source": {"source": report.source, "format": report.format, "revision": report.revision},
        "library": _library_versions(),
    }
    if voice.source_config:  # the source layout's own config, so the voice can be written back to that layout
        config["source_config"] = voice.source_config
    return config


def _original_model_section(voice: Voice, layout: str) -> dict[str, Any]:
    """The original trainer's ``model`` settings; refuses what its hard-coded sizes cannot hold."""
    hp = voice.config
    if not hasattr(voice.generator, "posterior_encoder"):
        raise SpecError(
            f"the {layout} layout needs the posterior encoder, which this voice dropped (inference_only=True); "
            "load it again without inference_only to write this layout"
        )
    fixed = {name: getattr(hp, name) for name in _ORIGINAL_FIXED if getattr(hp, name) != _ORIGINAL_FIXED[name]}
    if fixed:
        raise SpecError(
            f"the {layout} layout cannot represent these hyperparameters (its code hard-codes them):\n"
            + format_keys(f"{k}={v!r} (original: {_ORIGINAL_FIXED[k]!r})" for k, v in fixed.items())
        )
    return {
        k: v
        for k, v in hp.to_dict().items()
        if k in VitsHParams.__dataclass_fields__ and k not in _ORIGINAL_FIXED
        and k not in ("n_vocab", "spec_channels", "n_speakers", "sampling_rate")
    }


def original_config(voice: Voice) -> dict[str, Any]:
    """The original VITS trainer's config.json (train / data / model sections)."""
    hp = voice.config
    model = _original_model_section(voice, "original VITS")
    text = voice.frontend.to_dict() if voice.frontend is not None else voice.text_settings
    filter_length = (hp.spec_channels - 1) * 2
    return {
        "train": {"segment_size": 32 * hp.hop_length},
        "data": {
            "sampling_rate": hp.sampling_rate,
            "filter_length": filter_length,
            "hop_length": hp.hop_length,
            "win_length": filter_length,
            "n_mel_channels": 80,
            "add_blank": bool(text.get("add_blank", True)),
            "n_speakers": hp.n_speakers,
            "text_cleaners": list(text.get("cleaners", [])),
            "cleaned_text": True,
        },
        "model": model,
    }


def piper_hyper_parameters(voice: Voice) -> dict[str, Any]:
    """The ``hyper_parameters`` a Piper Lightning checkpoint carries (plain Python values only)."""
    hp = voice.config
    model = _original_model_section(voice, "Piper")
    filter_length = (hp.spec_channels - 1) * 2
    return {
        **{k: plain_value(v) for k, v in model.items()},
        "num_symbols": hp.n_vocab,
        "num_speakers": max(hp.n_speakers, 1),
        "sample_rate": hp.sampling_rate,
        "filter_length": filter_length,
        "hop_length": hp.hop_length,
        "win_length": filter_length,
        "segment_size": 32 * hp.hop_length,
    }


def piper_voice_config(voice: Voice) -> dict[str, Any]:
    """A Piper voice config (the ``.onnx.json`` layout) for the voice."""
    hp = voice.config
    defaults = voice.synthesis_defaults
    config: dict[str, Any] = {
        "audio": {"sample_rate": hp.sampling_rate},
        "num_symbols": hp.n_vocab,
        "num_speakers": max(hp.n_speakers, 1),
        "inference": {
            "noise_scale": defaults["noise_scale"],
            "length_scale": defaults["length_scale"],
            "noise_w": defaults["noise_scale_w"],
        },
    }
    config.update(voice.text_settings.get("piper", {}))
    return config


def transformers_config(voice: Voice) -> dict[str, Any]:
    """A transformers ``VitsConfig`` dict for the voice; raises SpecError for what VitsModel cannot hold."""
    hp = voice.config
    problems = []
    if hp.resblock != "1":
        problems.append(f"resblock={hp.resblock!r} (VitsHifiGan implements only resblock '1')")
    values = hp.to_dict()
    for name, targets in TRANSFORMERS_FIELDS.items():
        if len({repr(values[target]) for target in targets}) > 1:
            held = ", ".join(f"{target}={values[target]!r}" for target in targets)
            problems.append(f"{held} (VitsConfig has one field for them: {name})")
    if not hasattr(voice.generator, "posterior_encoder"):
        problems.append("no posterior encoder (loaded with inference_only=True); VitsModel always has one")
    if hp.sdp_filter_channels not in (None, hp.hidden_channels):
        problems.append(f"sdp_filter_channels={hp.sdp_filter_channels} (VitsModel's stochastic predictor is hidden_size wide)")
    if hp.dp_layer_norm_eps != 1e-5:
        problems.append(f"dp_layer_norm_eps={hp.dp_layer_norm_eps} (VitsModel uses layer_norm_eps 1e-5 throughout)")
    if not hp.dp_condition_on_speaker:
        problems.append("an unconditioned duration predictor (VitsModel conditions it on the speaker)")
    if problems:
        raise SpecError("transformers' VitsModel cannot represent this voice:\n" + format_keys(problems))
    config: dict[str, Any] = {"model_type": "vits", "architectures": ["VitsModel"]}
    for name, targets in TRANSFORMERS_FIELDS.items():
        value = values[targets[0]]
        config[name] = plain_value(value)
    config["num_speakers"] = max(hp.n_speakers, 1)
    defaults = voice.synthesis_defaults
    config.update(
        noise_scale=defaults["noise_scale"],
        noise_scale_duration=defaults["noise_scale_w"],
        speaking_rate=1.0 / defaults["length_scale"],
    )
    config.update(TRANSFORMERS_FIXED)
    config["pad_token_id"] = 0
    return config


def coqui_config(voice: Voice) -> dict[str, Any]:
    """The Coqui ``VitsConfig`` the voice was loaded with, checked against its hyperparameters.

    Coqui rebuilds its vocabulary from the config's ``characters``, which only a Coqui voice carries, so
    only voices loaded from Coqui can be written back to it.
    """
    source = voice.source_config
    if source.get("format") != "coqui":
        raise SpecError(
            "the coqui layout needs Coqui's own characters/audio config, which only a voice loaded from a Coqui "
            "checkpoint carries; write this voice as vits-adapters, vits-original, transformers or piper instead"
        )
    config = source["config"]
    values = voice.config.to_dict()
    drifted = [
        f"{name}: config {config['model_args'][name]!r}, voice {values[targets[0]]!r}"
        for name, targets in COQUI_FIELDS.items()
        if name in config["model_args"] and plain_value(config["model_args"][name]) != plain_value(values[targets[0]])
    ]
    if drifted:
        raise SpecError("the voice no longer matches its Coqui config:\n" + format_keys(drifted))
    return config
