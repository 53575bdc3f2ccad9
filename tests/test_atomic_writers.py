"""Every writer is all-or-nothing: a failure mid-write (an exception, a full disk) leaves the previous files intact."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import vits_adapters.audio.waveform as audio_module
import vits_adapters.formats.writer as export_module
from vits_adapters import Audio, from_pretrained
from vits_adapters.io.atomic import atomic_write_files
from vits_adapters.cli.entry import main

FORMATS = ["vits-adapters", "vits-original", "transformers", "piper"]


@pytest.fixture(scope="module")
def voice(original_dirs):
    return from_pretrained(original_dirs["single"])


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _fail_half_way(real, exc: BaseException):
    """A writer that writes a partial file at the path it was given, then raises ``exc``."""

    def write(*args, **kwargs):
        real(*args, **kwargs)
        path = Path(args[1]) if isinstance(args[1], (str, Path)) else None
        if path is not None:
            path.write_bytes(path.read_bytes()[:100])
        raise exc

    return write


def _full_disk() -> OSError:
    return OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("format", FORMATS)
@pytest.mark.parametrize("failure", [RuntimeError("writer crashed"), _full_disk()], ids=["exception", "ENOSPC"])
def test_a_failing_weights_writer_leaves_the_previous_files(voice, format, failure, tmp_path, monkeypatch):
    out = tmp_path / "out"
    voice.save_pretrained(out, format=format)
    before = _snapshot(out)
    if format in ("vits-adapters", "transformers"):
        monkeypatch.setattr(export_module, "save_file", _fail_half_way(export_module.save_file, failure))
    else:
        def torch_save(obj, handle):
            handle.write(b"PK\x03\x04 partial")
            raise failure
        monkeypatch.setattr(export_module.torch, "save", torch_save)
    with pytest.raises(type(failure)) as caught:
        voice.save_pretrained(out, format=format, overwrite=True)
    assert caught.value is failure
    assert _snapshot(out) == before  # same names (no temp or staging debris), same bytes


def test_a_failure_after_the_weights_keeps_the_old_weights_too(voice, tmp_path, monkeypatch):
    """The weights and the config are replaced together or not at all."""
    out = tmp_path / "out"
    voice.save_pretrained(out, format="vits-original")
    before = _snapshot(out)
    real_dumps = json.dumps

    def dumps(obj, *args, **kwargs):
        if isinstance(obj, dict) and "model" in obj and "data" in obj:
            raise _full_disk()
        return real_dumps(obj, *args, **kwargs)

    monkeypatch.setattr(export_module.json, "dumps", dumps)
    with pytest.raises(OSError, match="No space left"):
        voice.save_pretrained(out, format="vits-original", weight_norm="plain", overwrite=True)
    assert _snapshot(out) == before


def test_a_failed_first_write_leaves_nothing(voice, tmp_path, monkeypatch):
    monkeypatch.setattr(export_module, "save_file", _fail_half_way(export_module.save_file, _full_disk()))
    with pytest.raises(OSError):
        voice.save_pretrained(tmp_path / "new")
    assert list((tmp_path / "new").iterdir()) == []


def test_existing_outputs_are_refused_before_anything_is_written(voice, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "config.json").write_text("{}")
    with pytest.raises(FileExistsError, match=r"config\.json already exist; pass overwrite=True to replace them"):
        voice.save_pretrained(out)
    assert _snapshot(out) == {"config.json": b"{}"}


@pytest.mark.parametrize("overwrite", [False, True])
def test_the_source_is_never_overwritten(original_dirs, tmp_path, overwrite):
    folder = tmp_path / "voice"
    folder.mkdir()
    for path in original_dirs["single"].iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    before = _snapshot(folder)
    loaded = from_pretrained(folder)
    with pytest.raises(FileExistsError, match="refusing to write over the checkpoint being converted"):
        loaded.save_pretrained(folder, format="vits-original", overwrite=overwrite)
    assert _snapshot(folder) == before
    assert main(["convert", str(folder), str(folder), "--to", "vits", "--overwrite"]) == 1
    assert _snapshot(folder) == before


def test_staging_requires_every_promised_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        with atomic_write_files(tmp_path, ["a.bin", "b.bin"]) as staging:
            (staging / "a.bin").write_bytes(b"a")
    assert list(tmp_path.iterdir()) == []


def test_audio_save_refuses_an_existing_file_unless_asked(tmp_path):
    audio = Audio(np.sin(np.linspace(0, 200, 4000)).astype(np.float32) * 0.5, 16000)
    target = tmp_path / "a.wav"
    target.write_bytes(b"previous")
    with pytest.raises(FileExistsError, match="refusing to overwrite existing file"):
        audio.save(target)
    assert target.read_bytes() == b"previous"
    audio.save(target, overwrite=True)
    assert target.read_bytes()[:4] == b"RIFF"


def test_audio_save_on_a_full_disk_keeps_the_previous_file(tmp_path, monkeypatch):
    audio = Audio(np.zeros(100, dtype=np.float32) + 0.1, 16000)
    target = tmp_path / "a.wav"
    target.write_bytes(b"previous")

    def write(path, *args, **kwargs):
        Path(path).write_bytes(b"RIFF partial")
        raise _full_disk()

    monkeypatch.setattr(audio_module.sf, "write", write)
    with pytest.raises(OSError, match="No space left"):
        audio.save(target, overwrite=True)
    assert _snapshot(tmp_path) == {"a.wav": b"previous"}


def test_cli_synth_refuses_an_existing_output_unless_overwrite(original_dirs, tmp_path, capsys):
    target = tmp_path / "out.wav"
    target.write_bytes(b"previous")
    args = ["synth", str(original_dirs["single"]), "--tokens", "1,2,3,4", "--seed", "0", "-o", str(target)]
    assert main(args) == 1
    assert "refusing to overwrite existing file" in capsys.readouterr().err
    assert target.read_bytes() == b"previous"
    assert main([*args, "--overwrite", "--quiet"]) == 0
    assert target.read_bytes()[:4] == b"RIFF"


_FULL_DISK_SCRIPT = textwrap.dedent(
    """
    import resource, signal, sys
    from vits_adapters import from_pretrained
    voice = from_pretrained(sys.argv[1])
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead of killing us
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, resource.RLIM_INFINITY))
    try:
        voice.save_pretrained(sys.argv[2], format=sys.argv[3], overwrite=True)
    except OSError as err:
        print("OSError", err.errno)
    else:
        print("written")
    """
)


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE file-size limits are a Linux feature")
@pytest.mark.parametrize("format", ["vits-adapters", "vits-original"])
def test_a_real_write_limit_mid_file_leaves_the_previous_files(voice, original_dirs, tmp_path, format):
    out = tmp_path / "out"
    voice.save_pretrained(out, format=format)
    before = _snapshot(out)
    assert max(len(data) for data in before.values()) > 200_000  # the limit really cuts the weights file
    result = subprocess.run(
        [sys.executable, "-c", _FULL_DISK_SCRIPT, str(original_dirs["single"]), str(out), format],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert result.stdout.split() == ["OSError", str(errno.EFBIG)], result.stderr
    assert _snapshot(out) == before
