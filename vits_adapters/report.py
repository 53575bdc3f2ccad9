"""LoadReport: an account of where every source tensor went, printable and available as data."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

ACTIONS = ("mapped", "converted", "dropped", "unexpected")
FORM_LABELS = {
    "legacy": "legacy (g/v)",
    "parametrized": "parametrized (original0/original1)",
    "plain": "plain (already folded)",
}
"""How the summary names each stored form of a layer a weight-norm rule declares."""


@dataclass(frozen=True)
class TensorRecord:
    """One source tensor group and what became of it.

    ``action`` is "mapped" (renamed, bit-identical), "converted" (weight-norm form changed; ``detail`` says from
    and to), "dropped" (``detail`` gives the reason) or "unexpected" (no rule; only with ``strict=False``).
    """

    action: str
    source: tuple[str, ...]
    target: tuple[str, ...] = ()
    detail: str = ""


@dataclass(frozen=True)
class LoadReport:
    """Everything a load did: source, format, tensor records, config fields not read, hparam provenance, gaps."""

    format: str
    source: str
    records: tuple[TensorRecord, ...]
    target_count: int
    weight_norm: str
    strict: bool = True
    ignored_entries: dict[str, str] = field(default_factory=dict)
    config_ignored: dict[str, str] = field(default_factory=dict)  # config field as written in the file -> reason
    missing: tuple[str, ...] = ()
    unexpected: tuple[str, ...] = ()
    mismatched: tuple[str, ...] = ()
    hparams_provenance: dict[str, str] = field(default_factory=dict)
    assumed: dict[str, str] = field(default_factory=dict)
    source_forms: dict[str, int] = field(default_factory=dict)  # declared weight-norm layers per stored form
    casts: dict[str, int] = field(default_factory=dict)
    allowed_globals: tuple[str, ...] = ()
    revision: str | None = None
    files: tuple[str, ...] = ()
    speaker_embedding_size: int = 0  # > 0: conditioned on an external speaker embedding of this size (no table)

    @property
    def complete(self) -> bool:
        """True when every target tensor was filled and nothing was left unexplained."""
        return not (self.missing or self.unexpected or self.mismatched)

    def counts(self) -> dict[str, int]:
        """Source tensors per action."""
        counter: Counter[str] = Counter()
        for record in self.records:
            counter[record.action] += len(record.source)
        return {action: counter.get(action, 0) for action in ACTIONS}

    def summary(self) -> str:
        """A short human-readable account."""
        counts = self.counts()
        total = sum(counts.values())
        where = f"{self.source}" + (f" @ {self.revision[:12]}" if self.revision else "")
        lines = [
            f"Loaded {where} as format '{self.format}' (weight_norm={self.weight_norm}, strict={self.strict})",
            f"  source tensors: {total} = {counts['mapped']} mapped + {counts['converted']} converted"
            f" + {counts['dropped']} dropped" + (f" + {counts['unexpected']} UNEXPECTED" if counts["unexpected"] else ""),
            f"  target tensors: {self.target_count - len(self.missing)}/{self.target_count} filled",
        ]
        if self.source_forms:
            forms = ", ".join(f"{n} {FORM_LABELS.get(form, form)}" for form, n in sorted(self.source_forms.items()))
            lines.append(f"  declared weight-norm layers by stored form: {forms}")
        conversions = Counter(r.detail for r in self.records if r.action == "converted")
        for detail, n in sorted(conversions.items()):
            lines.append(f"  converted {n} layer(s): {detail}")
        reasons = Counter(r.detail for r in self.records if r.action == "dropped")
        for reason, n in sorted(reasons.items()):
            lines.append(f"  dropped {n} tensor(s): {reason}")
        for entry, reason in sorted(self.ignored_entries.items()):
            lines.append(f"  ignored container entry '{entry}': {reason}")
        by_reason: dict[str, list[str]] = {}
        for name, reason in sorted(self.config_ignored.items()):
            by_reason.setdefault(reason, []).append(name)
        for reason, names in sorted(by_reason.items()):
            lines.append(f"  config field(s) not read [{reason}]: {', '.join(names)}")
        for cast, n in sorted(self.casts.items()):
            lines.append(f"  cast {n} tensor(s) {cast}")
        for name, why in sorted(self.assumed.items()):
            lines.append(f"  ASSUMED {name}: {why} (no config gives it; pass config= to be exact)")
        if self.speaker_embedding_size:
            lines.append(
                f"  NEEDS an external {self.speaker_embedding_size}-dim speaker embedding (a d-vector): the model is "
                "speaker-conditioned but the checkpoint has no speaker table; pass speaker_embedding= to synthesize"
            )
        if self.allowed_globals:
            lines.append(f"  pickle globals allowed by trust_pickle: {', '.join(self.allowed_globals)}")
        for label, keys in (("MISSING", self.missing), ("UNEXPECTED", self.unexpected), ("MIS-SHAPED", self.mismatched)):
            if keys:
                shown = ", ".join(keys[:5]) + (f" (+{len(keys) - 5} more)" if len(keys) > 5 else "")
                lines.append(f"  {label} ({len(keys)}): {shown}")
        lines.append("  complete: every weight arrived" if self.complete else "  INCOMPLETE: see the keys above")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        data = asdict(self)
        data["records"] = [asdict(r) for r in self.records]
        data["counts"] = self.counts()
        data["complete"] = self.complete
        return data
