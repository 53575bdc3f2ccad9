"""Find the generator state dict inside a checkpoint object, as a format spec's container section describes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from .spec import ContainerSpec


@dataclass(frozen=True)
class Unwrapped:
    """The flat state dict, where it came from, and the other top-level entries with why they are skipped."""

    state_dict: dict[str, Tensor]
    location: str  # "" for a bare state dict, else the container key
    ignored: dict[str, str]
    embedded_config: Any = None  # the container's hyperparameter entry, when the spec names one


def _is_state_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and bool(obj) and all(
        isinstance(k, str) and isinstance(v, Tensor) for k, v in obj.items()
    )


def unwrap(obj: Any, container: ContainerSpec) -> tuple[Unwrapped | None, str]:
    """The state dict inside ``obj``, or None and the reason it is not there."""
    if not isinstance(obj, Mapping):
        return None, f"the checkpoint holds a {type(obj).__name__}, not a dict"
    for key in container.state_dict_keys:
        if key in obj:
            inner = obj[key]
            if not _is_state_dict(inner):
                return None, f"entry '{key}' is not a flat dict of tensors"
            ignored = {}
            for other in obj:
                if other in (key, container.config_key):
                    continue
                ignored[str(other)] = container.ignore.get(str(other), "not part of the generator's weights")
            embedded = obj.get(container.config_key) if container.config_key else None
            return Unwrapped(dict(inner), key, ignored, embedded), ""
    if container.bare_allowed and _is_state_dict(obj):
        return Unwrapped(dict(obj), "", {}), ""
    wanted = " or ".join(repr(k) for k in container.state_dict_keys) or "a flat dict of tensors"
    found = ", ".join(sorted(str(k) for k in obj)[:8])
    return None, f"expected {wanted}{' or a bare state dict' if container.bare_allowed and container.state_dict_keys else ''}; found entries: {found}"
