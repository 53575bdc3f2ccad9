"""The vits-adapters command line: every command, its output, JSON mode and the exit code of each error class."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf
import torch
from safetensors.torch import load_file

from vits_adapters.audio.waveform import check_audio
from vits_adapters.cli.entry import main
from vits_adapters.cli.demo import build_random_generator
from vits_adapters.arch.vits.hparams import VitsHParams
from vits_adapters.report import LoadReport
from vits_adapters.voice import Voice

SAMPLE_RATE = 8000
# Small, but with the sizes the original trainer hard-codes, so the original layout can hold it.
HPARAMS = VitsHParams(
    n_vocab=40,
    spec_channels=17,
    inter_channels=8,
    hidden_channels=16,
    filter_channels=32,
    n_heads=2,
    n_layers=1,
    resblock_kernel_sizes=(3,),
    resblock_dilation_sizes=((1, 3, 5),),
    upsample_rates=(8, 8),
    upsample_initial_channel=16,
    upsample_kernel_sizes=(16, 16),
    sampling_rate=SAMPLE_RATE,
)
TOKEN = "hf_notARealToken123"
TOKENS = "1,5,9,2,7,3,11,4,8,15,16,23,6,10"


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One random voice saved as vits-adapters (plain WN) and as vits-original (legacy WN)."""
    root = tmp_path_factory.mktemp("cli-checkpoints")
    generator = build_random_generator(HPARAMS, seed=3)
    report = LoadReport(
        format="in-memory", source="test", records=(), target_count=len(generator.state_dict()), weight_norm="fold"
    )
    voice = Voice(generator=generator, report=report)
    voice.save_pretrained(root / "ours", format="vits-adapters")
    voice.save_pretrained(root / "original", format="vits-original", weight_norm="legacy")
    return {"ours": root / "ours", "original": root / "original"}


def _run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


# --- commands -----------------------------------------------------------------------------------------------------


def test_formats_lists_known_formats(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "formats")
    assert code == 0
    names = [line.split()[0] for line in out.splitlines()]
    assert "vits-original" in names and "vits-adapters" in names
    assert all(len(line.split()) > 1 for line in out.splitlines())  # each with a description

    code, out, _ = _run(capsys, "--json", "formats")
    assert code == 0 and {"vits-original", "vits-adapters"} <= set(json.loads(out)["formats"])


def test_inspect_prints_format_weight_norm_and_hparams(checkpoints: dict[str, Path], capsys) -> None:
    code, out, err = _run(capsys, "inspect", checkpoints["original"])
    assert code == 0, err
    assert "format: vits-original" in out
    assert "G_0.pth" in out
    assert "decoder.upsampler.*" in out and "legacy" in out
    assert "hidden_channels = 16" in out and "upsample_rates = (8, 8)" in out
    assert "sampling_rate = 8000  [config]" in out
    assert "hop length: 64 samples" in out
    assert "complete: every weight arrived" in out
    total = sum(p.numel() for p in build_random_generator(HPARAMS).parameters())
    assert f"{total:,}" in out


def test_inspect_marks_assumed_hparams(checkpoints: dict[str, Path], tmp_path: Path, capsys) -> None:
    weights = tmp_path / "G_0.pth"
    weights.symlink_to(checkpoints["original"] / "G_0.pth")  # no config beside it
    code, out, err = _run(capsys, "inspect", weights)
    assert code == 0, err
    assert "upsample_rates = (8, 8)  [ASSUMED:" in out


def test_inspect_json(checkpoints: dict[str, Path], capsys) -> None:
    code, out, _ = _run(capsys, "inspect", checkpoints["ours"], "--json")
    assert code == 0
    data = json.loads(out)
    assert data["command"] == "inspect" and data["format"] == "vits-adapters"
    counts = data["report"]["counts"]
    assert counts["mapped"] > 0 and counts["unexpected"] == 0
    assert data["report"]["complete"] is True
    assert data["hparams"]["hidden_channels"] == {"value": 16, "provenance": "shapes+config"}
    assert data["sample_rate"] == SAMPLE_RATE and data["hop_length"] == 64
    layers = build_random_generator(HPARAMS).weight_norm_layer_names()
    assert data["source_weight_norm"]["total"] == {"plain": len(layers)}


