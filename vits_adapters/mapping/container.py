"""Find the generator state dict inside a checkpoint object, as a format spec's container section describes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor

from ..io.nested_tensors import iter_tensors
from .spec import ContainerSpec


@dataclass(frozen=True)
class Unwrapped:
    """The flat state dict, where it came from, and the other top-level entries with why they are skipped."""

    state_dict: dict[str, Tensor]
    location: str  # "" for a bare state dict, else the container key
    ignored: dict[str, str]
    embedded_config: Any = None  # the container's hyperparameter entry, when the spec names one
    assumed: dict[str, str] = field(default_factory=dict)  # choices the container did not settle (for the report)


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
            ignored, assumed = {}, {}
            for other in obj:
                if other in (key, container.config_key):
                    continue
                if str(other) in container.ignore:
                    ignored[str(other)] = container.ignore[str(other)]
                elif held := sum(1 for _ in iter_tensors(obj[other])):
                    # Tensors the layout does not name: maybe an EMA copy of the generator, maybe another model.
                    ignored[str(other)] = f"holds {held} tensor(s) this layout does not name; NOT loaded"
                    assumed[f"container entry '{other}'"] = (
                        f"not the generator: its weights were taken from '{key}', as the layout stores them "
                        f"('{other}' holds {held} tensors, e.g. an EMA copy); extract it yourself to load it instead"
                    )
                else:
                    ignored[str(other)] = "holds no tensors (metadata the layout does not name)"
            embedded = obj.get(container.config_key) if container.config_key else None
            return Unwrapped(dict(inner), key, ignored, embedded, assumed), ""
    if container.bare_allowed and _is_state_dict(obj):
        return Unwrapped(dict(obj), "", {}), ""
    wanted = " or ".join(repr(k) for k in container.state_dict_keys) or "a flat dict of tensors"
    found = ", ".join(sorted(str(k) for k in obj)[:8])
    return None, f"expected {wanted}{' or a bare state dict' if container.bare_allowed and container.state_dict_keys else ''}; found entries: {found}"
