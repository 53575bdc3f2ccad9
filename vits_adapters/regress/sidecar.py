"""The JSON sidecar written beside each golden WAV: what it records, and what changed since it was written.

Local paths are stored relative to the manifest's folder (POSIX separators), and files fetched from the Hub by
their path inside the repo, so goldens committed with their manifest read the same on every machine.
"""

from __future__ import annotations

import hashlib
import math
import os
import platform
from importlib import metadata
from pathlib import Path, PurePath
from typing import Any

import numpy as np
import torch

from ..audio.waveform import Audio, check_audio
from ..hub.fetch import path_in_snapshot
from ..audio.logmel import DEFAULT_HOP, DEFAULT_N_FFT, DEFAULT_N_MELS, log_mel_spectrogram
from .manifest import RegressionCase
from ..voice import Voice

_HASH_CHUNK = 1 << 20


def portable_path(value: str, base_dir: str | os.PathLike[str]) -> str:
    """How a sidecar stores ``value``: a Hub repo id (or any relative value) unchanged, a file inside a Hub cache
    snapshot as its path in the repo, any other absolute path relative to ``base_dir`` with POSIX separators
    (``..`` when it lies outside), or as an absolute POSIX path when no relative one exists (another drive)."""
    if not PurePath(value).is_absolute():
        return value
    in_repo = path_in_snapshot(value)
    if in_repo is not None:
        return in_repo
    try:
        relative = os.path.relpath(value, base_dir)
    except ValueError:  # Windows: another drive has no relative path
        return Path(value).as_posix()
    return PurePath(relative).as_posix()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _versions() -> dict[str, str]:
    try:
        ours = metadata.version("vits-adapters")
    except metadata.PackageNotFoundError:
        ours = "unknown (not installed)"
    return {"vits_adapters": ours, "torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version()}


def logmel_summary(audio: Audio) -> dict[str, Any]:
    """Settings and statistics of the log-mel spectrogram, with the mean level of each band."""
    logmel = log_mel_spectrogram(audio.waveform, audio.sample_rate)
    return {
        "n_mels": DEFAULT_N_MELS,
        "n_fft": DEFAULT_N_FFT,
        "hop": DEFAULT_HOP,
        "frames": int(logmel.shape[1]),
        "mean_db": float(logmel.mean()),
        "std_db": float(logmel.std()),
        "min_db": float(logmel.min()),
        "max_db": float(logmel.max()),
        "band_mean_db": [round(float(v), 4) for v in logmel.mean(axis=1)],
    }


def build_sidecar(
    case: RegressionCase, voice: Voice, audio: Audio, effective: dict[str, Any], base_dir: str | os.PathLike[str]
) -> dict[str, Any]:
    """Everything needed to reproduce and judge the golden: parameters, checkpoint, versions and audio statistics.

    ``base_dir`` is the manifest's folder; local paths are stored relative to it (see :func:`portable_path`).
    """
    weights = Path(voice.report.files[0]) if voice.report.files else None
    check = check_audio(audio)
    parameters = case.parameters()
    for key in ("source", "config"):
        if parameters[key] is not None:
            parameters[key] = portable_path(parameters[key], base_dir)
    return {
        "case": case.name,
        "parameters": parameters,
        "effective": effective,
        "checkpoint": {
            "format": voice.report.format,
            "source": portable_path(voice.report.source, base_dir),
            "revision": voice.report.revision,
            "files": [portable_path(name, base_dir) for name in voice.report.files],
            "sha256": _sha256(weights) if weights else None,
        },
        "versions": _versions(),
        "audio": {
            "sample_rate": audio.sample_rate,
            "samples": int(audio.waveform.size),
            "duration": audio.duration,
            "rms": math.sqrt(float(np.mean(audio.waveform.astype(np.float64) ** 2))),
            "peak": float(np.max(np.abs(audio.waveform))),
            "verdict": check.verdict,
            "logmel": logmel_summary(audio),
        },
    }


def provenance_notes(golden_meta: dict[str, Any], sidecar: dict[str, Any], base_dir: str | os.PathLike[str]) -> list[str]:
    """What differs between the golden's sidecar and the current one: source, file hash, revision, versions.

    A source stored as an absolute path (by older releases) is made relative to ``base_dir`` before comparing.
    """
    notes = []
    before, now = golden_meta.get("checkpoint", {}), sidecar["checkpoint"]
    old_source = before.get("source")
    if isinstance(old_source, str) and portable_path(old_source, base_dir) != now["source"]:
        notes.append(f"source changed since the golden: {old_source} -> {now['source']}")
    if before.get("sha256") != now["sha256"]:
        notes.append(f"checkpoint file changed since the golden: sha256 {before.get('sha256')} -> {now['sha256']}")
    if before.get("revision") != now["revision"]:
        notes.append(f"revision changed since the golden: {before.get('revision')} -> {now['revision']}")
    old_versions = golden_meta.get("versions", {})
    changed = [f"{k} {old_versions.get(k)} -> {v}" for k, v in sidecar["versions"].items() if old_versions.get(k) != v]
    if changed:
        notes.append("versions changed since the golden: " + ", ".join(changed))
    return notes