def test_convert_to_original_legacy_then_inspect(checkpoints: dict[str, Path], tmp_path: Path, capsys) -> None:
    out_dir = tmp_path / "orig"
    code, out, err = _run(
        capsys, "convert", checkpoints["ours"], out_dir, "--to", "vits-original", "--weight-norm", "legacy"
    )
    assert code == 0, err
    assert str(out_dir / "G_0.pth") in out and "complete: every weight arrived" in out
    code, out, _ = _run(capsys, "inspect", out_dir)
    assert code == 0
    assert "format: vits-original" in out
    assert "declared weight-norm layers by stored form: " in out and " legacy (g/v)" in out
    assert "plain" not in out.split("weight-norm form in the source")[1].split("hyperparameters")[0]


def test_convert_round_trip_is_bit_exact(checkpoints: dict[str, Path], tmp_path: Path, capsys) -> None:
    middle, back = tmp_path / "original", tmp_path / "back"
    to_original = ["--to", "vits-original", "--weight-norm", "plain"]
    code, _, err = _run(capsys, "convert", checkpoints["ours"], middle, *to_original)
    assert code == 0, err
    assert _run(capsys, "convert", middle, back, "--to", "vits-adapters")[0] == 0
    before = load_file(checkpoints["ours"] / "model.safetensors")
    after = load_file(back / "model.safetensors")
    assert before.keys() == after.keys()
    for key, tensor in before.items():
        assert torch.equal(tensor, after[key]), key


def test_convert_refuses_existing_output(checkpoints: dict[str, Path], tmp_path: Path, capsys) -> None:
    out_dir = tmp_path / "out"
    assert _run(capsys, "convert", checkpoints["original"], out_dir)[0] == 0
    before = _snapshot(out_dir)
    code, out, err = _run(capsys, "convert", checkpoints["original"], out_dir)
    assert code == 1 and out == ""
    assert err.startswith("error: ") and "overwrite" in err
    assert _snapshot(out_dir) == before
    assert _run(capsys, "convert", checkpoints["original"], out_dir, "--overwrite")[0] == 0


def test_convert_refuses_to_write_over_its_source(checkpoints: dict[str, Path], capsys) -> None:
    before = _snapshot(checkpoints["ours"])
    code, _, err = _run(capsys, "convert", checkpoints["ours"], checkpoints["ours"], "--overwrite")
    assert code == 1
    assert "refusing to write over the checkpoint being converted" in err
    assert _snapshot(checkpoints["ours"]) == before


def test_synth_tokens_writes_wav(checkpoints: dict[str, Path], tmp_path: Path, capsys) -> None:
    wav = tmp_path / "out.wav"
    code, out, err = _run(capsys, "synth", checkpoints["original"], "--tokens", TOKENS, "-o", wav, "--seed", "0")
    assert code == 0, err
    info = sf.info(str(wav))
    assert info.samplerate == SAMPLE_RATE and info.channels == 1
    assert f"{info.duration:.3f} s" in out and "check: " in out


def test_synth_is_reproducible_with_seed(checkpoints: dict[str, Path], tmp_path: Path, capsys) -> None:
    for name in ("a.wav", "b.wav"):
        argv = ["synth", checkpoints["ours"], "--tokens", TOKENS, "--seed", "7", "-o", tmp_path / name]
        code, _, err = _run(capsys, *argv)
        assert code == 0, err
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()


def test_synth_bad_speaker_exits_7(checkpoints: dict[str, Path], tmp_path: Path, capsys) -> None:
    wav = tmp_path / "out.wav"
    code, out, err = _run(capsys, "synth", checkpoints["ours"], "--tokens", "1,2,3", "-o", wav, "--speaker", "4")
    assert code == 7 and out == ""
    assert err.startswith("error: ") and "speaker" in err
    assert not wav.exists()


def test_synth_needs_text_or_tokens(checkpoints: dict[str, Path], tmp_path: Path, capsys) -> None:
    code, _, err = _run(capsys, "synth", checkpoints["ours"], "-o", tmp_path / "x.wav")
    assert code == 2 and "--text" in err
    code, _, err = _run(capsys, "synth", checkpoints["ours"], "--tokens", "1,x", "-o", tmp_path / "x.wav")
    assert code == 2 and "comma-separated" in err


