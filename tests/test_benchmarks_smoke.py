"""The benchmark script runs end to end in its tiny mode and writes a complete table (figures are not judged here).

Benchmarks are not tests: speed targets live in benchmarks/ and README. This only proves the script still
works, once per suite run (about a minute on two cores), so a broken benchmark cannot sit unnoticed.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"
# Every peer the table compares against must have been measured in the same run.
MEASURED_COLUMNS = ("ours", "transformers")


def test_benchmark_tiny_run_writes_every_row(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--tiny", "--workdir", str(tmp_path / "work"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(out.read_text())
    assert results["mode"] == "tiny"
    rows = {row["metric"]: row for row in results["rows"]}
    for prefix in ("cold load, MMS", "cold load, ljs_base", "RTF fp32, 1 thread", "RTF onnxruntime", "bf16 SNR"):
        assert any(metric.startswith(prefix) for metric in rows), (prefix, sorted(rows))
    for metric, row in rows.items():
        assert isinstance(row["ours"], (int, float)) and math.isfinite(row["ours"]) and row["ours"] > 0, metric
        if row["target"] is not None:
            assert row["verdict"] in ("met", "MISSED"), metric
    for metric in ("cold load, MMS safetensors folder (s)", "RTF fp32, 1 thread(s)"):
        for column in MEASURED_COLUMNS:
            assert rows[metric][column] > 0, (metric, column)
    table = done.stdout
    assert "| metric | ours | transformers | ratio | target | verdict | note |" in table
    assert len(table.splitlines()) > len(rows)


def test_benchmark_help_documents_its_modes() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for flag in ("--quick", "--tiny", "--workdir", "--out"):
        assert flag in done.stdout
