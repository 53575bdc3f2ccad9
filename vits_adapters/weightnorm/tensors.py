"""Convert weight-norm layer weights between plain, legacy and parametrized state-dict forms."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from types import EllipsisType

import torch
from torch import Tensor

from vits_adapters.errors import KeyMappingError, format_keys

FORMS: tuple[str, ...] = ("plain", "legacy", "parametrized")

# Key suffixes per form, in (g, v) order; "plain" has the single weight.
_SUFFIXES: dict[str, tuple[str, ...]] = {
    "plain": ("weight",),
    "legacy": ("weight_g", "weight_v"),
    "parametrized": (
        "parametrizations.weight.original0",
        "parametrizations.weight.original1",
    ),
}


def _join(prefix: str, suffix: str) -> str:
    return f"{prefix}.{suffix}" if prefix else suffix


def _shape(shape: Iterable[int]) -> str:
    return str(tuple(shape))


def weight_keys(prefix: str, form: str) -> tuple[str, ...]:
    """State-dict keys of layer ``prefix`` in ``form``, ordered (g, v) for the split forms."""
    suffixes = _SUFFIXES.get(form)
    if suffixes is None:
        raise ValueError(f"unknown weight form {form!r}: expected one of {', '.join(FORMS)}")
    return tuple(_join(prefix, suffix) for suffix in suffixes)


def parse_weight_key(key: str) -> tuple[str, str] | None:
    """Split a weight key into (module prefix, form), or return None for any other key."""
    for form, suffixes in _SUFFIXES.items():
        for suffix in suffixes:
            if key == suffix:
                return "", form
            if key.endswith("." + suffix):
                return key[: -len(suffix) - 1], form
    return None


def group_weight_keys(keys: Iterable[str], *, label: Callable[[str], str] = str) -> dict[str, str]:
    """Map each module prefix with weight keys to its form; mixed or incomplete layers raise.

    ``label`` names a key in the messages (e.g. as the user's file stores it).
    """
    found: dict[str, dict[str, set[str]]] = {}
    for key in keys:
        parsed = parse_weight_key(key)
        if parsed is None:
            continue
        prefix, form = parsed
        found.setdefault(prefix, {}).setdefault(form, set()).add(key)

    problems: list[str] = []
    grouped: dict[str, str] = {}
    for prefix, by_form in found.items():
        present = {key for keys_of_form in by_form.values() for key in keys_of_form}
        if len(by_form) > 1:
            forms = ", ".join(form for form in FORMS if form in by_form)
            problems.append(
                f"layer {prefix!r} mixes weight forms ({forms}); expected one form, found:\n"
                f"{format_keys(map(label, present))}"
            )
            continue
        (form,) = by_form
        missing = [key for key in weight_keys(prefix, form) if key not in present]
        if missing:
            problems.append(
                f"layer {prefix!r} has an incomplete {form} weight pair; expected "
                f"{' and '.join(map(label, weight_keys(prefix, form)))}, found:\n{format_keys(map(label, present))}\n"
                f"missing:\n{format_keys(map(label, missing))}"
            )
            continue
        grouped[prefix] = form
    if problems:
        raise KeyMappingError("\n".join(problems))
    return grouped


def _broadcast_shape(v_shape: torch.Size, dim: int | None) -> tuple[int, ...]:
    if dim is None:
        return ()
    return tuple(size if axis == dim else 1 for axis, size in enumerate(v_shape))


def _check_dim(dim: object, ndim: int, *, key: str, what: str) -> None:
    if dim is None:
        return
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 0:
        raise KeyMappingError(
            f"weight-norm dim for {key!r} must be a non-negative int or None, found {dim!r}"
        )
    if dim >= ndim:
        raise KeyMappingError(
            f"weight-norm dim for {key!r} is out of range: expected 0 <= dim < {ndim} "
            f"for {what}, found {dim}"
        )


def _check_floating(tensor: Tensor, *, key: str, role: str) -> None:
    if not tensor.is_floating_point():
        raise KeyMappingError(
            f"weight-norm {role} for {key!r} must be a floating-point tensor, found {tensor.dtype}"
        )


def check_weight_norm_dim(g: Tensor, v: Tensor, dim: int | None, *, key: str) -> None:
    """Raise KeyMappingError naming ``key`` unless g has torch's broadcast shape for (v, dim)."""
    _check_dim(dim, v.ndim, key=key, what=f"v with shape {_shape(v.shape)}")
    expected = _broadcast_shape(v.shape, dim)
    if tuple(g.shape) == expected:
        return
    fitting = [
        "None" if candidate is None else str(candidate)
        for candidate in (*range(v.ndim), None)
        if tuple(g.shape) == _broadcast_shape(v.shape, candidate)
    ]
    hint = f" (g would fit dim {' or '.join(fitting)})" if fitting else ""
    raise KeyMappingError(
        f"weight-norm g for {key!r} does not fit dim {dim}: expected shape {_shape(expected)} "
        f"for v with shape {_shape(v.shape)}, found {_shape(g.shape)}{hint}"
    )


def _compute_dtype(*tensors: Tensor) -> torch.dtype:
    if any(tensor.dtype == torch.float64 for tensor in tensors):
        return torch.float64
    return torch.float32


def _norm_except(v: Tensor, dim: int | None) -> Tensor:
    """2-norm of ``v`` over every dim but ``dim``, in the broadcast shape (0-dim for None)."""
    if dim is None:
        return torch.linalg.vector_norm(v)
    others = tuple(axis for axis in range(v.ndim) if axis != dim)
    if not others:  # a 1-d v normalised along its only dim: each entry is its own slice
        return v.abs()
    return torch.linalg.vector_norm(v, dim=others, keepdim=True)


def _fold(g: Tensor, v: Tensor, dim: int | None) -> Tensor:
    """The effective weight in the compute dtype; slices where v is all zero fold to zero."""
    dtype = _compute_dtype(g, v)
    g_c = g.detach().to(dtype)
    v_c = v.detach().to(dtype)
    norm = _norm_except(v_c, dim)
    scale = torch.where(norm > 0, g_c / norm, torch.zeros_like(norm))
    return v_c * scale


def _unfold(
    weight: Tensor, dim: int | None, g_dtype: torch.dtype, v_dtype: torch.dtype
) -> tuple[Tensor, Tensor]:
    source = weight.detach()
    g = _norm_except(source.to(_compute_dtype(source)), dim).to(g_dtype)
    v = source.to(v_dtype, copy=True)
    return g, v


def fold_weight_norm(g: Tensor, v: Tensor, dim: int | None, *, key: str) -> Tensor:
    """Return the effective weight ``g * v / ||v||`` as a new tensor in v's dtype.

    Computes in float32 (float64 if either input is float64); a slice of v that is
    all zero yields zeros rather than NaN.
    """
    _check_floating(g, key=key, role="g")
    _check_floating(v, key=key, role="v")
    check_weight_norm_dim(g, v, dim, key=key)
    return _fold(g, v, dim).to(v.dtype)


def unfold_weight_norm(weight: Tensor, dim: int | None, *, key: str) -> tuple[Tensor, Tensor]:
    """Return (g, v) as torch's weight_norm would: v is a copy, g its norm except ``dim``."""
    _check_floating(weight, key=key, role="weight")
    _check_dim(dim, weight.ndim, key=key, what=f"weight with shape {_shape(weight.shape)}")
    return _unfold(weight, dim, weight.dtype, weight.dtype)


def convert_weight_norm(
    tensors: Mapping[str, Tensor],
    prefix: str,
    *,
    source_form: str,
    target_form: str,
    dim: int | None,
    target_dim: int | None | EllipsisType = ...,
) -> dict[str, Tensor]:
    """Convert one layer's weight from ``source_form`` to ``target_form``, returning a new dict.

    ``dim`` is the dim the source (g, v) were made with (unused for a plain source);
    ``target_dim`` is the dim of the target decomposition and defaults to ``dim``.
    Same-form or legacy<->parametrized conversions with equal dims return the input
    tensor objects under the new keys; nothing in ``tensors`` is modified.
    """
    source_keys = weight_keys(prefix, source_form)
    target_keys = weight_keys(prefix, target_form)
    new_dim = dim if target_dim is ... else target_dim

    missing = [key for key in source_keys if key not in tensors]
    if missing:
        present = [
            key for key in tensors
            if (parsed := parse_weight_key(key)) is not None and parsed[0] == prefix
        ]
        found = format_keys(present) if present else "  (no weight keys for this layer)"
        raise KeyMappingError(
            f"cannot convert layer {prefix!r} from {source_form} to {target_form}: expected "
            f"{' and '.join(source_keys)}, missing:\n{format_keys(missing)}\nfound:\n{found}"
        )

    if source_form == "plain":
        (weight_key,) = source_keys
        weight = tensors[weight_key]
        if target_form == "plain":
            return {target_keys[0]: weight}
        g, v = unfold_weight_norm(weight, new_dim, key=weight_key)
        return dict(zip(target_keys, (g, v)))

    g_key, v_key = source_keys
    g, v = tensors[g_key], tensors[v_key]
    if target_form == "plain":
        return {target_keys[0]: fold_weight_norm(g, v, dim, key=g_key)}

    check_weight_norm_dim(g, v, dim, key=g_key)
    _check_dim(new_dim, v.ndim, key=g_key, what=f"v with shape {_shape(v.shape)}")
    if new_dim == dim:
        return dict(zip(target_keys, (g, v)))
    _check_floating(g, key=g_key, role="g")
    _check_floating(v, key=v_key, role="v")
    # Re-split from the compute-dtype weight so low-precision inputs are rounded once.
    new_g, new_v = _unfold(_fold(g, v, dim), new_dim, g.dtype, v.dtype)
    return dict(zip(target_keys, (new_g, new_v)))
