"""Turn a source state dict into the reference generator's keys and weight-norm forms, recording every step."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from torch import Tensor

from ..errors import KeyMappingError, format_keys
from .keymap import map_keys
from ..report import TensorRecord
from .spec import UNDECLARED, FormatSpec, WeightNormRule, declared_dim
from .stored_names import StoredNames
from ..weightnorm.tensors import convert_weight_norm, group_weight_keys, parse_weight_key, weight_keys

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RenamedStateDict:
    """Source tensors under target names (weight-norm forms as in the source), with their origins."""

    tensors: dict[str, Tensor]
    origins: dict[str, tuple[str, str]]  # target key -> (source key, rule origin)
    dropped: tuple[TensorRecord, ...]
    unmapped: tuple[str, ...]
    forms: dict[str, str]  # target module prefix -> weight form in the source
    reshaped: dict[str, str]  # target key -> reshape applied (values unchanged, layout changed)
    names: StoredNames  # target key -> its name in the user's file, for errors and the report

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Target-space shapes; a weight-norm pair reports its effective weight's shape under ``<prefix>.weight``."""
        shapes: dict[str, tuple[int, ...]] = {}
        for key, tensor in self.tensors.items():
            parsed = parse_weight_key(key)
            if parsed and parsed[1] != "plain":
                prefix, form = parsed
                shapes[weight_keys(prefix, "plain")[0]] = tuple(self.tensors[weight_keys(prefix, form)[1]].shape)
            else:
                shapes[key] = tuple(tensor.shape)
        return shapes


@dataclass(frozen=True)
class ConvertResult:
    """The target state dict in the model's forms, and a record for every source tensor."""

    state_dict: dict[str, Tensor]
    records: tuple[TensorRecord, ...]
    unmapped: tuple[str, ...]


def apply_reshape(tensor: Tensor, how: str, key: str) -> Tensor:
    """A value-preserving layout change: a kernel axis of 1 added or dropped, or (1, C, 1) <-> (C,)."""
    if how == "linear_to_conv1d" and tensor.ndim == 2:
        return tensor.unsqueeze(-1)
    if how == "conv1d_to_linear" and tensor.ndim == 3 and tensor.shape[-1] == 1:
        return tensor.squeeze(-1)
    if how == "broadcast_to_vector" and tensor.ndim == 3 and tensor.shape[0] == tensor.shape[2] == 1:
        return tensor.reshape(-1)
    if how == "vector_to_broadcast" and tensor.ndim == 1:
        return tensor.reshape(1, -1, 1)
    raise KeyMappingError(f"{key}: cannot apply {how} to a tensor of shape {tuple(tensor.shape)}")


def rename_state_dict(source: Mapping[str, Tensor], spec: FormatSpec) -> RenamedStateDict:
    """Apply the spec's drops and full-match renames; never mutates ``source``.

    Raises:
        KeyMappingError: ambiguous or colliding keys, or one layer stored in two weight-norm forms.
    """
    prefix = spec.container.strip_prefix
    keyed: dict[str, tuple[str, Tensor]] = {}
    twice: list[str] = []
    for key, tensor in source.items():
        short = key[len(prefix):] if prefix and key.startswith(prefix) else key
        if short in keyed:
            twice.append(f"{short} <- {', '.join(sorted((keyed[short][0], key)))}")
        keyed[short] = (key, tensor)
    if twice:
        raise KeyMappingError(
            f"two source keys name the same tensor once the container prefix {prefix!r} is removed:\n"
            + format_keys(twice)
            + "\nKeep one copy of each tensor (a checkpoint merged from two trainings?)."
        )
    mapping = map_keys(keyed, spec.rename_rules, spec.drop_rules, label=lambda key: keyed[key][0])
    tensors = {
        target: apply_reshape(keyed[key][1], mapping.reshapes[key], key) if key in mapping.reshapes else keyed[key][1]
        for key, (target, _) in mapping.renamed.items()
    }
    reshaped = {mapping.renamed[key][0]: how for key, how in mapping.reshapes.items()}
    origins = {target: (keyed[key][0], rule) for key, (target, rule) in mapping.renamed.items()}
    dropped = tuple(
        TensorRecord("dropped", (keyed[key][0],), (), reason) for key, reason in sorted(mapping.dropped.items())
    )
    unmapped = tuple(keyed[key][0] for key in mapping.unmapped)
    stored = {target: source for target, (source, _) in origins.items()}
    as_found = {parsed[0]: parsed[1] for key in tensors if (parsed := parse_weight_key(key))}
    forms = group_weight_keys(tensors, label=StoredNames(stored, spec, as_found))
    return RenamedStateDict(tensors, origins, dropped, unmapped, forms, reshaped, StoredNames(stored, spec, forms))


