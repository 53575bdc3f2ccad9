"""Read the hyperparameter and text settings that a checkpoint's config file declares, per layout."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import SpecError, UnknownNameError

# Original VITS `model` section entries that never reach the generator (see FORMATS.md 1.1).
_ORIGINAL_UNUSED_MODEL_FIELDS = {"n_layers_q": "posterior layers are hard-coded to 16", "use_spectral_norm": "discriminator only"}
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


@dataclass(frozen=True)
class ConfigInfo:
    """What a config file says: hyperparameter fields, text-frontend settings, and values only checked."""

    hparams: dict[str, Any]
    text: dict[str, Any] = field(default_factory=dict)
    checks: dict[str, Any] = field(default_factory=dict)  # e.g. hop_length, compared with the decoder
    ignored: dict[str, str] = field(default_factory=dict)  # field -> why it does not shape the generator
    source: str = ""
    has_posterior_encoder: bool = True  # False for a voice saved after loading with inference_only=True


def _typed(section: Mapping[str, Any], name: str, kind: Any, where: str) -> Any:
    value = section[name]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        expected = "/".join(k.__name__ for k in kinds)
        raise SpecError(f"{where}: field '{name}' must be {expected}, got {type(value).__name__} ({value!r})")
    return value


def read_original_config(data: Mapping[str, Any], source: str = "config") -> ConfigInfo:
    """Original VITS trainer config: ``{"train": ..., "data": ..., "model": ...}``."""
    if not isinstance(data, Mapping) or not isinstance(data.get("model"), Mapping):
        raise SpecError(f"{source}: an original VITS config needs a 'model' section (and usually 'data' and 'train')")
    model = data["model"]
    where = f"{source} [model]"
    unknown = sorted(set(model) - set(_ORIGINAL_MODEL_FIELDS) - set(_ORIGINAL_UNUSED_MODEL_FIELDS))
    if unknown:
        raise SpecError(f"{where}: unknown field(s) {', '.join(unknown)}; this is not an original VITS generator config")
    hparams = {name: _typed(model, name, kind, where) for name, kind in _ORIGINAL_MODEL_FIELDS.items() if name in model}
    if "resblock" in hparams:
        hparams["resblock"] = str(hparams["resblock"])
    ignored = {f"model.{k}": why for k, why in _ORIGINAL_UNUSED_MODEL_FIELDS.items() if k in model}
    checks: dict[str, Any] = {}
    text: dict[str, Any] = {}
    section = data.get("data", {})
    if not isinstance(section, Mapping):
        raise SpecError(f"{source}: field 'data' must be a mapping")
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
    return ConfigInfo(hparams=hparams, text=text, checks=checks, ignored=ignored, source=source)


def read_own_config(data: Mapping[str, Any], source: str = "config") -> ConfigInfo:
    """Our saved form: ``{"format": "vits-adapters", "hparams": {...}, "text": {...}}``."""
    if not isinstance(data, Mapping) or data.get("format") != "vits-adapters" or not isinstance(data.get("hparams"), Mapping):
        raise SpecError(f"{source}: not a vits-adapters config (needs \"format\": \"vits-adapters\" and an 'hparams' mapping)")
    unknown = sorted(set(data) - {"format", "hparams", "text", "source", "library", "components"})
    if unknown:
        raise SpecError(f"{source}: unknown field(s) {', '.join(unknown)}")
    text = data.get("text") or {}
    if not isinstance(text, Mapping):
        raise SpecError(f"{source}: field 'text' must be a mapping")
    components = data.get("components") or {}
    if not isinstance(components, Mapping) or set(components) - {"posterior_encoder"}:
        raise SpecError(f"{source}: field 'components' may only hold 'posterior_encoder' (true/false)")
    return ConfigInfo(
        hparams=dict(data["hparams"]),
        text=dict(text),
        source=source,
        has_posterior_encoder=bool(components.get("posterior_encoder", True)),
    )


CONFIG_READERS: dict[str, Callable[[Mapping[str, Any], str], ConfigInfo]] = {
    "vits-original": read_original_config,
    "vits-adapters": read_own_config,
}


def read_config(reader: str, config: Mapping[str, Any] | str | Path, source: str | None = None) -> ConfigInfo:
    """Parse ``config`` (a dict or a JSON file path) with the named reader."""
    if reader not in CONFIG_READERS:
        raise UnknownNameError(f"unknown config reader {reader!r}; known: {', '.join(sorted(CONFIG_READERS))}")
    if isinstance(config, (str, Path)):
        path = Path(config)
        source = source or str(path)
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise SpecError(f"{path}: cannot read the config as JSON ({err})") from err
    return CONFIG_READERS[reader](config, source or "config")
