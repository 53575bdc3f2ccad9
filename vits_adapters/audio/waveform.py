"""Hold synthesized audio, save it as WAV, and judge whether it is plausibly audible."""

from __future__ import annotations

import math
import operator
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from vits_adapters.io.atomic import atomic_write
from vits_adapters.errors import InvalidInputError, SilentOutputError

CLIP_LEVEL = 0.999
"""Samples with an absolute value at or above this count as clipped."""
MAX_CLIPPED_FRACTION = 0.01
"""More than this fraction of clipped samples gives the verdict "clipped"."""
DB_FLOOR = -200.0
"""Level reported for a signal with no AC content at all (instead of -inf)."""
FLATNESS_FFT = 1024
FLATNESS_HOP = 512
FLATNESS_BAND = 8
"""Adjacent FFT bins averaged into one band so that white noise measures close to 1."""
_FRAMES_PER_BLOCK = 256

VERDICTS = ("ok", "silent", "non-finite", "noise-like", "clipped", "too-short")

_ADVICE = {
    "silent": (
        "check that every weight was loaded (a missing or zeroed decoder gives silence), "
        "that the input produced tokens, and the noise and length scales"
    ),
    "non-finite": (
        "check the checkpoint and the inputs for NaN/Inf, half-precision overflow, "
        "and a conversion that scaled or transposed a tensor wrongly"
    ),
    "too-short": (
        "check that the input text produced tokens and that the length scale "
        "and predicted durations are not close to zero"
    ),
}


@dataclass(frozen=True, eq=False)
class Audio:
    """A mono waveform (1-D float32, nominally in [-1, 1]) and its sample rate."""

    waveform: np.ndarray
    sample_rate: int

    def __post_init__(self) -> None:
        waveform = np.asarray(self.waveform)
        if waveform.ndim != 1:
            raise InvalidInputError(
                f"audio waveform must be 1-D (mono samples), got shape {waveform.shape}"
            )
        if not np.issubdtype(waveform.dtype, np.floating):
            raise InvalidInputError(
                f"audio waveform must hold floats in [-1, 1], got dtype {waveform.dtype} "
                "(divide integer PCM by its full scale, e.g. 32768 for int16)"
            )
        if isinstance(self.sample_rate, bool):
            raise InvalidInputError(f"sample rate must be a positive integer, got {self.sample_rate!r}")
        try:
            sample_rate = operator.index(self.sample_rate)
        except TypeError:
            raise InvalidInputError(
                f"sample rate must be a positive integer, got {self.sample_rate!r}"
            ) from None
        if sample_rate <= 0:
            raise InvalidInputError(f"sample rate must be a positive integer, got {sample_rate}")
        object.__setattr__(self, "waveform", waveform.astype(np.float32, copy=False))
        object.__setattr__(self, "sample_rate", sample_rate)

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.waveform.shape[0] / self.sample_rate

    def save(self, path: str | os.PathLike[str], *, subtype: str = "PCM_16", overwrite: bool = False) -> Path:
        """Write a mono WAV file atomically and return its path; PCM subtypes clip to [-1, 1].

        An existing file is replaced only with ``overwrite=True`` (else ``FileExistsError``); a failed write
        leaves it as it was.
        """
        target = Path(path)
        with atomic_write(target, overwrite=overwrite) as temp:
            sf.write(temp, self.waveform, self.sample_rate, subtype=subtype, format="WAV")
        return target