def drop_targets(renamed: RenamedStateDict, prefix: str, reason: str) -> RenamedStateDict:
    """Move every tensor whose target key starts with ``prefix`` to the dropped records, with ``reason``."""
    gone = sorted(key for key in renamed.tensors if key.startswith(prefix))
    records = tuple(TensorRecord("dropped", (renamed.origins[key][0],), (), reason) for key in gone)
    kept = {key: tensor for key, tensor in renamed.tensors.items() if key not in gone}
    forms = {name: form for name, form in renamed.forms.items() if not name.startswith(prefix)}
    return RenamedStateDict(
        kept, renamed.origins, renamed.dropped + records, renamed.unmapped, forms, renamed.reshaped, renamed.names
    )


def source_dim(rules: tuple[WeightNormRule, ...], prefix: str, form: str, names: StoredNames) -> int | None:
    """The weight-norm dim the format declares for layer ``prefix``, whose file holds it as a ``form`` pair.

    Raises:
        KeyMappingError: no rule declares the layer, so the dim its pair was made with is unknown.
    """
    dim = declared_dim(rules, prefix)
    if dim is UNDECLARED:
        stored = " and ".join(names(key) for key in weight_keys(prefix, form))
        raise KeyMappingError(
            f"{stored}: the file stores this layer as a weight-norm pair, but the format's YAML declares no weight "
            "norm for it, so the dim the pair was made with is unknown; declare it (weight_norm: in the component "
            "adapter) or fold the pair into a plain weight before loading"
        )
    return dim


def _expected_form(prefix: str, expected: Collection[str]) -> str | None:
    for form in ("plain", "parametrized", "legacy"):
        if weight_keys(prefix, form)[0] in expected:
            return form
    return None


def reconcile_forms(
    renamed: RenamedStateDict,
    expected: Collection[str],
    *,
    rules: tuple[WeightNormRule, ...],
    target_dim: Callable[[str], int | None],
    release: Callable[[Tensor], None] | None = None,
) -> ConvertResult:
    """Convert each layer's weight to the form the model expects, with the declared source dim.

    Args:
        renamed: the output of :func:`rename_state_dict`.
        expected: the model's state-dict keys.
        rules: the spec's weight-norm dim declarations (target space) for source g/v pairs.
        target_dim: the model's dim for a parametrized layer.
        release: called with each source tensor a conversion replaced by new tensors (to free its memory early).
    """
    state_dict: dict[str, Tensor] = {}
    records: list[TensorRecord] = list(renamed.dropped)
    handled: set[str] = set()
    for prefix, form in renamed.forms.items():
        wanted = _expected_form(prefix, expected)
        if wanted is None or wanted == form:
            continue
        source_keys = weight_keys(prefix, form)
        dim = source_dim(rules, prefix, form, renamed.names) if form != "plain" else None
        new_dim = target_dim(prefix) if wanted != "plain" else None
        if form == "plain":
            dim = new_dim
        try:
            converted = convert_weight_norm(
                renamed.tensors, prefix, source_form=form, target_form=wanted, dim=dim, target_dim=new_dim
            )
        except KeyMappingError as err:
            raise KeyMappingError(f"{renamed.names(source_keys[0])}: {err}") from None
        state_dict.update(converted)
        handled.update(source_keys)
        if release is not None and not any(t is renamed.tensors[k] for t in converted.values() for k in source_keys):
            for key in source_keys:
                release(renamed.tensors[key])
        dims = f"dim {dim}" if form == "plain" or wanted == "plain" or dim == new_dim else f"dim {dim} -> {new_dim}"
        records.append(
            TensorRecord(
                "converted",
                tuple(renamed.origins[k][0] for k in source_keys),
                tuple(converted),
                f"{form} -> {wanted} ({dims})",
            )
        )
    for key, tensor in renamed.tensors.items():
        if key in handled:
            continue
        state_dict[key] = tensor
        source, rule = renamed.origins[key]
        if key in renamed.reshaped:
            records.append(TensorRecord("converted", (source,), (key,), f"reshape {renamed.reshaped[key]}"))
        else:
            records.append(TensorRecord("mapped", (source,), (key,), rule))
    records.extend(TensorRecord("unexpected", (key,), (), "no rename rule matches") for key in renamed.unmapped)
    return ConvertResult(state_dict, tuple(records), renamed.unmapped)


def form_counts(renamed: RenamedStateDict, rules: tuple[WeightNormRule, ...]) -> dict[str, int]:
    """How many of the declared weight-norm layers arrived in each source form."""
    counter = Counter(
        form for prefix, form in renamed.forms.items() if any(rule.modules.fullmatch(prefix) for rule in rules)
    )
    return dict(counter)


def check_unmapped(unmapped: tuple[str, ...], spec: FormatSpec) -> None:
    """Raise when source keys matched no rule (strict loading)."""
    if unmapped:
        raise KeyMappingError(
            f"{len(unmapped)} source key(s) match no rename or drop rule of format '{spec.name}' "
            f"({spec.path.name}); a wrong format, or a layout this spec does not describe:\n"
            + format_keys(unmapped)
        )
