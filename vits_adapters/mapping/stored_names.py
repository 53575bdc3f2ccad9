"""Name a reference-generator tensor as the user's file stores it (or, when absent, as the format would store it)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from functools import cached_property

from ..errors import KeyMappingError
from .keymap import invert_rule, map_keys
from .spec import UNDECLARED, FormatSpec, RenameRule, declared_dim
from ..weightnorm.tensors import parse_weight_key, weight_keys


class StoredNames:
    """Callable: reference key -> ``"<name in the file> (reference: <key>)"``, or the key when both are the same.

    Tensors that came from the file are named by their stored key. A tensor the file lacks is named through the
    format's inverted rename rules, in the weight-norm form the file stores its other declared layers in.
    """

    def __init__(self, origins: Mapping[str, str], spec: FormatSpec, forms: Mapping[str, str] | None = None) -> None:
        self.origins = dict(origins)  # reference key -> key as stored
        self.spec = spec
        self.forms = dict(forms or {})  # reference layer -> weight-norm form stored in the file

    @cached_property
    def _inverse(self) -> tuple[RenameRule, ...] | None:
        # Naming happens while an error is being reported: rules that cannot be inverted must not replace that
        # error with their own, so an absent tensor is then marked as unnamed (see __call__) instead.
        try:
            return tuple(invert_rule(rule) for rule in self.spec.rename_rules)
        except KeyMappingError:
            return None

    @cached_property
    def _file_form(self) -> str:
        rules = self.spec.weight_norm_rules
        stored = Counter(f for layer, f in self.forms.items() if declared_dim(rules, layer) is not UNDECLARED)
        return stored.most_common(1)[0][0] if stored else "plain"

    def stored(self, key: str) -> str | None:
        """The key as the file stores it, or as the format expects it when the file lacks it (None: no rule says)."""
        if key in self.origins:
            return self.origins[key]
        candidates = [key]
        parsed = parse_weight_key(key)
        if parsed and declared_dim(self.spec.weight_norm_rules, parsed[0]) is not UNDECLARED:
            layer, form = parsed
            stored_form = self.forms.get(layer, self._file_form)
            if form == "plain" or stored_form == "plain":
                candidates = list(weight_keys(layer, stored_form))  # one weight <-> a whole pair
            else:
                candidates = [weight_keys(layer, stored_form)[weight_keys(layer, form).index(key)]]  # g <-> g
        if self._inverse is None:
            return None
        try:
            mapping = map_keys(candidates, self._inverse, context=list(self.origins) + candidates)
        except KeyMappingError:  # as in _inverse: the error being reported comes first
            return None
        if any(c not in mapping.renamed for c in candidates):
            return None
        prefix = self.spec.container.strip_prefix
        return " and ".join(prefix + mapping.renamed[c][0] for c in candidates)

    def __call__(self, key: str) -> str:
        stored = self.stored(key)
        if stored is None:
            return f"{key} (reference name: no rule of format '{self.spec.name}' names it in the file)"
        return key if stored == key else f"{stored} (reference: {key})"
