"""Tests for Audio, check_audio verdicts, and assert_audible."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from vits_adapters.audio.waveform import Audio, AudioCheck, assert_audible, check_audio
from vits_adapters.errors import InvalidInputError, SilentOutputError, VitsAdapterError

SR = 16_000
T = np.arange(SR) / SR  # one second


def _sine(freq: float = 440.0, amplitude: float = 0.5, t: np.ndarray = T) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _zeros() -> np.ndarray:
    return np.zeros(SR, dtype=np.float32)


def _denormal_constant() -> np.ndarray:
    return np.full(SR, 1e-39, dtype=np.float32)


def _denormal_noise() -> np.ndarray:
    return (np.random.default_rng(1).standard_normal(SR) * 1e-39).astype(np.float32)


def _quiet_tone() -> np.ndarray:
    return _sine(amplitude=1e-4)  # about -83 dBFS


def _dc_offset() -> np.ndarray:
    return np.full(SR, 0.5, dtype=np.float32)


def _with_nan() -> np.ndarray:
    x = _sine()
    x[1234] = np.nan
    return x


def _with_inf() -> np.ndarray:
    x = _sine()
    x[-1] = -np.inf
    return x


def _white_noise() -> np.ndarray:
    return (0.1 * np.random.default_rng(0).standard_normal(SR)).astype(np.float32)


def _harmonics() -> np.ndarray:
    return sum((_sine(220.0 * k, 0.3 / k) for k in range(1, 8)), np.zeros(SR, np.float32))


def _speech_like() -> np.ndarray:
    """Harmonic series on a wobbling pitch, amplitude-modulated into syllables with pauses."""
    f0 = 120.0 + 30.0 * np.sin(2 * np.pi * 3.0 * T)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    envelope = np.clip(np.sin(2 * np.pi * 4.0 * T), 0.0, None) ** 2
    voiced = sum(0.4 / k * np.sin(k * phase) for k in range(1, 30))
    return (envelope * voiced).astype(np.float32)


def _clipped() -> np.ndarray:
    return np.clip(_sine(amplitude=3.0), -1.0, 1.0)


def _too_short() -> np.ndarray:
    return _sine()[: int(0.02 * SR)]


VERDICT_CASES: list[tuple[Callable[[], np.ndarray], str]] = [
    (_zeros, "silent"),
    (_denormal_constant, "silent"),
    (_denormal_noise, "silent"),
    (_quiet_tone, "silent"),
    (_dc_offset, "silent"),
    (_with_nan, "non-finite"),
    (_with_inf, "non-finite"),
    (_white_noise, "noise-like"),
    (_sine, "ok"),
    (_harmonics, "ok"),
    (_speech_like, "ok"),
    (_clipped, "clipped"),
    (_too_short, "too-short"),
]


@pytest.mark.parametrize(("make", "verdict"), VERDICT_CASES, ids=[f.__name__ for f, _ in VERDICT_CASES])
def test_verdicts(make: Callable[[], np.ndarray], verdict: str) -> None:
    check = check_audio(make(), SR)
    assert check.verdict == verdict, check.summary()
    assert (check.reasons == ()) == (verdict == "ok")


def test_verdict_precedence() -> None:
    short_nan = _too_short().copy()
    short_nan[0] = np.nan
    assert check_audio(short_nan, SR).verdict == "non-finite"
    assert check_audio(np.zeros(100, np.float32), SR).verdict == "too-short"
    loud_noise = np.clip(np.random.default_rng(2).standard_normal(SR), -1, 1).astype(np.float32)
    check = check_audio(loud_noise, SR)
    assert check.verdict == "clipped"
    assert any("flatness" in reason for reason in check.reasons)


def test_measurements() -> None:
    check = check_audio(Audio(_sine(amplitude=0.5) + np.float32(0.1), SR))
    assert check.duration == pytest.approx(1.0)
    assert check.rms_dbfs == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.05)
    assert check.peak == pytest.approx(0.6, abs=1e-3)
    assert check.dc_offset == pytest.approx(0.1, abs=1e-3)
    assert check.clipped_fraction == 0.0
    assert check.non_finite == 0
    assert check.spectral_flatness < 0.05
    assert check_audio(_white_noise(), SR).spectral_flatness > 0.8


def test_thresholds_are_respected() -> None:
    assert check_audio(_quiet_tone(), SR, min_rms_dbfs=-90.0).verdict == "ok"
    assert check_audio(_too_short(), SR, min_seconds=0.01).verdict == "ok"
    assert check_audio(_white_noise(), SR, max_flatness=0.95).verdict == "ok"


def test_summary_and_to_dict() -> None:
    check = check_audio(_zeros(), SR)
    line = check.summary()
    assert "\n" not in line
    assert line.startswith("silent")
    data = check.to_dict()
    assert data["verdict"] == "silent"
    assert isinstance(data["reasons"], list) and data["reasons"]
    assert set(data) == set(AudioCheck.__dataclass_fields__)
    json.dumps(data, allow_nan=False)


def test_bare_array_needs_sample_rate() -> None:
    with pytest.raises(InvalidInputError, match="sample_rate"):
        check_audio(_sine())
    with pytest.raises(InvalidInputError, match="disagrees"):
        check_audio(Audio(_sine(), SR), 22_050)


@settings(max_examples=40, deadline=None)
@given(arrays(np.float32, st.integers(0, 3000), elements=st.floats(width=32)))
def test_check_never_crashes(samples: np.ndarray) -> None:
    check = check_audio(samples, SR)
    assert check.verdict in {"ok", "silent", "non-finite", "noise-like", "clipped", "too-short"}
    assert 0.0 <= check.spectral_flatness <= 1.0
    assert check.non_finite == int(np.count_nonzero(~np.isfinite(samples)))


def test_audio_validation() -> None:
    with pytest.raises(InvalidInputError, match="1-D"):
        Audio(np.zeros((2, 100), np.float32), SR)
    with pytest.raises(InvalidInputError, match="sample rate"):
        Audio(_sine(), 0)
    with pytest.raises(ValueError, match="sample rate"):
        Audio(_sine(), -8000)
    with pytest.raises(InvalidInputError, match="int16"):
        Audio(np.zeros(10, np.int16), SR)


def test_audio_duration_and_dtype() -> None:
    audio = Audio(np.zeros(SR // 2, dtype=np.float64), SR)
    assert audio.waveform.dtype == np.float32
    assert audio.duration == pytest.approx(0.5)


@pytest.mark.parametrize("subtype", ["PCM_16", "FLOAT"])
def test_save_round_trips(tmp_path: Path, subtype: str) -> None:
    audio = Audio(_sine(), SR)
    path = audio.save(tmp_path / "sub" / "tone.wav", subtype=subtype)
    assert path == tmp_path / "sub" / "tone.wav"
    data, rate = sf.read(path, dtype="float32")
    assert rate == SR
    assert data.shape == audio.waveform.shape
    np.testing.assert_allclose(data, audio.waveform, atol=1.0 / 32_768)
    assert sf.info(str(path)).subtype == subtype
    assert [p.name for p in path.parent.iterdir()] == ["tone.wav"]


@pytest.mark.parametrize("make", [_zeros, _with_nan, _too_short])
def test_assert_audible_raises(make: Callable[[], np.ndarray]) -> None:
    expected = check_audio(make(), SR)
    with pytest.raises(SilentOutputError) as info:
        assert_audible(Audio(make(), SR))
    assert expected.summary() in str(info.value)
    assert "check" in str(info.value)


def test_assert_audible_passes_tone_and_noise() -> None:
    assert assert_audible(_sine(), SR).verdict == "ok"
    assert assert_audible(_white_noise(), SR).verdict == "noise-like"
    assert assert_audible(_clipped(), SR).verdict == "clipped"


def test_silent_output_error_is_package_error() -> None:
    assert issubclass(SilentOutputError, VitsAdapterError)
    with pytest.raises(VitsAdapterError):
        assert_audible(_zeros(), SR)
