"""Read the hyperparameter and text settings that a checkpoint's config file declares, per layout.

Coqui's reader lives in ``config_reader_coqui``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .config_fields import ORIGINAL_INERT, PIPER_INERT, TRANSFORMERS_INERT, ignored_fields
from ..mapping.config_info import ConfigInfo
from .config_reader_coqui import read_coqui_config
from ..errors import ConfigMismatchError, SpecError, UnknownNameError
from ..arch.vits.hparams import check_hparam_types

_ORIGINAL_MODEL_FIELDS = {
    "inter_channels": int,
    "hidden_channels": int,
    "filter_channels": int,
    "n_heads": int,
    "n_layers": int,
    "kernel_size": int,
    "p_dropout": (int, float),
    "resblock": (str, int),
    "resblock_kernel_sizes": list,
    "resblock_dilation_sizes": list,
    "upsample_rates": list,
    "upsample_initial_channel": int,
    "upsample_kernel_sizes": list,
    "gin_channels": int,
    "use_sdp": bool,
}
_ORIGINAL_DATA_FIELDS = ("sampling_rate", "filter_length", "n_speakers", "hop_length", "text_cleaners", "add_blank", "cleaned_text")


def _typed(section: Mapping[str, Any], name: str, kind: Any, where: str) -> Any:
    value = section[name]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        expected = "/".join(k.__name__ for k in kinds)
        raise SpecError(f"{where}: field '{name}' must be {expected}, got {type(value).__name__} ({value!r})")
    return value


def read_original_config(data: Mapping[str, Any], source: str = "config", *, strict: bool = True) -> ConfigInfo:
    """Original VITS trainer config: ``{"train": ..., "data": ..., "model": ...}``; ``strict`` refuses unknown fields."""
    if not isinstance(data, Mapping) or not isinstance(data.get("model"), Mapping):
        raise SpecError(f"{source}: an original VITS config needs a 'model' section (and usually 'data' and 'train')")
    model = data["model"]
    section = data.get("data", {})
    for name in ("data", "train"):
        if not isinstance(data.get(name, {}), Mapping):
            raise SpecError(f"{source}: field '{name}' must be a mapping")
    ignored = ignored_fields(
        [
            ("", data, ("train", "data", "model"), {}),
            ("train.", data.get("train", {}), (), ORIGINAL_INERT["train"]),
            ("data.", section, _ORIGINAL_DATA_FIELDS, ORIGINAL_INERT["data"]),
            ("model.", model, _ORIGINAL_MODEL_FIELDS, ORIGINAL_INERT["model"]),
        ],
        source=source,
        strict=strict,
    )
    where = f"{source} [model]"
    hparams = {name: _typed(model, name, kind, where) for name, kind in _ORIGINAL_MODEL_FIELDS.items() if name in model}
    if "resblock" in hparams:
        hparams["resblock"] = str(hparams["resblock"])
    checks: dict[str, Any] = {}
    text: dict[str, Any] = {}
    where = f"{source} [data]"
    if "sampling_rate" in section:
        hparams["sampling_rate"] = _typed(section, "sampling_rate", int, where)
    if "filter_length" in section:
        hparams["spec_channels"] = _typed(section, "filter_length", int, where) // 2 + 1
    if "n_speakers" in section:
        hparams["n_speakers"] = _typed(section, "n_speakers", int, where)
    if "hop_length" in section:
        checks["hop_length"] = _typed(section, "hop_length", int, where)
    if "text_cleaners" in section:
        text["cleaners"] = list(_typed(section, "text_cleaners", list, where))
    if "add_blank" in section:
        text["add_blank"] = _typed(section, "add_blank", bool, where)
    if "cleaned_text" in section:
        text["cleaned_text"] = _typed(section, "cleaned_text", bool, where)
    labels = {name: f"model.{name}" for name in model}
    labels.update(sampling_rate="data.sampling_rate", spec_channels="data.filter_length", n_speakers="data.n_speakers")
    check_hparam_types(hparams, labels, source)
    return ConfigInfo(hparams=hparams, text=text, checks=checks, ignored=ignored, source=source)


def read_own_config(data: Mapping[str, Any], source: str = "config", *, strict: bool = True) -> ConfigInfo:
    """Our saved form: ``{"format": "vits-adapters", "hparams": {...}, "text": {...}}``.

    ``strict`` is taken for a uniform reader signature only: our own layout has no foreign fields to let through.
    """
    if not isinstance(data, Mapping) or data.get("format") != "vits-adapters" or not isinstance(data.get("hparams"), Mapping):
        raise SpecError(f"{source}: not a vits-adapters config (needs \"format\": \"vits-adapters\" and an 'hparams' mapping)")
    unknown = sorted(set(data) - {"format", "hparams", "text", "source", "library", "components", "source_config"})
    if unknown:
        raise SpecError(f"{source}: unknown field(s) {', '.join(unknown)}")
    text = data.get("text") or {}
    if not isinstance(text, Mapping):
        raise SpecError(f"{source}: field 'text' must be a mapping")
    components = data.get("components") or {}
    if not isinstance(components, Mapping) or set(components) - {"posterior_encoder"}:
        raise SpecError(f"{source}: field 'components' may only hold 'posterior_encoder' (true/false)")
    check_hparam_types(data["hparams"], {name: f"hparams.{name}" for name in data["hparams"]}, source)
    layout = data.get("source_config") or {}
    if not isinstance(layout, Mapping) or layout and not (isinstance(layout.get("format"), str)
                                                         and isinstance(layout.get("config"), Mapping)):
        raise SpecError(f"{source}: field 'source_config' must be {{\"format\": name, \"config\": {{...}}}}")
    return ConfigInfo(
        hparams=dict(data["hparams"]),
        text=dict(text),
        source=source,
        has_posterior_encoder=bool(components.get("posterior_encoder", True)),
        original=dict(layout.get("config") or {}),
        original_format=layout.get("format", ""),
    )


# VitsConfig field -> our hyperparameter(s).
TRANSFORMERS_FIELDS: dict[str, tuple[str, ...]] = {
    "vocab_size": ("n_vocab",),
    "hidden_size": ("hidden_channels",),
    "num_hidden_layers": ("n_layers",),
    "num_attention_heads": ("n_heads",),
    "window_size": ("window_size",),
    "ffn_dim": ("filter_channels",),
    "ffn_kernel_size": ("kernel_size",),
    "flow_size": ("inter_channels",),
    "spectrogram_bins": ("spec_channels",),
    "upsample_initial_channel": ("upsample_initial_channel",),
    "upsample_rates": ("upsample_rates",),
    "upsample_kernel_sizes": ("upsample_kernel_sizes",),
    "resblock_kernel_sizes": ("resblock_kernel_sizes",),
    "resblock_dilation_sizes": ("resblock_dilation_sizes",),
    "use_stochastic_duration_prediction": ("use_sdp",),
    "num_speakers": ("n_speakers",),
    "speaker_embedding_size": ("gin_channels",),
    "prior_encoder_num_flows": ("flow_n_flows",),
    "prior_encoder_num_wavenet_layers": ("flow_n_layers",),
    "posterior_encoder_num_wavenet_layers": ("posterior_n_layers",),
    "wavenet_kernel_size": ("flow_kernel_size", "posterior_kernel_size"),
    "wavenet_dilation_rate": ("flow_dilation_rate", "posterior_dilation_rate"),
    "duration_predictor_filter_channels": ("dp_filter_channels",),
    "duration_predictor_kernel_size": ("dp_kernel_size",),
    "duration_predictor_num_flows": ("sdp_n_flows", "sdp_post_n_flows"),
    "duration_predictor_flow_bins": ("sdp_num_bins",),
    "duration_predictor_tail_bound": ("sdp_tail_bound",),
    "depth_separable_num_layers": ("sdp_dds_layers",),
    "sampling_rate": ("sampling_rate",),
}
# VitsConfig fields the reference generator hard-codes: any other value cannot be represented.
TRANSFORMERS_FIXED: dict[str, Any] = {
    "leaky_relu_slope": 0.1,
    "depth_separable_channels": 2,
    "hidden_act": "relu",
    "use_bias": True,
    "layer_norm_eps": 1e-5,
}
_TRANSFORMERS_SYNTHESIS = ("speaking_rate", "noise_scale", "noise_scale_duration")


def read_transformers_config(data: Mapping[str, Any], source: str = "config", *, strict: bool = True) -> ConfigInfo:
    """transformers ``VitsConfig`` JSON (``"model_type": "vits"``); ``strict`` refuses unknown fields."""
    if not isinstance(data, Mapping) or data.get("model_type") != "vits":
        raise SpecError(f"{source}: not a transformers VITS config (needs \"model_type\": \"vits\")")
    read = {"model_type", *TRANSFORMERS_FIELDS, *TRANSFORMERS_FIXED, *_TRANSFORMERS_SYNTHESIS}
    ignored = ignored_fields([("", data, read, TRANSFORMERS_INERT)], source=source, strict=strict)
    hparams: dict[str, Any] = {}
    labels: dict[str, str] = {}
    for name, targets in TRANSFORMERS_FIELDS.items():
        if name in data and data[name] is not None:
            for target in targets:
                hparams[target] = data[name]
                labels[target] = name
    check_hparam_types(hparams, labels, source)
    unsupported = [
        f"{name}={data[name]!r} (the reference generator uses {value!r})"
        for name, value in TRANSFORMERS_FIXED.items()
        if name in data and data[name] != value
    ]
    if unsupported:
        raise SpecError(f"{source}: the reference VITS generator cannot represent: " + "; ".join(unsupported))
    hparams["resblock"] = "1"  # VitsHifiGan only implements ResBlock1
    text = {}
    if isinstance(data.get("speaking_rate"), (int, float)) and data["speaking_rate"]:
        text["length_scale"] = 1.0 / data["speaking_rate"]
    for name, key in (("noise_scale", "noise_scale"), ("noise_scale_duration", "noise_scale_w")):
        if isinstance(data.get(name), (int, float)):
            text[key] = data[name]
    return ConfigInfo(hparams=hparams, synthesis=text, ignored=ignored, source=source)


# Lightning hyper_parameters of Piper's VitsModel -> our hyperparameters (same meaning, other names).
_PIPER_RENAMES = {"num_symbols": "n_vocab", "num_speakers": "n_speakers", "sample_rate": "sampling_rate"}
_PIPER_MODEL_FIELDS = set(_ORIGINAL_MODEL_FIELDS) | set(_PIPER_RENAMES)


def plain_value(value: Any) -> Any:
    """JSON-shaped Python values: numpy scalars unwrapped, tuples (at any depth) as lists."""
    if hasattr(value, "item") and callable(value.item) and not isinstance(value, (list, tuple, dict)):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [plain_value(v) for v in value]
    return value


def read_piper_config(data: Mapping[str, Any], source: str = "config", *, strict: bool = True) -> ConfigInfo:
    """Piper: Lightning ``hyper_parameters`` (``data["embedded"]``) and/or the voice's ``.onnx.json`` (``data["file"]``).

    ``strict`` refuses unknown ``hyper_parameters`` fields.
    """
    training = {k: plain_value(v) for k, v in (data.get("embedded") or {}).items()}
    voice = data.get("file") or {}
    if not training and not voice:
        raise SpecError(f"{source}: a Piper checkpoint needs its hyper_parameters or the voice's .onnx.json")
    read = {*_PIPER_MODEL_FIELDS, "filter_length", "hop_length"}
    ignored = ignored_fields([("hyper_parameters.", training, read, PIPER_INERT)], source=source, strict=strict)
    hparams: dict[str, Any] = {}
    for name, value in training.items():
        if name in _PIPER_MODEL_FIELDS and value is not None:
            hparams[_PIPER_RENAMES.get(name, name)] = value
    if "filter_length" in training:
        hparams["spec_channels"] = int(training["filter_length"]) // 2 + 1
    if isinstance(hparams.get("resblock"), int):
        hparams["resblock"] = str(hparams["resblock"])
    renamed_from = {ours: theirs for theirs, ours in _PIPER_RENAMES.items()}
    check_hparam_types(
        hparams, {name: f"hyper_parameters.{renamed_from.get(name, name)}" for name in hparams}, source
    )
    checks = {"hop_length": training["hop_length"]} if "hop_length" in training else {}
    if voice:
        audio = voice.get("audio") or {}
        for name, label, value in (
            ("sampling_rate", "audio.sample_rate", audio.get("sample_rate")),
            ("n_vocab", "num_symbols", voice.get("num_symbols")),
            ("n_speakers", "num_speakers", voice.get("num_speakers")),
        ):
            if value is None:
                continue
            check_hparam_types({name: value}, {name: label}, source)
            if hparams.setdefault(name, value) != value:
                raise ConfigMismatchError(
                    f"{source}: the voice config says {name}={value} ({label}), the checkpoint {hparams[name]}; "
                    "pass the voice config that belongs to this checkpoint"
                )
    synthesis = {}
    inference = voice.get("inference") or {}
    for name, key in (("noise_scale", "noise_scale"), ("noise_w", "noise_scale_w"), ("length_scale", "length_scale")):
        if isinstance(inference.get(name), (int, float)):
            synthesis[key] = float(inference[name])
    text_keys = ("phoneme_id_map", "espeak", "phoneme_type", "vowel_clusters")
    text = {"piper": {k: voice[k] for k in text_keys if k in voice}} if voice.get("phoneme_id_map") else {}
    return ConfigInfo(hparams=hparams, text=text, checks=checks, ignored=ignored, source=source, synthesis=synthesis)


CONFIG_READERS: dict[str, Callable[..., ConfigInfo]] = {
    "vits-original": read_original_config,
    "vits-adapters": read_own_config,
    "transformers": read_transformers_config,
    "piper": read_piper_config,
    "coqui": read_coqui_config,
}


def read_json(path: str | Path) -> Any:
    """A JSON config file's content; unreadable or invalid JSON is a SpecError naming the file."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise SpecError(f"{path}: cannot read the config as JSON ({err})") from err


def read_config(
    reader: str, config: Mapping[str, Any] | str | Path, source: str | None = None, *, strict: bool = True
) -> ConfigInfo:
    """Parse ``config`` (a dict or a JSON file path) with the named reader.

    ``strict`` (default) refuses fields that are neither read nor known to be inert (UnknownConfigFieldError);
    with ``strict=False`` they are recorded in ``ConfigInfo.ignored`` as unknown.
    """
    if reader not in CONFIG_READERS:
        raise UnknownNameError(f"unknown config reader {reader!r}; known: {', '.join(sorted(CONFIG_READERS))}")
    if isinstance(config, (str, Path)):
        source = source or str(config)
        config = read_json(config)
    return CONFIG_READERS[reader](config, source or "config", strict=strict)
