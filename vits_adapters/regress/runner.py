"""Regression audio: synthesize each manifest case, write it as a golden (``update``) or compare it with its golden."""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from ..io.atomic import atomic_write
from ..audio.waveform import Audio
from ..errors import VitsAdapterError
from ..audio.logmel import log_mel_spectrogram
from ..pretrained import from_pretrained
from ..progress import progress_bar
from .manifest import Manifest, RegressionCase, Tolerances, load_manifest
from .sidecar import build_sidecar, provenance_notes
from ..voice import Voice

logger = logging.getLogger(__name__)

LOGMEL_RANGE_DB = 80.0
"""Log-mel bins further than this below the golden's loudest bin are clamped there before comparing."""
UNUSABLE_VERDICTS = ("silent", "non-finite", "too-short")


@dataclass(frozen=True)
class CaseResult:
    """The outcome of one case.

    ``status`` is "pass" (within tolerances), "drift" (a metric beyond its tolerance, or a length change),
    "missing" (no golden), "updated" (golden written) or "error" (the case could not be synthesized).
    ``failed`` names the metrics beyond tolerance ("length" when the sample counts differ).
    """

    name: str
    status: str
    metrics: dict[str, float]
    tolerances: Tolerances
    failed: tuple[str, ...] = ()
    messages: tuple[str, ...] = ()
    golden_wav: Path | None = None
    current: Audio | None = field(default=None, repr=False, compare=False)
    golden: Audio | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """Whether the case passed or its golden was written."""
        return self.status in ("pass", "updated")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-shaped fields (no audio)."""
        return {
            "name": self.name,
            "status": self.status,
            "ok": self.ok,
            "metrics": dict(self.metrics),
            "tolerances": self.tolerances.to_dict(),
            "failed": list(self.failed),
            "messages": list(self.messages),
            "golden_wav": str(self.golden_wav) if self.golden_wav else None,
        }


@dataclass(frozen=True)
class RegressionResult:
    """Every case's outcome; ``ok`` only when all passed (or were written with ``update``)."""

    cases: tuple[CaseResult, ...]
    golden_dir: Path
    updated: bool
    report: Path | None = None

    @property
    def ok(self) -> bool:
        """True when no case drifted, errored or lacked a golden."""
        return all(case.ok for case in self.cases)

    @property
    def failures(self) -> tuple[str, ...]:
        """Names of the cases that did not pass."""
        return tuple(case.name for case in self.cases if not case.ok)

    def table(self) -> str:
        """A fixed-width table: case, status, length, waveform and log-mel metrics, and what failed."""
        header = ("case", "status", "samples", "wave max|d|", "wave rel rms", "logmel mean dB", "failed")
        rows = [header]
        for case in self.cases:
            m = case.metrics
            rows.append(
                (
                    case.name,
                    case.status,
                    _cell(m.get("current_samples"), "d"),
                    _cell(m.get("waveform_max_abs"), ".2e"),
                    _cell(m.get("waveform_rel_rms"), ".2e"),
                    _cell(m.get("logmel_mean_abs_db"), ".2e"),
                    ", ".join(case.failed) or "-",
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
        for case in self.cases:
            lines += [f"{case.name}: {message}" for message in case.messages]
        verdict = "ok" if self.ok else f"FAILED: {', '.join(self.failures)}"
        lines.append(f"{len(self.cases)} case(s), {verdict}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-shaped fields."""
        return {
            "ok": self.ok,
            "updated": self.updated,
            "golden_dir": str(self.golden_dir),
            "report": str(self.report) if self.report else None,
            "failures": list(self.failures),
            "cases": [case.to_dict() for case in self.cases],
        }


def _cell(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def golden_paths(golden_dir: str | os.PathLike[str], name: str) -> tuple[Path, Path]:
    """The golden WAV and its JSON sidecar for case ``name``."""
    folder = Path(golden_dir)
    return folder / f"{name}.wav", folder / f"{name}.json"


def compare_waveforms(golden: Audio, current: Audio, tolerances: Tolerances) -> tuple[dict[str, float], tuple[str, ...]]:
    """Distances between a golden and a current waveform, and the names of those beyond ``tolerances``.

    The lengths must match exactly ("length" fails otherwise); the other metrics are computed over the
    common prefix. A non-finite metric always fails.
    """
    g = golden.waveform.astype(np.float64)
    c = current.waveform.astype(np.float64)
    metrics: dict[str, float] = {"golden_samples": g.size, "current_samples": c.size}
    failed = ["length"] if g.size != c.size or golden.sample_rate != current.sample_rate else []
    n = min(g.size, c.size)
    if n == 0:
        return metrics, tuple(failed or ["length"])
    diff = c[:n] - g[:n]
    golden_rms = math.sqrt(float(np.mean(g[:n] ** 2)))
    metrics["waveform_max_abs"] = float(np.max(np.abs(diff)))
    metrics["waveform_rel_rms"] = math.sqrt(float(np.mean(diff**2))) / max(golden_rms, np.finfo(np.float64).tiny)
    log_g = log_mel_spectrogram(g[:n], golden.sample_rate)
    log_c = log_mel_spectrogram(c[:n], golden.sample_rate)
    floor = float(log_g.max()) - LOGMEL_RANGE_DB
    delta = np.abs(np.maximum(log_c, floor) - np.maximum(log_g, floor))
    metrics["logmel_mean_abs_db"] = float(delta.mean())
    metrics["logmel_max_abs_db"] = float(delta.max())
    limits = tolerances.to_dict()
    failed += [name for name, limit in limits.items() if not metrics[name] <= limit]  # NaN fails too
    return metrics, tuple(failed)


def _voice_key(case: RegressionCase) -> tuple[Any, ...]:
    return (case.source, case.format, case.config, case.revision)


def _load_voice(case: RegressionCase, hub: dict[str, Any], voices: dict[tuple[Any, ...], Voice]) -> Voice:
    key = _voice_key(case)
    if key not in voices:
        voices[key] = from_pretrained(case.source, format=case.format, config=case.config, revision=case.revision, **hub)
    return voices[key]


def _synthesize(case: RegressionCase, voice: Voice) -> tuple[Audio, dict[str, Any]]:
    token_ids = list(case.token_ids) if case.token_ids is not None else voice.encode(case.text or "")
    effective = {
        "token_ids": token_ids,
        "speaker_id": case.speaker_id,
        "seed": case.seed,
        "noise_scale": voice.synthesis_defaults["noise_scale"] if case.noise_scale is None else case.noise_scale,
        "noise_scale_w": voice.synthesis_defaults["noise_scale_w"] if case.noise_scale_w is None else case.noise_scale_w,
        "length_scale": voice.synthesis_defaults["length_scale"] if case.length_scale is None else case.length_scale,
    }
    audio = voice.synthesize(
        token_ids=token_ids,
        speaker_id=case.speaker_id,
        noise_scale=effective["noise_scale"],
        noise_scale_w=effective["noise_scale_w"],
        length_scale=effective["length_scale"],
        seed=case.seed,
        check=False,  # a regression compares whatever comes out; update refuses unusable audio below
    )
    return audio, effective


def _write_golden(case: RegressionCase, golden_dir: Path, audio: Audio, sidecar: dict[str, Any]) -> CaseResult:
    wav, meta = golden_paths(golden_dir, case.name)
    verdict = sidecar["audio"]["verdict"]
    if verdict in UNUSABLE_VERDICTS:
        return CaseResult(
            case.name, "error", {}, case.tolerances, messages=(f"not written: the audio is {verdict}",), current=audio
        )
    # float32 WAV: the golden is the exact waveform, not a 16-bit rounding of it; --update is the ask to replace it.
    audio.save(wav, subtype="FLOAT", overwrite=True)
    with atomic_write(meta) as temp:
        temp.write_text(json.dumps(sidecar, indent=2) + "\n", encoding="utf-8")
    metrics = {"current_samples": audio.waveform.size}
    return CaseResult(case.name, "updated", metrics, case.tolerances, golden_wav=wav, current=audio, golden=audio)


def _compare(
    case: RegressionCase, golden_dir: Path, audio: Audio, sidecar: dict[str, Any], base_dir: Path
) -> CaseResult:
    wav, meta = golden_paths(golden_dir, case.name)
    absent = [str(p) for p in (wav, meta) if not p.is_file()]
    if absent:
        return CaseResult(
            case.name,
            "missing",
            {"current_samples": audio.waveform.size},
            case.tolerances,
            messages=(f"no golden ({', '.join(absent)}); run with --update to write it",),
            current=audio,
        )
    samples, rate = sf.read(str(wav), dtype="float32", always_2d=False)
    golden = Audio(np.asarray(samples), rate)
    metrics, failed = compare_waveforms(golden, audio, case.tolerances)
    messages = []
    if "length" in failed:
        messages.append(f"length {audio.waveform.size} samples at {audio.sample_rate} Hz, golden {golden.waveform.size} at {rate} Hz")
    limits = case.tolerances.to_dict()
    messages += [f"{name} = {metrics[name]:.3g} > tolerance {limits[name]:g}" for name in failed if name in limits]
    try:
        golden_meta = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        golden_meta = {}
        messages.append(f"golden sidecar {meta} is unreadable ({err})")
    messages += provenance_notes(golden_meta, sidecar, base_dir)
    status = "drift" if failed else "pass"
    return CaseResult(case.name, status, metrics, case.tolerances, failed, tuple(messages), wav, audio, golden)


def _run_case(
    case: RegressionCase,
    golden_dir: Path,
    base_dir: Path,
    update: bool,
    hub: dict[str, Any],
    voices: dict[tuple[Any, ...], Voice],
) -> CaseResult:
    try:
        voice = _load_voice(case, hub, voices)
        audio, effective = _synthesize(case, voice)
        sidecar = build_sidecar(case, voice, audio, effective, base_dir)
    except (VitsAdapterError, OSError) as err:
        return CaseResult(case.name, "error", {}, case.tolerances, messages=(f"{type(err).__name__}: {err}",))
    if update:
        return _write_golden(case, golden_dir, audio, sidecar)
    return _compare(case, golden_dir, audio, sidecar, base_dir)


def run(
    manifest: Manifest | str | os.PathLike[str],
    golden_dir: str | os.PathLike[str],
    *,
    update: bool = False,
    report_dir: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
    local_files_only: bool = False,
    token: str | bool | None = None,
    progress: bool | None = None,
) -> RegressionResult:
    """Synthesize every case of ``manifest`` and compare it with its golden, or (``update``) write the goldens.

    Without ``update`` nothing in ``golden_dir`` is written; a missing golden makes its case "missing" (a
    failure). With ``update`` each case's ``<name>.wav`` (float32) and ``<name>.json`` (parameters, revision,
    file hash, versions, duration, RMS, peak, log-mel summary; local paths relative to the manifest's folder) are
    written atomically.

    Args:
        manifest: a manifest file or a parsed :class:`Manifest`.
        golden_dir: the folder of golden WAVs and sidecars.
        update: write goldens instead of comparing.
        report_dir: also write an HTML report with plots and audio players there (needs matplotlib).
        overwrite: replace a report already in ``report_dir`` (otherwise refused before any synthesis).
        cache_dir, local_files_only, token: forwarded to ``from_pretrained`` for Hub sources.
        progress: show a progress bar (None: only when stderr is a terminal).

    Returns:
        A :class:`RegressionResult`; ``result.ok`` is False on any drift, missing golden or error.

    Raises:
        ManifestError: the manifest is invalid (the message names the case and field).
        FileExistsError: ``report_dir`` already holds a report and ``overwrite`` is False.

    Example:
        >>> result = run("regression.yaml", "goldens/")  # doctest: +SKIP
        >>> print(result.table())  # doctest: +SKIP
    """
    parsed = manifest if isinstance(manifest, Manifest) else load_manifest(manifest)
    golden = Path(golden_dir)
    if report_dir is not None and not overwrite and (Path(report_dir) / "index.html").exists():
        raise FileExistsError(
            f"{report_dir} already holds a regression report (index.html); pass --overwrite (overwrite=True) to "
            "replace it, or choose another folder"
        )
    hub = {"cache_dir": cache_dir, "local_files_only": local_files_only, "token": token}
    voices: dict[tuple[Any, ...], Voice] = {}
    results = []
    bar = progress_bar(parsed.cases, desc="update goldens" if update else "regress", show=progress)
    for case in bar:
        bar.set_postfix_str(case.name)
        outcome = _run_case(case, golden, parsed.base_dir, update, hub, voices)
        logger.info("case %s: %s", case.name, outcome.status)
        results.append(outcome)
    result = RegressionResult(cases=tuple(results), golden_dir=golden, updated=update)
    if report_dir is not None:
        from .html_report import write_report

        result = replace(result, report=write_report(result, report_dir))
    return result
