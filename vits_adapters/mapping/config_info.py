"""ConfigInfo: what a checkpoint's config file says, in the reference generator's terms."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ConfigInfo:
    """What a config file says: hyperparameter fields, text-frontend settings, and values only checked."""

    hparams: dict[str, Any]
    text: dict[str, Any] = field(default_factory=dict)
    checks: dict[str, Any] = field(default_factory=dict)  # e.g. hop_length, compared with the decoder
    ignored: dict[str, str] = field(default_factory=dict)  # field as written in the file -> why it is not read
    source: str = ""
    has_posterior_encoder: bool = True  # False for a voice saved after loading with inference_only=True
    synthesis: dict[str, float] = field(default_factory=dict)  # default noise_scale, noise_scale_w, length_scale
    original: dict[str, Any] = field(default_factory=dict)  # the config as read, for writing the same family back
    original_format: str = ""  # the layout ``original`` belongs to, when not the one read (our saved form)
