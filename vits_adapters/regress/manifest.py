"""Parse and validate a regression manifest (YAML): the cases to synthesize and the tolerances to compare with."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from ..errors import ManifestError
from ..hub.fetch import is_repo_id

_CASE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_TOP_LEVEL = frozenset({"cases", "tolerances"})


@dataclass(frozen=True)
class Tolerances:
    """How far a re-synthesized waveform may drift from its golden before the case fails.

    The length must always match exactly. The defaults sit between float noise and a real change: sample noise
    of 1e-6 (another CPU or BLAS) measures about 3e-6, 2e-6, 7e-6 and 5e-5, while adding 1e-3 to one decoder conv
    weight of a small test voice measures about 2e-2, 6e-3, 2e-2 and 9e-2.
    """

    waveform_max_abs: float = 1e-4
    """Largest absolute sample difference."""
    waveform_rel_rms: float = 1e-4
    """RMS of the difference divided by the golden's RMS."""
    logmel_mean_abs_db: float = 1e-3
    """Mean absolute log-mel difference in dB (bins below the golden's peak minus 80 dB are clamped there)."""
    logmel_max_abs_db: float = 5e-3
    """Largest absolute log-mel difference in dB (same clamping)."""

    def to_dict(self) -> dict[str, float]:
        """Field name -> value."""
        return {item.name: getattr(self, item.name) for item in fields(self)}


@dataclass(frozen=True)
class RegressionCase:
    """One synthesis to reproduce: where the voice comes from, the input and every synthesis parameter."""

    name: str
    source: str
    seed: int
    token_ids: tuple[int, ...] | None = None
    text: str | None = None
    speaker_id: int | None = None
    noise_scale: float | None = None
    noise_scale_w: float | None = None
    length_scale: float | None = None
    format: str = "auto"
    config: str | None = None
    revision: str | None = None
    tolerances: Tolerances = field(default_factory=Tolerances)

    def parameters(self) -> dict[str, Any]:
        """The case's fields as plain JSON-shaped values (tolerances as a dict)."""
        data = {item.name: getattr(self, item.name) for item in fields(self)}
        data["token_ids"] = list(self.token_ids) if self.token_ids is not None else None
        data["tolerances"] = self.tolerances.to_dict()
        return data


@dataclass(frozen=True)
class Manifest:
    """The parsed manifest: its cases in file order and the folder relative paths resolve against."""

    cases: tuple[RegressionCase, ...]
    base_dir: Path
    origin: str


def _where(index: int, name: object) -> str:
    return f"case {name!r}" if isinstance(name, str) and name else f"case #{index + 1}"


