"""Decide which format spec describes a checkpoint, from its container, key names and metadata."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .container import Unwrapped, unwrap
from ..errors import FormatDetectionError
from .spec import FormatSpec


@dataclass(frozen=True)
class Detection:
    """The matching spec and the unwrapped state dict."""

    spec: FormatSpec
    unwrapped: Unwrapped


def _why_not(spec: FormatSpec, unwrapped: Unwrapped, metadata: dict[str, str]) -> str:
    keys = list(unwrapped.state_dict)
    for pattern in spec.detect.require:
        if not any(pattern.fullmatch(k) for k in keys):
            return f"no key matches required pattern {pattern.pattern!r}"
    for pattern in spec.detect.forbid:
        hit = next((k for k in keys if pattern.fullmatch(k)), None)
        if hit:
            return f"key {hit!r} matches forbidden pattern {pattern.pattern!r}"
    for name, value in spec.detect.metadata.items():
        if metadata.get(name) != value:
            return f"metadata {name}={metadata.get(name)!r}, expected {value!r}"
    for name, value in spec.detect.forbid_metadata.items():
        if metadata.get(name) == value:
            return f"metadata {name}={value!r} marks another format"
    return ""


def detect_format(content: Any, metadata: dict[str, str], candidates: Sequence[FormatSpec], *, source: str) -> Detection:
    """The one spec among ``candidates`` that matches; zero or several matches raise FormatDetectionError."""
    matches: list[Detection] = []
    reasons: list[str] = []
    for spec in candidates:
        unwrapped, reason = unwrap(content, spec.container)
        if unwrapped is not None:
            reason = _why_not(spec, unwrapped, metadata)
        if unwrapped is not None and not reason:
            matches.append(Detection(spec, unwrapped))
        else:
            reasons.append(f"  {spec.name}: {reason}")
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise FormatDetectionError(
            f"{source}: no known checkpoint format matches. Each candidate and why it was rejected:\n"
            + "\n".join(reasons)
            + "\nIf this is a VITS checkpoint in another layout, add a format spec under configs/formats/."
        )
    names = ", ".join(d.spec.name for d in matches)
    raise FormatDetectionError(f"{source}: several formats match ({names}); pass format= to choose one")
