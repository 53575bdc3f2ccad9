"""Format names -> parsed format specs, read from the ``configs/`` folder."""

from __future__ import annotations

import difflib
from functools import lru_cache
from pathlib import Path

from ..errors import SpecError, UnknownNameError
from .spec import FormatSpec, parse_format

_SOURCE_CONFIGS = Path(__file__).resolve().parents[2] / "configs"
_PACKAGED_CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def configs_dir() -> Path:
    """The ``configs/`` folder: beside the package in a source checkout, inside it when installed as a wheel."""
    for candidate in (_SOURCE_CONFIGS, _PACKAGED_CONFIGS):
        if (candidate / "formats").is_dir():
            return candidate
    raise SpecError(f"no configs folder found (looked in {_SOURCE_CONFIGS} and {_PACKAGED_CONFIGS})")


@lru_cache(maxsize=None)
def _load_all(root: Path) -> dict[str, FormatSpec]:
    specs: dict[str, FormatSpec] = {}
    for path in sorted((root / "formats").glob("*.yaml")):
        spec = parse_format(path, root / "adapters")
        if spec.name in specs:
            raise SpecError(f"{path}: format name {spec.name!r} is declared twice")
        specs[spec.name] = spec
    return specs


def list_formats() -> list[str]:
    """Names of every format spec, sorted."""
    return sorted(_load_all(configs_dir()))


def get_format(name: str) -> FormatSpec:
    """The format spec called ``name``; an unknown name raises UnknownNameError listing close names."""
    specs = _load_all(configs_dir())
    if name not in specs:
        close = difflib.get_close_matches(name, specs, n=3) or sorted(specs)
        raise UnknownNameError(f"unknown format {name!r}; known formats: {', '.join(close)}")
    return specs[name]


def all_formats() -> list[FormatSpec]:
    """Every format spec, sorted by name."""
    specs = _load_all(configs_dir())
    return [specs[name] for name in sorted(specs)]
