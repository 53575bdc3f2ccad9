"""Every error class through every subcommand: its documented exit code, one error line, valid JSON either way."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from vits_adapters.cli import entry as cli
from vits_adapters.cli.entry import EXIT_CODES, EXIT_USAGE, main
from vits_adapters.errors import (
    CheckpointNotFoundError,
    CheckpointReadError,
    ConfigMismatchError,
    FormatDetectionError,
    InvalidInputError,
    KeyMappingError,
    SilentOutputError,
    SpecError,
    StateDictMismatchError,
    UnknownNameError,
    VitsAdapterError,
)

COMMANDS = {
    "inspect": lambda tmp: ["inspect", "SRC"],
    "convert": lambda tmp: ["convert", "SRC", str(tmp / "out")],
    "synth": lambda tmp: ["synth", "SRC", "--tokens", "1,2,3,4,5", "--seed", "0", "-o", str(tmp / "out.wav")],
    "demo": lambda tmp: ["demo", "--workdir", str(tmp / "demo")],
    "formats": lambda tmp: ["formats"],
}
ERRORS: list[tuple[BaseException, int]] = [
    (SpecError("bad config field\n  detail"), 3),
    (UnknownNameError("unknown format 'x'"), 3),
    (CheckpointNotFoundError("no file"), 4),
    (CheckpointReadError("corrupt\n  more"), 4),
    (FormatDetectionError("no format matches"), 5),
    (KeyMappingError("unmapped keys:\n  a\n  b"), 5),
    (StateDictMismatchError("gaps", missing=["a.weight"]), 5),
    (ConfigMismatchError("config disagrees"), 5),
    (SilentOutputError("silent"), 6),
    (InvalidInputError("bad speaker"), 7),
    (VitsAdapterError("other"), 1),
    (FileExistsError("out exists"), 1),
    (OSError(28, "No space left on device"), 1),
    (ValueError("a bug"), 1),
]


def _documented_codes() -> dict[str, int]:
    """Class name -> exit code, as the --help epilog states it."""
    documented = {}
    for line in cli.EPILOG.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2 and parts[0].isdigit():
            for word in parts[1].replace(",", " ").replace("(", " ").split():
                if word.endswith("Error"):
                    documented[word] = int(parts[0])
    return documented


def test_every_error_class_has_a_documented_exit_code() -> None:
    documented = _documented_codes()
    for classes, code in EXIT_CODES:
        for cls in classes:
            if cls not in (VitsAdapterError, OSError):
                assert documented[cls.__name__] == code, cls.__name__
    for error, code in ERRORS:
        assert cli.exit_code_for(error) == code
        if type(error).__name__ in documented:
            assert documented[type(error).__name__] == code


def _check_failure(code: int, out: str, err: str, *, expected: int, as_json: bool, error_type: str) -> None:
    assert code == expected
    assert "Traceback" not in err
    lines = err.rstrip("\n").split("\n")
    assert lines[0].startswith("error: ") and len(lines[0]) > len("error: ")
    assert all(line.startswith("  ") for line in lines[1:])  # the rest is the indented detail of that one error
    if as_json:
        failure = json.loads(out)["error"]
        assert failure["type"] == error_type and failure["exit_code"] == expected and failure["message"]
    else:
        assert out == ""


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
@pytest.mark.parametrize(("error", "expected"), ERRORS, ids=[type(e).__name__ for e, _ in ERRORS])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_each_error_class_through_each_command(
    command: str, error: BaseException, expected: int, as_json: bool, tmp_path: Path, capsys, monkeypatch
) -> None:
    def fail(args: object) -> None:
        raise error

    monkeypatch.setattr(cli, f"cmd_{command}", fail)
    argv = [part if part != "SRC" else str(tmp_path / "G_1.pth") for part in COMMANDS[command](tmp_path)]
    code = main([*argv, *(["--json"] if as_json else [])])
    out, err = capsys.readouterr()
    unexpected = not isinstance(error, (VitsAdapterError, OSError))
    _check_failure(code, out, err, expected=expected, as_json=as_json, error_type="RuntimeError" if unexpected else type(error).__name__)
    if unexpected:
        assert "a bug in vits-adapters; rerun with --debug" in err
    else:
        assert err.split("\n")[0] == f"error: {str(error).splitlines()[0]}"


def test_debug_shows_the_traceback_of_an_unexpected_error(capsys, monkeypatch) -> None:
    def fail(args: object) -> None:
        raise ValueError("a bug")

    monkeypatch.setattr(cli, "cmd_formats", fail)
    assert main(["formats", "--debug"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "ValueError: a bug" in err


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_usage_errors_exit_2(command: str, as_json: bool, capsys) -> None:
    code = main([command, "--no-such-flag", *(["--json"] if as_json else [])])
    out, err = capsys.readouterr()
    assert code == EXIT_USAGE and "Traceback" not in err and "error: " in err
    if as_json:
        assert json.loads(out)["error"]["type"] == "UsageError"


# --- real failures, not injected --------------------------------------------------------------------------------


def _copy(single_dir: Path, tmp: Path, edit: Callable[[dict], None] | None = None) -> Path:
    folder = tmp / "voice"
    folder.mkdir()
    checkpoint = torch.load(single_dir / "G_1.pth", weights_only=True)
    if edit:
        edit(checkpoint["model"])
    torch.save(checkpoint, folder / "G_1.pth")
    (folder / "config.json").write_bytes((single_dir / "config.json").read_bytes())
    return folder


def _config(single_dir: Path, tmp: Path, section: str, field: str, value: object) -> list[str]:
    data = json.loads((single_dir / "config.json").read_text())
    data[section][field] = value
    (tmp / "other.json").write_text(json.dumps(data))
    return [str(single_dir), "--config", str(tmp / "other.json")]


def _classifier(tmp: Path) -> list[str]:
    model = torch.nn.Sequential(torch.nn.Linear(4, 3))
    torch.save(model.state_dict(), tmp / "classifier.pth")
    return [str(tmp / "classifier.pth")]


def _zero_byte(tmp: Path) -> list[str]:
    (tmp / "G_1.pth").write_bytes(b"")
    return [str(tmp / "G_1.pth")]


LOAD_FAILURES: dict[str, tuple[Callable[[Path, Path], list[str]], int, str]] = {
    "wrong-typed-config": (lambda s, t: _config(s, t, "model", "hidden_channels", "32"), 3, "SpecError"),
    "unknown-format": (lambda s, t: [str(s), "--format", "vits-orignal"], 3, "UnknownNameError"),
    "missing-file": (lambda s, t: [str(t / "G_9.pth")], 4, "CheckpointNotFoundError"),
    "zero-byte-file": (lambda s, t: _zero_byte(t), 4, "CheckpointReadError"),
    "another-architecture": (lambda s, t: _classifier(t), 5, "FormatDetectionError"),
    "unmapped-tensor": (lambda s, t: [str(_copy(s, t, lambda m: m.__setitem__("enc_x.w", torch.ones(2))))], 5, "KeyMappingError"),
    "missing-tensor": (lambda s, t: [str(_copy(s, t, lambda m: m.pop("dec.conv_pre.bias")))], 5, "StateDictMismatchError"),
    "config-disagrees": (lambda s, t: _config(s, t, "data", "n_speakers", 4), 5, "ConfigMismatchError"),
}


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
@pytest.mark.parametrize("case", sorted(LOAD_FAILURES))
@pytest.mark.parametrize("command", ["inspect", "convert", "synth"])
def test_real_load_failures_through_each_loading_command(
    command: str, case: str, as_json: bool, single_dir: Path, tmp_path: Path, capsys
) -> None:
    build, expected, error_type = LOAD_FAILURES[case]
    source = build(single_dir, tmp_path)
    argv = COMMANDS[command](tmp_path)
    argv = [*argv[:1], *source, *argv[2:]]
    code = main([*argv, *(["--json"] if as_json else [])])
    out, err = capsys.readouterr()
    _check_failure(code, out, err, expected=expected, as_json=as_json, error_type=error_type)
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.wav").exists()


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
@pytest.mark.parametrize(
    ("argv", "expected", "error_type"),
    [
        (["--speaker", "0"], 7, "InvalidInputError"),
        (["--text", "hello"], 7, "InvalidInputError"),
        (["--tokens", "1,999"], 7, "InvalidInputError"),
        (["--length-scale", "0.0001"], 6, "SilentOutputError"),
    ],
    ids=["speaker-for-single-speaker", "text-without-symbol-table", "token-out-of-range", "silent-output"],
)
def test_real_synthesis_failures(argv, expected, error_type, as_json, single_dir: Path, tmp_path: Path, capsys) -> None:
    base = ["synth", str(single_dir), "--seed", "0", "-o", str(tmp_path / "out.wav")]
    if "--text" not in argv and "--tokens" not in argv:
        base += ["--tokens", "1,2,3"]
    code = main([*base, *argv, *(["--json"] if as_json else [])])
    out, err = capsys.readouterr()
    _check_failure(code, out, err, expected=expected, as_json=as_json, error_type=error_type)
    assert not (tmp_path / "out.wav").exists()


@pytest.mark.parametrize("command", ["inspect", "convert", "synth", "formats"])
def test_json_on_success_for_each_command(command: str, single_dir: Path, tmp_path: Path, capsys) -> None:
    argv = [part if part != "SRC" else str(single_dir) for part in COMMANDS[command](tmp_path)]
    assert main([*argv, "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["command"] == command
    assert "error" not in err