@dataclass(frozen=True)
class AudioCheck:
    """Measurements of a waveform and the verdict drawn from them."""

    duration: float
    rms_dbfs: float
    peak: float
    dc_offset: float
    clipped_fraction: float
    non_finite: int
    spectral_flatness: float
    verdict: str
    reasons: tuple[str, ...]

    def summary(self) -> str:
        """One line: verdict, measurements, and the reasons for anything other than "ok"."""
        line = (
            f"{self.verdict}: {self.duration:.3f} s, RMS {self.rms_dbfs:.1f} dBFS, "
            f"peak {self.peak:.3f}, DC {self.dc_offset:+.3f}, "
            f"clipped {self.clipped_fraction:.2%}, non-finite {self.non_finite}, "
            f"flatness {self.spectral_flatness:.2f}"
        )
        if self.reasons:
            line += " (" + "; ".join(self.reasons) + ")"
        return line

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-serializable fields; ``reasons`` becomes a list."""
        data = asdict(self)
        data["reasons"] = list(self.reasons)
        return data


def _as_audio(audio: Audio | np.ndarray, sample_rate: int | None) -> Audio:
    """Accept an ``Audio`` or a bare array plus its sample rate."""
    if isinstance(audio, Audio):
        if sample_rate is not None and sample_rate != audio.sample_rate:
            raise InvalidInputError(
                f"sample_rate={sample_rate} disagrees with the audio's own rate {audio.sample_rate}"
            )
        return audio
    if sample_rate is None:
        raise InvalidInputError("sample_rate is required when checking a bare waveform array")
    return Audio(np.asarray(audio), sample_rate)


def _frame_bands(samples: np.ndarray) -> np.ndarray:
    """Band-averaged power spectra of Hann-windowed frames, shape (frames, bands), DC bin dropped."""
    if samples.size < FLATNESS_FFT:
        samples = np.pad(samples, (0, FLATNESS_FFT - samples.size))
    count = 1 + (samples.size - FLATNESS_FFT) // FLATNESS_HOP
    window = np.hanning(FLATNESS_FFT)
    usable = (FLATNESS_FFT // 2) // FLATNESS_BAND * FLATNESS_BAND
    blocks = []
    for first in range(0, count, _FRAMES_PER_BLOCK):  # blocks bound memory on long audio
        starts = np.arange(first, min(first + _FRAMES_PER_BLOCK, count)) * FLATNESS_HOP
        frames = samples[starts[:, None] + np.arange(FLATNESS_FFT)] * window
        power = np.abs(np.fft.rfft(frames, axis=1)[:, 1 : usable + 1]) ** 2
        blocks.append(power.reshape(len(starts), -1, FLATNESS_BAND).mean(axis=2))
    return np.concatenate(blocks)


def _spectral_flatness(samples: np.ndarray) -> float:
    """Energy-weighted mean over frames of the geometric/arithmetic mean ratio of band powers.

    Weighting by frame energy keeps pauses and faint background noise from dominating.
    """
    if samples.size == 0:
        return 0.0
    bands = _frame_bands(samples)
    energy = bands.mean(axis=1)
    total = energy.sum()
    if not total > 0.0:
        return 0.0
    tiny = np.finfo(np.float64).tiny
    geometric = np.exp(np.log(np.maximum(bands, tiny)).mean(axis=1))
    # sum(energy * geometric / energy) / sum(energy) simplifies to a ratio of sums.
    return float(np.clip(geometric.sum() / total, 0.0, 1.0))


def check_audio(
    audio: Audio | np.ndarray,
    sample_rate: int | None = None,
    *,
    min_rms_dbfs: float = -60.0,
    min_seconds: float = 0.05,
    max_flatness: float = 0.6,
) -> AudioCheck:
    """Measure a waveform and give a verdict.

    Precedence: "non-finite" > "too-short" > "silent" > "clipped" > "noise-like" > "ok".
    The RMS is taken after removing the mean, so a constant offset counts as silence.
    ``reasons`` lists every problem found, not only the one that decided the verdict.
    """
    clip = _as_audio(audio, sample_rate)
    samples = clip.waveform.astype(np.float64)
    finite_mask = np.isfinite(samples)
    non_finite = int(samples.size - np.count_nonzero(finite_mask))
    finite = samples[finite_mask]

    if finite.size:
        dc_offset = float(finite.mean())
        ac = finite - dc_offset
        rms = math.sqrt(float(np.mean(ac * ac)))
        peak = float(np.max(np.abs(finite)))
        clipped_fraction = float(np.count_nonzero(np.abs(finite) >= CLIP_LEVEL)) / finite.size
        flatness = _spectral_flatness(ac)
    else:
        dc_offset = rms = peak = clipped_fraction = flatness = 0.0
    rms_dbfs = max(20.0 * math.log10(rms), DB_FLOOR) if rms > 0.0 else DB_FLOOR

    found: dict[str, str] = {}
    if non_finite:
        found["non-finite"] = f"{non_finite} of {samples.size} samples are NaN or Inf"
    if clip.duration < min_seconds:
        found["too-short"] = f"{clip.duration:.3f} s is shorter than {min_seconds:g} s"
    if rms_dbfs < min_rms_dbfs:
        found["silent"] = (
            f"RMS after removing the mean is {rms_dbfs:.1f} dBFS, below {min_rms_dbfs:g} dBFS"
        )
    if clipped_fraction > MAX_CLIPPED_FRACTION:
        found["clipped"] = (
            f"{clipped_fraction:.1%} of samples are at full scale (|x| >= {CLIP_LEVEL}), "
            f"more than {MAX_CLIPPED_FRACTION:.0%}"
        )
    if "silent" not in found and flatness > max_flatness:
        found["noise-like"] = f"spectral flatness {flatness:.2f} is above {max_flatness:g}"

    precedence = ("non-finite", "too-short", "silent", "clipped", "noise-like")
    verdict = next((name for name in precedence if name in found), "ok")
    return AudioCheck(
        duration=clip.duration,
        rms_dbfs=rms_dbfs,
        peak=peak,
        dc_offset=dc_offset,
        clipped_fraction=clipped_fraction,
        non_finite=non_finite,
        spectral_flatness=flatness,
        verdict=verdict,
        reasons=tuple(found[name] for name in precedence if name in found),
    )


def assert_audible(
    audio: Audio | np.ndarray,
    sample_rate: int | None = None,
    *,
    min_rms_dbfs: float = -60.0,
    min_seconds: float = 0.05,
    max_flatness: float = 0.6,
) -> AudioCheck:
    """Return the check, or raise ``SilentOutputError`` if the audio is silent, non-finite or too short.

    "noise-like" and "clipped" are returned, not raised: a model with random weights
    legitimately produces noise.
    """
    check = check_audio(
        audio,
        sample_rate,
        min_rms_dbfs=min_rms_dbfs,
        min_seconds=min_seconds,
        max_flatness=max_flatness,
    )
    advice = _ADVICE.get(check.verdict)
    if advice is not None:
        raise SilentOutputError(f"synthesized audio is {check.verdict}: {check.summary()}; {advice}")
    return check
