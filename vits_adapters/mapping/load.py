"""Load converted tensors into a model: every model tensor filled exactly once, or a typed error listing keys."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..errors import CheckpointReadError, StateDictMismatchError, format_keys

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadOutcome:
    """Gaps left by a load (empty when strict) and the dtype casts applied."""

    missing: tuple[str, ...]
    unexpected: tuple[str, ...]
    mismatched: tuple[str, ...]
    casts: dict[str, int]


def _all_finite(tensor: Tensor) -> bool:
    # A finite sum proves every element finite (NaN and Inf propagate); only a sum that is not finite, which
    # overflow can also cause, needs the element-wise check. The sum is ~100x faster than isfinite on CPU.
    return bool(torch.isfinite(tensor.sum())) or bool(torch.isfinite(tensor).all())


def refuse_non_finite(tensors: Mapping[str, Tensor], *, source: str) -> None:
    """Raise CheckpointReadError naming every floating tensor that holds NaN or Inf."""
    bad = sorted(key for key, t in tensors.items() if t.is_floating_point() and not _all_finite(t))
    if bad:
        raise CheckpointReadError(
            f"{source}: {len(bad)} tensor(s) hold NaN or Inf values; the checkpoint is corrupt or was saved after a "
            "diverged training step:\n" + format_keys(bad)
        )


def compare_keys(
    state_dict: Mapping[str, Tensor],
    expected: Mapping[str, tuple[tuple[int, ...], torch.dtype]],
    name: Callable[[str], str] = str,
) -> tuple[list[str], list[str], list[str]]:
    """Missing, unexpected and mis-shaped keys, each named by ``name`` (mis-shaped: "key: source (..) vs model (..)")."""
    missing = sorted(map(name, set(expected) - set(state_dict)))
    unexpected = sorted(map(name, set(state_dict) - set(expected)))
    mismatched = sorted(
        f"{name(key)}: source {tuple(state_dict[key].shape)} vs model {expected[key][0]}"
        for key in set(state_dict) & set(expected)
        if tuple(state_dict[key].shape) != expected[key][0]
    )
    return missing, unexpected, mismatched


def load_converted(
    model: nn.Module,
    state_dict: Mapping[str, Tensor],
    *,
    strict: bool = True,
    unmapped: tuple[str, ...] = (),
    name: Callable[[str], str] = str,
) -> LoadOutcome:
    """Load ``state_dict`` into ``model`` (which may live on the meta device when ``strict``).

    Floating tensors are cast to the model's dtype. With ``strict`` any gap raises; ``strict=False`` loads what
    fits and returns the gaps, which the caller must report. ``name`` turns a model key into the name errors and
    the returned gaps use (the key as the user's file stores it); ``unmapped`` keys are already source names.

    Raises:
        StateDictMismatchError: missing, unexpected (including ``unmapped`` source keys) or mis-shaped keys.
    """
    expected = {key: (tuple(t.shape), t.dtype) for key, t in model.state_dict(keep_vars=True).items()}
    missing, unexpected, mismatched = compare_keys(state_dict, expected, name)
    unexpected = sorted(set(unexpected) | set(unmapped))
    if strict and (missing or unexpected or mismatched):
        raise StateDictMismatchError(
            "the checkpoint does not fill the model exactly; nothing was loaded (check that the config belongs to "
            "these weights; strict=False loads what fits and lists the gaps in the report)",
            missing=missing,
            unexpected=unexpected,
            mismatched=mismatched,
        )
    casts: Counter[str] = Counter()
    ready: dict[str, Tensor] = {}
    for key, tensor in state_dict.items():
        if key not in expected or tuple(tensor.shape) != expected[key][0]:
            continue
        dtype = expected[key][1]
        if tensor.dtype != dtype and tensor.is_floating_point():
            casts[f"{tensor.dtype} -> {dtype}".replace("torch.", "")] += 1
            tensor = tensor.to(dtype)
        ready[key] = tensor
    on_meta = any(p.is_meta for p in model.parameters())
    if on_meta and not strict:
        raise ValueError("strict=False needs a model with initialised parameters, not one on the meta device")
    model.load_state_dict(ready, strict=strict, assign=on_meta)
    logger.info("loaded %d tensors (%d missing, %d unexpected)", len(ready), len(missing), len(unexpected))
    return LoadOutcome(tuple(missing), tuple(unexpected), tuple(mismatched), dict(casts))
