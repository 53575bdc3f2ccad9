"""Walk the nested mappings a checkpoint holds and yield its tensors under dotted keys."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from torch import Tensor


def iter_tensors(obj: Any, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
    """Yield ``(dotted_key, tensor)`` for every tensor in nested mappings, skipping everything else."""
    if isinstance(obj, Tensor):
        yield prefix, obj
    elif isinstance(obj, Mapping):
        for key, value in obj.items():
            yield from iter_tensors(value, f"{prefix}.{key}" if prefix else str(key))
