"""Benchmark rows: each figure with ours, transformers, the ratio and its target, rendered as a Markdown table."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Row:
    """One figure; ``ratio`` is ours/transformers unless ``note`` says otherwise; ``target`` is an upper bound."""

    metric: str
    ours: float | None
    transformers: float | None
    ratio: float | None
    target: float | None = None
    lower_is_better: bool = True
    note: str = ""

    @property
    def verdict(self) -> str:
        if self.target is None or self.ratio is None:
            return ""
        met = self.ratio <= self.target if self.lower_is_better else self.ratio >= self.target
        return "met" if met else "MISSED"

    def to_dict(self) -> dict:
        return {**asdict(self), "verdict": self.verdict}


def ratio(ours: float | None, theirs: float | None) -> float | None:
    """``ours / theirs``, or None when either is missing or theirs is zero."""
    return None if ours is None or not theirs else ours / theirs


def _cell(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}g}" if abs(value) < 1000 else f"{value:,.0f}"


def render_markdown(rows: list[Row]) -> str:
    """A Markdown table: metric | ours | transformers | ratio | target | verdict | note."""
    lines = [
        "| metric | ours | transformers | ratio | target | verdict | note |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for row in rows:
        target = "-" if row.target is None else ("<= " if row.lower_is_better else ">= ") + _cell(row.target)
        lines.append(
            f"| {row.metric} | {_cell(row.ours)} | {_cell(row.transformers)} | {_cell(row.ratio)} | {target} | "
            f"{row.verdict} | {row.note} |"
        )
    return "\n".join(lines)
