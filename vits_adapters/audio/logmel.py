"""Compute log-mel spectrograms (HTK mel scale, power in dB) for comparing waveforms."""

from __future__ import annotations

import numpy as np

from ..errors import InvalidInputError
from .spectrogram import stft_magnitude

DEFAULT_N_MELS = 64
DEFAULT_N_FFT = 1024
DEFAULT_HOP = 256
POWER_FLOOR = 1e-10
"""Mel powers are clamped to this before taking the log (-100 dB)."""


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """HTK mel scale: 2595 * log10(1 + f / 700)."""
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    """Inverse of :func:`hz_to_mel`."""
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(*, n_fft: int, n_mels: int, sample_rate: int) -> np.ndarray:
    """Triangular filters, shape (n_fft // 2 + 1, n_mels), evenly spaced in mel from 0 Hz to Nyquist.

    Each filter rises linearly (in Hz) from its left corner to 1 at its centre and falls to 0 at its right
    corner; the corners are the neighbouring centres. No area normalization.
    """
    if n_mels <= 0 or n_fft <= 0 or sample_rate <= 0:
        raise InvalidInputError(
            f"n_fft, n_mels and sample_rate must be positive, got {n_fft}, {n_mels}, {sample_rate}"
        )
    bins_hz = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    corners_hz = mel_to_hz(np.linspace(0.0, float(hz_to_mel(sample_rate / 2.0)), n_mels + 2))
    left, centre, right = corners_hz[:-2], corners_hz[1:-1], corners_hz[2:]
    rising = (bins_hz[:, None] - left) / (centre - left)
    falling = (right - bins_hz[:, None]) / (right - centre)
    return np.maximum(0.0, np.minimum(rising, falling))


def log_mel_spectrogram(
    waveform: np.ndarray,
    sample_rate: int,
    *,
    n_mels: int = DEFAULT_N_MELS,
    n_fft: int = DEFAULT_N_FFT,
    hop: int = DEFAULT_HOP,
) -> np.ndarray:
    """Mel-band power in dB of a Hann-windowed STFT, shape (n_mels, frames), row 0 = lowest band.

    Args:
        waveform: 1-D samples.
        sample_rate: in Hz; sets where the mel bands fall.
        n_mels, n_fft, hop: bands, FFT size and hop in samples.

    Returns:
        float64 dB values, floored at ``10 * log10(POWER_FLOOR)``.

    Raises:
        InvalidInputError: an empty or multi-dimensional waveform, or a non-positive n_fft or hop.
    """
    power = stft_magnitude(waveform, n_fft=n_fft, hop=hop, dtype=np.float64).numpy() ** 2  # (bins, frames)
    mel = mel_filterbank(n_fft=n_fft, n_mels=n_mels, sample_rate=sample_rate).T @ power
    return 10.0 * np.log10(np.maximum(mel, POWER_FLOOR))