def test_quiet_prints_nothing(checkpoints: dict[str, Path], tmp_path: Path, capsys) -> None:
    code, out, err = _run(capsys, "--quiet", "synth", checkpoints["ours"], "--tokens", TOKENS, "-o", tmp_path / "q.wav")
    assert (code, out, err) == (0, "", "")
    assert (tmp_path / "q.wav").is_file()


# --- failures -----------------------------------------------------------------------------------------------------


def test_missing_source_exits_4_with_one_line(tmp_path: Path, capsys) -> None:
    code, out, err = _run(capsys, "inspect", tmp_path / "missing.pth")
    assert code == 4 and out == ""
    assert err.startswith("error: ") and "missing.pth" in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_json_file_as_source_exits_4(checkpoints: dict[str, Path], capsys) -> None:
    code, _, err = _run(capsys, "inspect", checkpoints["ours"] / "config.json")
    assert code == 4
    assert err.startswith("error: ") and "Traceback" not in err


def test_json_failure_output(tmp_path: Path, capsys) -> None:
    code, out, err = _run(capsys, "--json", "inspect", tmp_path / "missing.pth")
    assert code == 4
    error = json.loads(out)["error"]
    assert error["type"] == "CheckpointNotFoundError" and error["exit_code"] == 4
    assert "missing.pth" in error["message"]
    assert "Traceback" not in err


def test_json_flag_after_the_command(tmp_path: Path, capsys) -> None:
    code, out, _ = _run(capsys, "inspect", tmp_path / "missing.pth", "--json")
    assert code == 4 and json.loads(out)["error"]["exit_code"] == 4


def test_json_usage_error(capsys) -> None:
    code, out, err = _run(capsys, "--json", "inspect")
    assert code == 2
    error = json.loads(out)["error"]
    assert error["type"] == "UsageError" and error["exit_code"] == 2
    assert "SRC" in error["message"] and "usage: vits-adapters inspect" in err


def test_debug_shows_traceback(tmp_path: Path, capsys) -> None:
    code, _, err = _run(capsys, "--debug", "inspect", tmp_path / "missing.pth")
    assert code == 4
    assert "Traceback (most recent call last)" in err and "CheckpointNotFoundError" in err
    assert err.rstrip().splitlines()[-1].startswith("error: ")


def test_token_is_never_printed(tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for flags in ([], ["--json"], ["--debug"]):
        code, out, err = _run(
            capsys, *flags, "inspect", "org/not-cached", "--cache-dir", tmp_path, "--local-files-only", "--token", TOKEN
        )
        assert code == 4
        assert TOKEN not in out and TOKEN not in err


# --- entry points -------------------------------------------------------------------------------------------------


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent), "HF_HUB_OFFLINE": "1"}


def test_python_m_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "vits_adapters", "--help"], capture_output=True, text=True, env=_env(), timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: vits-adapters")
    for command in ("inspect", "convert", "synth", "demo", "formats"):
        assert command in result.stdout
    assert "exit codes:" in result.stdout and "7  InvalidInputError" in result.stdout


def test_demo_console_script(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("vits-adapters")
    assert script.exists(), "install the package (pip install -e .) so its console script exists"
    workdir = tmp_path / "demo"
    result = subprocess.run(
        [str(script), "demo", "--workdir", str(workdir)], capture_output=True, text=True, env=_env(), timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "RANDOM weights" in result.stdout and "noise, not speech" in result.stdout
    assert "as format 'vits-original'" in result.stdout and "complete: every weight arrived" in result.stdout
    assert "audio check: " in result.stdout
    wav, png = workdir / "demo.wav", workdir / "demo.png"
    assert str(wav) in result.stdout and str(png) in result.stdout
    assert png.read_bytes().startswith(b"\x89PNG")
    samples, rate = sf.read(str(wav), dtype="float32")
    check = check_audio(samples, rate)
    assert check.verdict not in ("silent", "non-finite", "too-short"), check.summary()
    assert check.non_finite == 0 and check.duration > 0.5


def test_demo_json(tmp_path: Path, capsys) -> None:
    code, out, err = _run(capsys, "demo", "--workdir", tmp_path, "--seed", "1", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["random_weights"] is True and "random" in data["notice"].lower()
    assert data["report"]["complete"] is True and data["report"]["source_forms"] == {"legacy": 121}
    assert Path(data["paths"]["wav"]).is_file() and Path(data["paths"]["png"]).is_file()
