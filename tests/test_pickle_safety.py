"""Pickle safety end to end: code-executing pickles never run, trust_pickle allows only the allowlist and says so."""

from __future__ import annotations

import json
import os
import pathlib
from pathlib import Path

import numpy as np
import pytest
import torch

from vits_adapters import CheckpointReadError, from_pretrained
from vits_adapters.io.checkpoint import ALLOWED_PICKLE_GLOBALS, read_checkpoint
from vits_adapters.cli.entry import main


class _CreatesMarker:
    """Unpickling this calls ``exec`` to create a marker file: the proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').close()",))


class _RunsCommand:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


def _good_checkpoint(single_dir: Path) -> dict:
    return torch.load(single_dir / "G_1.pth", weights_only=True)


def _save_with(folder: Path, single_dir: Path, **extra: object) -> Path:
    folder.mkdir(exist_ok=True)
    checkpoint = _good_checkpoint(single_dir)
    checkpoint.update(extra)
    torch.save(checkpoint, folder / "G_1.pth")
    (folder / "config.json").write_bytes((single_dir / "config.json").read_bytes())
    return folder


def test_the_payload_does_run_when_unpickled_without_protection(tmp_path: Path) -> None:
    """Guards the tests below: the marker payload really executes code under plain pickle."""
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pth"
    torch.save({"hook": _CreatesMarker(marker)}, path)
    torch.load(path, weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize("payload", [_CreatesMarker, _RunsCommand])
@pytest.mark.parametrize("trust_pickle", [False, True])
def test_code_executing_checkpoint_is_refused_and_never_runs(
    payload: type, trust_pickle: bool, single_dir: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    folder = _save_with(tmp_path / "voice", single_dir, hook=payload(marker))
    with pytest.raises(CheckpointReadError) as caught:
        from_pretrained(folder, trust_pickle=trust_pickle)
    message = str(caught.value)
    assert "nothing was imported or executed" in message
    assert ("builtins.exec" if payload is _CreatesMarker else f"{os.system.__module__}.system") in message
    assert not marker.exists()


def test_allowlisted_and_code_executing_globals_together_stay_refused(single_dir: Path, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    folder = _save_with(tmp_path / "voice", single_dir, data_dir=pathlib.PosixPath("/data"), hook=_CreatesMarker(marker))
    with pytest.raises(CheckpointReadError) as caught:
        from_pretrained(folder, trust_pickle=True)
    message = str(caught.value)
    assert "refused even with trust_pickle=True" in message
    outside = message.split("outside the allowlist:\n", 1)[1].split("\ntrust_pickle=True allows", 1)[0]
    assert outside.split() == ["builtins.exec"]  # the harmless path is not listed as a problem
    assert not marker.exists()


def test_trusted_load_names_the_allowed_globals_in_the_report(single_dir: Path, tmp_path: Path) -> None:
    extra = {"data_dir": pathlib.PosixPath("/data/ljs"), "lr": np.float64(2e-4)}
    folder = _save_with(tmp_path / "voice", single_dir, **extra)
    with pytest.raises(CheckpointReadError, match="pathlib.PosixPath"):
        from_pretrained(folder)

    voice = from_pretrained(folder, trust_pickle=True)

    allowed = voice.report.allowed_globals
    assert "pathlib.PosixPath" in allowed and "numpy.dtype" in allowed
    assert set(allowed) <= set(ALLOWED_PICKLE_GLOBALS)
    assert f"pickle globals allowed by trust_pickle: {', '.join(allowed)}" in voice.report.summary()
    assert voice.report.to_dict()["allowed_globals"] == allowed
    assert voice.report.complete


def test_a_plain_checkpoint_reports_no_allowed_globals(single_dir: Path) -> None:
    voice = from_pretrained(single_dir, trust_pickle=True)
    assert voice.report.allowed_globals == ()
    assert "trust_pickle" not in voice.report.summary()


def test_cli_trust_pickle_reports_allowed_globals_in_json(single_dir: Path, tmp_path: Path, capsys) -> None:
    folder = _save_with(tmp_path / "voice", single_dir, data_dir=pathlib.PosixPath("/data/ljs"))
    assert main(["inspect", str(folder), "--json"]) == 4
    failure = json.loads(capsys.readouterr().out)
    assert failure["error"]["type"] == "CheckpointReadError" and "pathlib.PosixPath" in failure["error"]["message"]

    assert main(["inspect", str(folder), "--json", "--trust-pickle"]) == 0
    success = json.loads(capsys.readouterr().out)
    assert "pathlib.PosixPath" in success["report"]["allowed_globals"]


def test_converting_a_legacy_pickle_to_safetensors_once(single_dir: Path, tmp_path: Path) -> None:
    """The route SECURITY.md documents: convert with the allowlist, then load the safetensors without it."""
    folder = _save_with(tmp_path / "voice", single_dir, data_dir=pathlib.PosixPath("/data/ljs"))
    out = tmp_path / "safe"
    assert main(["convert", str(folder), str(out), "--trust-pickle", "--to", "safetensors", "--quiet"]) == 0
    assert read_checkpoint(out / "model.safetensors").container == "safetensors"
    again = from_pretrained(out)
    original = from_pretrained(folder, trust_pickle=True)
    for key, tensor in original.generator.state_dict().items():
        assert torch.equal(again.generator.state_dict()[key], tensor), key
