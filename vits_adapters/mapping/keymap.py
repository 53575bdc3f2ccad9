"""Apply a format's rename and drop rules to source keys: every key renamed once, dropped, or reported unmapped."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from ..errors import KeyMappingError, format_keys
from .spec import RESHAPES, DropRule, Reindex, RenameRule

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class KeyMapping:
    """The outcome of renaming: ``renamed`` source -> (target, rule origin), ``dropped`` source -> reason."""

    renamed: dict[str, tuple[str, str]]
    dropped: dict[str, str]
    unmapped: tuple[str, ...]
    reshapes: dict[str, str]  # source key -> reshape applied to its tensor


def _apply_rule(rule: RenameRule, match: re.Match[str], key: str) -> str:
    groups = {}
    for step in rule.reindex:
        value = int(match.group(step.group)) * step.mul + step.add
        if value % step.div or value < 0:
            raise KeyMappingError(
                f"{key}: index {match.group(step.group)} does not fit the index arithmetic of {rule.origin} "
                f"(({match.group(step.group)} * {step.mul} + {step.add}) / {step.div} is not a whole index); "
                "the layer at that position carries no weights in this layout"
            )
        groups[step.group] = str(value // step.div)

    def group_value(ref: re.Match[str]) -> str:
        index = int(ref.group(1))
        return groups.get(index, match.group(index) or "")

    return re.sub(r"\\(\d+)", group_value, rule.template)


def map_keys(
    keys: Iterable[str],
    rename: Sequence[RenameRule],
    drop: Sequence[DropRule] = (),
    *,
    context: Iterable[str] | None = None,
    label: Callable[[str], str] = str,
) -> KeyMapping:
    """Rename ``keys`` with full-match rules (rules never chain) and apply drops.

    A rule's ``when`` condition is tested against ``context`` (the whole state dict's keys), by default ``keys``.
    ``label`` names a key in error messages (e.g. with the container prefix the user's file has).

    Raises:
        KeyMappingError: a key matches two rules (or a rule and a drop), two keys map to one target, or an
            index does not fit a rule's index arithmetic.
    """
    keys = list(keys)
    context = keys if context is None else list(context)
    rename = [r for r in rename if r.when is None or any(r.when.fullmatch(k) for k in context)]
    renamed: dict[str, tuple[str, str]] = {}
    reshapes: dict[str, str] = {}
    dropped: dict[str, str] = {}
    unmapped: list[str] = []
    ambiguous: list[str] = []
    for key in keys:
        rename_hits = [(rule, m) for rule in rename if (m := rule.pattern.fullmatch(key))]
        drop_hits = [rule for rule in drop if rule.pattern.fullmatch(key)]
        if len(rename_hits) + min(len(drop_hits), 1) > 1:
            origins = [rule.origin for rule, _ in rename_hits] + [rule.origin for rule in drop_hits]
            ambiguous.append(f"{label(key)} (matches {'; '.join(origins)})")
        elif drop_hits:
            dropped[key] = drop_hits[0].reason
        elif rename_hits:
            rule, match = rename_hits[0]
            renamed[key] = (_apply_rule(rule, match, label(key)), rule.origin)
            if rule.reshape:
                reshapes[key] = rule.reshape
            logger.debug("%s -> %s (%s)", key, renamed[key][0], rule.origin)
        else:
            unmapped.append(key)
    if ambiguous:
        raise KeyMappingError(
            f"{len(ambiguous)} source key(s) match more than one rule; make the patterns disjoint:\n"
            + format_keys(ambiguous)
        )
    by_target: dict[str, list[str]] = {}
    for source, (target, _) in renamed.items():
        by_target.setdefault(target, []).append(source)
    collisions = [f"{target} <- {', '.join(sorted(map(label, sources)))}" for target, sources in by_target.items() if len(sources) > 1]
    if collisions:
        raise KeyMappingError(
            f"{len(collisions)} target key(s) would be written by more than one source key:\n" + format_keys(collisions)
        )
    return KeyMapping(renamed=renamed, dropped=dropped, unmapped=tuple(sorted(unmapped)), reshapes=reshapes)


def _split_pattern(pattern: str, origin: str) -> list[tuple[str, str]]:
    """Split a rule pattern into ("lit", text) and ("group", sub-pattern, optional-flag) pieces."""
    pieces: list[tuple[str, str]] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern) and not pattern[i + 1].isalnum():
            pieces.append(("lit", pattern[i + 1]))
            i += 2
        elif char == "(":
            depth, j = 1, i + 1
            while depth:
                if j >= len(pattern):
                    raise KeyMappingError(f"{origin}: unbalanced parenthesis in {pattern!r}")
                if pattern[j] == "\\":
                    j += 1
                elif pattern[j] == "(":
                    depth += 1
                elif pattern[j] == ")":
                    depth -= 1
                j += 1
            inner = pattern[i + 1 : j - 1]
            if inner.startswith("?") or "(" in inner.replace("\\(", ""):
                raise KeyMappingError(f"{origin}: only plain capture groups can be inverted, not {inner!r}")
            optional = j < len(pattern) and pattern[j] == "?"
            pieces.append(("opt" if optional else "group", inner))
            i = j + (1 if optional else 0)
        elif char.isalnum() or char in "_-":
            pieces.append(("lit", char))
            i += 1
        else:
            raise KeyMappingError(f"{origin}: pattern {pattern!r} has regex syntax outside groups; it cannot be inverted")
    return pieces


def invert_rule(rule: RenameRule) -> RenameRule:
    """The target -> source rule, derived from a source -> target rule (used to write a layout back out).

    Works for patterns made of literal text and capture groups whose every group appears once in the template.
    """
    pieces = _split_pattern(rule.pattern.pattern, rule.origin)
    groups = [p for p in pieces if p[0] != "lit"]
    # The target template becomes the inverse pattern: literal text escaped, each \N replaced by group N's pattern.
    refs = [int(n) for n in re.findall(r"\\(\d+)", rule.template)]
    if sorted(refs) != list(range(1, len(groups) + 1)):
        raise KeyMappingError(f"{rule.origin}: every group must appear exactly once in 'to' for the rule to be invertible")
    inverse_pattern = []
    order = []
    for chunk in re.split(r"(\\\d+)", rule.template):
        if re.fullmatch(r"\\\d+", chunk):
            n = int(chunk[1:])
            kind, inner = groups[n - 1]
            inverse_pattern.append(f"({inner})" + ("?" if kind == "opt" else ""))
            order.append(n)
        else:
            inverse_pattern.append(re.escape(chunk))
    position = {n: i + 1 for i, n in enumerate(order)}  # source group n is group position[n] of the inverse
    template = []
    n = 0
    for kind, text in pieces:
        if kind == "lit":
            template.append(text)
        else:
            n += 1
            template.append(f"\\{position[n]}")
    # (value * mul + add) / div inverts to (value * div - add) / mul.
    reindex = tuple(
        Reindex(group=position[step.group], mul=step.div, add=-step.add, div=step.mul) for step in rule.reindex
    )
    return RenameRule(
        re.compile("".join(inverse_pattern)),
        "".join(template),
        reindex,
        f"{rule.origin} (inverted)",
        RESHAPES[rule.reshape] if rule.reshape else None,
        rule.when_inverse,
        rule.when,
    )
