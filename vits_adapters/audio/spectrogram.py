"""Compute a dB spectrogram of a waveform and render it as an RGB PNG image."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

from vits_adapters.io.atomic import atomic_write
from vits_adapters.errors import InvalidInputError

DYNAMIC_RANGE_DB = 80.0
"""Levels this far below the loudest bin or lower render as the darkest color."""
MAGNITUDE_FLOOR = 1e-10
"""Magnitudes are clamped to this before taking the log (-200 dB)."""
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Stops of a dark blue -> purple -> magenta -> orange -> pale yellow ramp.
_COLOR_POSITIONS = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
_COLOR_STOPS = np.array(
    [
        [12, 8, 46],
        [86, 28, 128],
        [184, 52, 118],
        [246, 128, 46],
        [252, 244, 172],
    ],
    dtype=np.float64,
)


def _positive_int(name: str, value: int) -> int:
    """Return ``value`` if it is a positive integer, else raise ``InvalidInputError``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise InvalidInputError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def stft_magnitude(waveform: np.ndarray, *, n_fft: int, hop: int, dtype: type = np.float32) -> torch.Tensor:
    """|STFT| of a 1-D waveform in ``dtype``: Hann window, centred frames; shape (n_fft // 2 + 1, frames).

    Raises:
        InvalidInputError: an empty or multi-dimensional waveform, or a non-positive n_fft or hop.
    """
    n_fft = _positive_int("n_fft", n_fft)
    hop = _positive_int("hop", hop)
    samples = np.asarray(waveform)
    if samples.ndim != 1 or samples.size == 0:
        raise InvalidInputError(f"waveform must be a non-empty 1-D array, got shape {samples.shape}")
    signal = torch.from_numpy(np.ascontiguousarray(samples, dtype=dtype))
    spectrum = torch.stft(
        signal,
        n_fft=n_fft,
        hop_length=hop,
        window=torch.hann_window(n_fft, dtype=signal.dtype),
        center=True,
        pad_mode="constant",  # unlike "reflect", works for waveforms shorter than n_fft // 2
        return_complex=True,
    )
    return spectrum.abs()


def log_spectrogram(waveform: np.ndarray, *, n_fft: int = 1024, hop: int = 256) -> np.ndarray:
    """Magnitude in dB of a Hann-windowed STFT, shape (n_fft // 2 + 1, frames), row 0 = DC."""
    magnitude = stft_magnitude(waveform, n_fft=n_fft, hop=hop).clamp_min(MAGNITUDE_FLOOR)
    return (20.0 * torch.log10(magnitude)).numpy().astype(np.float32)


def _colorize(level: np.ndarray) -> np.ndarray:
    """Map values in [0, 1] to uint8 RGB by piecewise-linear interpolation between the stops."""
    channels = [np.interp(level, _COLOR_POSITIONS, _COLOR_STOPS[:, c]) for c in range(3)]
    return np.rint(np.stack(channels, axis=-1)).astype(np.uint8)


def _resample_rows(spec: np.ndarray, height: int) -> np.ndarray:
    """Linearly interpolate the frequency axis (rows) of ``spec`` to ``height`` rows."""
    position = np.linspace(0.0, spec.shape[0] - 1, height)
    below = np.floor(position).astype(np.intp)
    above = np.minimum(below + 1, spec.shape[0] - 1)
    weight = (position - below)[:, None]
    return spec[below] * (1.0 - weight) + spec[above] * weight


def _spectrogram_rgb(
    waveform: np.ndarray, *, n_fft: int = 1024, hop: int = 256, height: int = 256
) -> np.ndarray:
    """RGB image (height, frames, 3) of the spectrogram, low frequencies at the bottom."""
    height = _positive_int("height", height)
    spec = log_spectrogram(waveform, n_fft=n_fft, hop=hop).astype(np.float64)
    finite = np.isfinite(spec)
    top = float(spec[finite].max()) if finite.any() else 0.0
    spec = np.where(finite, spec, top - DYNAMIC_RANGE_DB)  # NaN/Inf frames render as the floor
    level = np.clip((spec - (top - DYNAMIC_RANGE_DB)) / DYNAMIC_RANGE_DB, 0.0, 1.0)
    return _colorize(_resample_rows(level, height)[::-1])


def _png_chunk(handle: BinaryIO, tag: bytes, data: bytes) -> None:
    """Write one PNG chunk: length, tag, data, CRC-32 of tag and data."""
    handle.write(struct.pack(">I", len(data)))
    handle.write(tag)
    handle.write(data)
    handle.write(struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))


def _write_png(handle: BinaryIO, rgb: np.ndarray) -> None:
    """Write an 8-bit RGB image (height, width, 3) as a PNG with unfiltered scanlines."""
    height, width, _ = rgb.shape
    handle.write(PNG_SIGNATURE)
    # Width, height, bit depth 8, color type 2 (RGB), deflate, adaptive filtering, no interlace.
    _png_chunk(handle, b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    scanlines = np.zeros((height, 1 + 3 * width), dtype=np.uint8)  # filter byte 0 = None
    scanlines[:, 1:] = rgb.reshape(height, 3 * width)
    _png_chunk(handle, b"IDAT", zlib.compress(scanlines.tobytes(), 6))
    _png_chunk(handle, b"IEND", b"")


def write_spectrogram_png(
    waveform: np.ndarray,
    path: str | os.PathLike[str],
    *,
    n_fft: int = 1024,
    hop: int = 256,
    height: int = 256,
) -> Path:
    """Render the spectrogram (one pixel column per frame, 80 dB range) to a PNG file atomically."""
    rgb = _spectrogram_rgb(waveform, n_fft=n_fft, hop=hop, height=height)
    target = Path(path)
    with atomic_write(target) as temp, open(temp, "wb") as handle:
        _write_png(handle, rgb)
    return target