def _number(value: object, what: str, origin: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ManifestError(f"{origin}: {what} must be a finite number, got {value!r}")
    return float(value)


def _integer(value: object, what: str, origin: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ManifestError(f"{origin}: {what} must be an integer, got {value!r}")
    return value


def _tolerances(data: object, base: Tolerances, what: str, origin: str) -> Tolerances:
    if not isinstance(data, Mapping):
        raise ManifestError(f"{origin}: {what} must be a mapping of tolerance name -> number, got {data!r}")
    known = base.to_dict()
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ManifestError(f"{origin}: {what} has unknown field(s) {unknown}; known: {sorted(known)}")
    values = {}
    for key, value in data.items():
        number = _number(value, f"{what}.{key}", origin)
        if number < 0:
            raise ManifestError(f"{origin}: {what}.{key} must be >= 0, got {value!r}")
        values[key] = number
    return replace(base, **values)


def _resolve_source(source: str, base_dir: Path) -> str:
    """A path relative to the manifest's folder when one exists there (or the value is path-shaped), else a repo id."""
    candidate = (base_dir / os.path.expanduser(source)).resolve()
    if candidate.exists() or not is_repo_id(source):
        return str(candidate)
    return source


def _case(index: int, data: object, defaults: Tolerances, base_dir: Path, origin: str) -> RegressionCase:
    if not isinstance(data, Mapping):
        raise ManifestError(f"{origin}: case #{index + 1} must be a mapping, got {type(data).__name__}")
    name = data.get("name")
    where = f"{origin}: {_where(index, name)}"
    known = {item.name for item in fields(RegressionCase)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ManifestError(f"{where}: unknown field(s) {unknown}; known: {sorted(known)}")
    if not isinstance(name, str) or not _CASE_NAME.fullmatch(name):
        raise ManifestError(
            f"{where}: field 'name' must be letters, digits, '.', '_' or '-' (it names the golden files), got {name!r}"
        )
    for required in ("source", "seed"):
        if required not in data:
            raise ManifestError(f"{where}: field {required!r} is required")
    source = data["source"]
    if not isinstance(source, str) or not source.strip():
        raise ManifestError(f"{where}: field 'source' must be a Hub repo id, folder or checkpoint file, got {source!r}")
    values: dict[str, Any] = {
        "name": name,
        "source": _resolve_source(source, base_dir),
        "seed": _integer(data["seed"], "field 'seed'", where),
    }
    if ("token_ids" in data) == ("text" in data):
        raise ManifestError(f"{where}: give exactly one of the fields 'token_ids' and 'text'")
    if "token_ids" in data:
        ids = data["token_ids"]
        if not isinstance(ids, list) or not ids:
            raise ManifestError(f"{where}: field 'token_ids' must be a non-empty list of integers, got {ids!r}")
        values["token_ids"] = tuple(_integer(t, "field 'token_ids'", where) for t in ids)
    else:
        text = data["text"]
        if not isinstance(text, str) or not text.strip():
            raise ManifestError(f"{where}: field 'text' must be a non-empty string, got {text!r}")
        values["text"] = text
    if data.get("speaker_id") is not None:
        values["speaker_id"] = _integer(data["speaker_id"], "field 'speaker_id'", where)
    for key in ("noise_scale", "noise_scale_w", "length_scale"):
        if data.get(key) is not None:
            values[key] = _number(data[key], f"field {key!r}", where)
    for key in ("format", "revision"):
        if key in data:
            if not isinstance(data[key], str) or not data[key]:
                raise ManifestError(f"{where}: field {key!r} must be a non-empty string, got {data[key]!r}")
            values[key] = data[key]
    if "config" in data:
        if not isinstance(data["config"], str) or not data["config"]:
            raise ManifestError(f"{where}: field 'config' must be a path, got {data['config']!r}")
        values["config"] = str((base_dir / os.path.expanduser(data["config"])).resolve())
    values["tolerances"] = _tolerances(data.get("tolerances", {}), defaults, "field 'tolerances'", where)
    return RegressionCase(**values)


def parse_manifest(data: object, *, base_dir: str | os.PathLike[str], origin: str = "manifest") -> Manifest:
    """Validate manifest data (as read from YAML) into a :class:`Manifest`.

    Args:
        data: ``{"cases": [...], "tolerances": {...}}``; top-level tolerances are every case's defaults.
        base_dir: the folder relative ``source`` and ``config`` paths resolve against.
        origin: how error messages name the manifest (its path).

    Raises:
        ManifestError: a missing, unknown or ill-typed field, or a repeated case name; the message names the
            case and the field.
    """
    if not isinstance(data, Mapping):
        raise ManifestError(f"{origin}: the manifest must be a mapping with a 'cases' list, got {type(data).__name__}")
    unknown = sorted(set(data) - _TOP_LEVEL)
    if unknown:
        raise ManifestError(f"{origin}: unknown top-level field(s) {unknown}; known: {sorted(_TOP_LEVEL)}")
    cases = data.get("cases")
    if not isinstance(cases, list) or not cases:
        raise ManifestError(f"{origin}: field 'cases' must be a non-empty list of cases")
    defaults = _tolerances(data.get("tolerances", {}), Tolerances(), "field 'tolerances'", origin)
    base = Path(base_dir)
    parsed = tuple(_case(index, item, defaults, base, origin) for index, item in enumerate(cases))
    seen: set[str] = set()
    for case in parsed:
        if case.name.lower() in seen:  # names become file names; keep them distinct on case-insensitive disks
            raise ManifestError(f"{origin}: case {case.name!r}: field 'name' is used by another case")
        seen.add(case.name.lower())
    return Manifest(cases=parsed, base_dir=base, origin=origin)


def load_manifest(path: str | os.PathLike[str]) -> Manifest:
    """Read and validate a manifest file; relative paths inside it resolve against its folder.

    Raises:
        ManifestError: the file is missing, not YAML, or invalid (see :func:`parse_manifest`).
    """
    target = Path(path)
    try:
        text = target.read_text(encoding="utf-8")
    except OSError as err:
        raise ManifestError(f"{target}: cannot read the manifest ({err.strerror or err})") from err
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ManifestError(f"{target}: not valid YAML: {err}") from err
    return parse_manifest(data, base_dir=target.resolve().parent, origin=str(target))
