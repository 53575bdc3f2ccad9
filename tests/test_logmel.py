"""log_mel_spectrogram against independent implementations: transformers' mel filters and a numpy STFT."""

from __future__ import annotations

import numpy as np
import pytest
from transformers.audio_utils import mel_filter_bank

from vits_adapters.errors import InvalidInputError
from vits_adapters.audio.logmel import POWER_FLOOR, hz_to_mel, log_mel_spectrogram, mel_filterbank, mel_to_hz


@pytest.mark.parametrize(("sample_rate", "n_fft", "n_mels"), [(16000, 1024, 64), (8000, 256, 40), (22050, 1024, 80)])
def test_filterbank_equals_transformers_htk_filters(sample_rate: int, n_fft: int, n_mels: int) -> None:
    theirs = mel_filter_bank(
        num_frequency_bins=n_fft // 2 + 1,
        num_mel_filters=n_mels,
        min_frequency=0.0,
        max_frequency=sample_rate / 2,
        sampling_rate=sample_rate,
        norm=None,
        mel_scale="htk",
    )
    np.testing.assert_allclose(mel_filterbank(n_fft=n_fft, n_mels=n_mels, sample_rate=sample_rate), theirs, atol=1e-12)


def test_mel_scale_round_trips() -> None:
    hz = np.array([0.0, 100.0, 1000.0, 7999.0])
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(hz)), hz, atol=1e-9)
    assert abs(float(hz_to_mel(1000.0)) - 1000.0) < 0.1  # the HTK scale puts 1000 Hz near 1000 mel


def _numpy_log_mel(x: np.ndarray, sample_rate: int, n_fft: int, hop: int, n_mels: int) -> np.ndarray:
    padded = np.pad(x.astype(np.float64), n_fft // 2)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)  # periodic Hann
    frames = [padded[s : s + n_fft] * window for s in range(0, padded.size - n_fft + 1, hop)]
    power = np.abs(np.fft.rfft(np.array(frames), axis=1)) ** 2
    filters = mel_filter_bank(
        num_frequency_bins=n_fft // 2 + 1, num_mel_filters=n_mels, min_frequency=0.0,
        max_frequency=sample_rate / 2, sampling_rate=sample_rate, norm=None, mel_scale="htk",
    )
    return 10 * np.log10(np.maximum(power @ filters, POWER_FLOOR)).T


def test_log_mel_equals_a_numpy_stft_with_transformers_filters() -> None:
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, 5000).astype(np.float32)
    ours = log_mel_spectrogram(x, 16000, n_mels=40, n_fft=512, hop=128)
    np.testing.assert_allclose(ours, _numpy_log_mel(x, 16000, 512, 128, 40), atol=1e-9)


def test_a_tone_is_loudest_in_its_own_band() -> None:
    sample_rate, freq = 16000, 2000.0
    t = np.arange(sample_rate) / sample_rate
    logmel = log_mel_spectrogram(np.sin(2 * np.pi * freq * t), sample_rate)
    centres = mel_to_hz(np.linspace(0, float(hz_to_mel(sample_rate / 2)), logmel.shape[0] + 2))[1:-1]
    assert int(np.argmax(logmel.mean(axis=1))) == int(np.argmin(np.abs(centres - freq)))


def test_bad_waveforms_raise() -> None:
    with pytest.raises(InvalidInputError):
        log_mel_spectrogram(np.zeros((2, 10)), 8000)
    with pytest.raises(InvalidInputError):
        log_mel_spectrogram(np.zeros(0), 8000)
    with pytest.raises(InvalidInputError):
        mel_filterbank(n_fft=256, n_mels=0, sample_rate=8000)
