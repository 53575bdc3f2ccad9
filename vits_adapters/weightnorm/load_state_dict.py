"""load_state_dict for any PyTorch model: each layer's weight arrives in the weight-norm form the layer uses."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import InvalidInputError, KeyMappingError, format_keys
from ..mapping.keymap import map_keys
from ..mapping.load import load_converted
from .modules import WeightLayout, weight_layouts
from ..report import LoadReport, TensorRecord
from ..mapping.spec import parse_rename_rules
from .tensors import convert_weight_norm, group_weight_keys, weight_keys


def _broadcast(shape: torch.Size, dim: int | None) -> tuple[int, ...]:
    return () if dim is None else tuple(size if axis == dim else 1 for axis, size in enumerate(shape))


def infer_dim(g: Tensor, v: Tensor, *, key: str, prefer: int | None = None) -> int | None:
    """The weight-norm ``dim`` that (g, v) were made with, read from g's shape.

    Several dims fit only when they all normalise the same slices (size-1 axes); ``prefer`` wins among them.
    """
    fitting = [d for d in (*range(v.ndim), None) if tuple(g.shape) == _broadcast(v.shape, d)]
    if not fitting:
        raise KeyMappingError(
            f"weight-norm g {key!r} with shape {tuple(g.shape)} fits no dim of v with shape {tuple(v.shape)}; "
            "expected v's shape with 1 everywhere but the norm's dim, or a scalar for dim=None"
        )
    return prefer if prefer in fitting else fitting[0]


def _rename(state_dict: Mapping[str, Tensor], rename: Any) -> tuple[dict[str, Tensor], dict[str, tuple[str, str]]]:
    """Apply full-match rename rules; unmatched keys keep their names. Returns tensors and target -> (source, rule)."""
    rules = parse_rename_rules(rename, "rename=") if rename is not None else ()
    mapping = map_keys(state_dict, rules)
    origins = {target: (source, rule) for source, (target, rule) in mapping.renamed.items()}
    clashes = sorted(f"{key} <- {key}, {origins[key][0]}" for key in mapping.unmapped if key in origins)
    if clashes:
        raise KeyMappingError("two source keys would fill one model key; fix the rename rules:\n" + format_keys(clashes))
    origins.update({key: (key, "same name") for key in mapping.unmapped})
    return {target: state_dict[source] for target, (source, _) in origins.items()}, origins


def _check_tensors(state_dict: Mapping[str, Any]) -> None:
    if not isinstance(state_dict, Mapping):
        raise InvalidInputError(f"state_dict must be a mapping of names to tensors, got {type(state_dict).__name__}")
    bad = sorted(f"{key} ({type(value).__name__})" for key, value in state_dict.items() if not isinstance(value, Tensor))
    if bad:
        raise InvalidInputError("state_dict values must be tensors; these are not:\n" + format_keys(bad))


def _convert_layer(
    tensors: Mapping[str, Tensor], prefix: str, form: str, layout: WeightLayout
) -> tuple[dict[str, Tensor], str | None]:
    """One layer's weight in ``layout``'s form and dim, and a description when anything changed."""
    source_dim = None
    if form != "plain":
        g_key, v_key = weight_keys(prefix, form)
        source_dim = infer_dim(tensors[g_key], tensors[v_key], key=g_key, prefer=layout.dim)
    if form == layout.form and source_dim == layout.dim:
        return {key: tensors[key] for key in weight_keys(prefix, form)}, None
    converted = convert_weight_norm(
        tensors,
        prefix,
        source_form=form,
        target_form=layout.form,
        dim=layout.dim if form == "plain" else source_dim,
        target_dim=layout.dim,
    )
    source = "plain" if form == "plain" else f"{form} (dim {source_dim})"
    return converted, f"{source} -> {layout.describe()}"


def load_state_dict(
    model: nn.Module, state_dict: Mapping[str, Tensor], *, strict: bool = True, rename: Any = None
) -> LoadReport:
    """Load ``state_dict`` into ``model``, converting each layer's weight to the form that layer uses.

    The model is inspected module by module: a plain ``weight``, the legacy weight-norm hook or the
    ``parametrizations.weight`` weight norm, each with the ``dim`` read from the module. Source layers in any
    of the three forms (and any dim) are converted to match; nothing relies on torch's own compatibility hook.

    Args:
        model: any ``nn.Module`` (on the meta device too, when ``strict``).
        state_dict: source tensors; never modified.
        strict: refuse the load (nothing is written into ``model``) unless every model tensor is filled
            exactly once and no source tensor is left over. ``strict=False`` loads what fits; the report
            lists the gaps.
        rename: full-match rename rules applied to source keys first, as ``{pattern: template}`` or a list
            of ``{"from": ..., "to": ...}`` rules (the YAML adapter format); unmatched keys keep their names.

    Returns:
        A LoadReport accounting for every source tensor.

    Raises:
        StateDictMismatchError: missing, unexpected or mis-shaped keys (when ``strict``).
        KeyMappingError: a layer mixes weight forms, a g/v pair is incomplete or fits no dim, or two source
            keys would fill one model key.
    """
    _check_tensors(state_dict)
    tensors, origins = _rename(state_dict, rename)
    layouts = weight_layouts(model)
    ready: dict[str, Tensor] = {}
    records: list[TensorRecord] = []
    handled: set[str] = set()
    source_forms: dict[str, int] = {}
    for prefix, form in group_weight_keys(tensors).items():
        layout = layouts.get(prefix)
        if layout is None:
            continue
        source_forms[form] = source_forms.get(form, 0) + 1
        converted, detail = _convert_layer(tensors, prefix, form, layout)
        keys = weight_keys(prefix, form)
        handled.update(keys)
        ready.update(converted)
        if detail is not None:
            records.append(TensorRecord("converted", tuple(origins[k][0] for k in keys), tuple(converted), detail))
        else:
            records.extend(TensorRecord("mapped", (origins[k][0],), (k,), origins[k][1]) for k in keys)
    for key, tensor in tensors.items():
        if key not in handled:
            ready[key] = tensor
            records.append(TensorRecord("mapped", (origins[key][0],), (key,), origins[key][1]))

    outcome = load_converted(model, ready, strict=strict)
    unexpected = set(outcome.unexpected)
    records = [
        TensorRecord("unexpected", r.source, (), "the model has no such tensor")
        if unexpected.intersection(r.target) else r
        for r in records
    ]
    forms = sorted({layout.describe() for layout in layouts.values()})
    return LoadReport(
        format="state_dict",
        source=f"state dict of {len(state_dict)} tensors -> {type(model).__name__}",
        records=tuple(records),
        target_count=len(model.state_dict()),
        weight_norm="as each layer declares: " + ", ".join(forms),
        strict=strict,
        missing=outcome.missing,
        unexpected=outcome.unexpected,
        mismatched=outcome.mismatched,
        source_forms=source_forms,
        casts=outcome.casts,
    )
