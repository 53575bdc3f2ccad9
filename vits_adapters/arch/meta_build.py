"""Build modules on the meta device without running their initialisers, which there compute nothing but cost imports."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

# In-place initialisers that module constructors call (torch.nn.init and the Tensor methods behind it). On a meta
# tensor each leaves shape and dtype unchanged, so skipping it changes nothing; running it routes through torch's
# Python reference kernels, whose first use imports torch._dynamo and sympy (about two seconds and 800 modules).
_INITIALISERS = frozenset(
    {
        "uniform_", "normal_", "zero_", "zeros_", "ones_", "fill_", "constant_", "trunc_normal_", "orthogonal_",
        "kaiming_uniform_", "kaiming_normal_", "xavier_uniform_", "xavier_normal_",
    }
)


class _SkipMetaInitialisers(TorchFunctionMode):
    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        target = args[0] if args else kwargs.get("tensor")
        if getattr(func, "__name__", "") in _INITIALISERS and isinstance(target, torch.Tensor) and target.is_meta:
            return target
        return func(*args, **kwargs)


@contextmanager
def meta_device_without_init() -> Iterator[None]:
    """Inside, modules are built on the meta device and their parameter initialisers are skipped.

    Example:
        >>> with meta_device_without_init():
        ...     layer = torch.nn.Conv1d(4, 4, 3)
        >>> layer.weight.is_meta
        True
    """
    with torch.device("meta"), _SkipMetaInitialisers():
        yield
