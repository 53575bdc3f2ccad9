"""Tests for log_spectrogram and the hand-written PNG encoder."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from vits_adapters.audio import spectrogram
from vits_adapters.errors import InvalidInputError
from vits_adapters.audio.spectrogram import log_spectrogram, write_spectrogram_png

SR = 16_000


def _tone(freq: float = 1000.0, seconds: float = 0.5) -> np.ndarray:
    t = np.arange(int(SR * seconds)) / SR
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """Split a PNG into (tag, payload) pairs, checking each CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, offset = [], 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        tag = data[offset + 4 : offset + 8]
        payload = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert crc == zlib.crc32(tag + payload) & 0xFFFFFFFF
        chunks.append((tag, payload))
        offset += 12 + length
    return chunks


def _decode(path: Path) -> np.ndarray:
    """Decode an unfiltered 8-bit RGB PNG written by write_spectrogram_png."""
    chunks = dict(_chunks(path.read_bytes()))
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert (depth, color, interlace) == (8, 2, 0)
    raw = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), dtype=np.uint8).reshape(height, -1)
    assert (raw[:, 0] == 0).all()
    return raw[:, 1:].reshape(height, width, 3)


def test_shape() -> None:
    spec = log_spectrogram(_tone(), n_fft=512, hop=128)
    assert spec.shape == (257, 8000 // 128 + 1)
    assert spec.dtype == np.float32
    assert np.isfinite(spec).all()


def test_tone_peaks_at_its_bin() -> None:
    spec = log_spectrogram(_tone(1000.0), n_fft=1024, hop=256)
    assert int(spec.mean(axis=1).argmax()) == round(1000.0 * 1024 / SR)  # bin 64


def test_short_and_invalid_input() -> None:
    assert log_spectrogram(np.ones(10, np.float32)).shape == (513, 1)
    with pytest.raises(InvalidInputError):
        log_spectrogram(np.zeros(0, np.float32))
    with pytest.raises(InvalidInputError):
        log_spectrogram(np.zeros((2, 100), np.float32))
    with pytest.raises(InvalidInputError, match="hop"):
        log_spectrogram(_tone(), hop=0)


def test_png_structure(tmp_path: Path) -> None:
    waveform = _tone()
    path = write_spectrogram_png(waveform, tmp_path / "img" / "spec.png", n_fft=512, hop=128, height=64)
    assert path == tmp_path / "img" / "spec.png"
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    chunks = _chunks(data)
    assert [tag for tag, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    width, height = struct.unpack(">II", chunks[0][1][:8])
    assert (width, height) == (log_spectrogram(waveform, n_fft=512, hop=128).shape[1], 64)
    assert len(zlib.decompress(chunks[1][1])) == height * (1 + 3 * width)


def test_png_low_frequencies_at_bottom(tmp_path: Path) -> None:
    image = _decode(write_spectrogram_png(_tone(500.0), tmp_path / "low.png", height=128))
    brightness = image.astype(int).sum(axis=2).mean(axis=1)
    row = int(brightness.argmax())
    expected = round((1 - 500.0 / (SR / 2)) * 127)  # row 0 is the top (Nyquist)
    assert abs(row - expected) <= 2


def test_png_survives_nan(tmp_path: Path) -> None:
    waveform = _tone()
    waveform[100] = np.nan
    image = _decode(write_spectrogram_png(waveform, tmp_path / "nan.png", height=32))
    assert image.shape[0] == 32


def test_failing_writer_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_chunk(handle: object, tag: bytes, data: bytes) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(spectrogram, "_png_chunk", broken_chunk)
    with pytest.raises(OSError, match="disk full"):
        write_spectrogram_png(_tone(), tmp_path / "spec.png")
    assert list(tmp_path.iterdir()) == []

    previous = tmp_path / "old.png"
    previous.write_bytes(b"previous image")
    with pytest.raises(OSError, match="disk full"):
        write_spectrogram_png(_tone(), previous)
    assert previous.read_bytes() == b"previous image"
    assert list(tmp_path.iterdir()) == [previous]
