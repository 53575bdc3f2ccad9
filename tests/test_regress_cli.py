"""`vits-adapters regress`: exit codes, JSON, quiet, the HTML report, and progress bars on long work."""

from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml
from huggingface_hub.utils import are_progress_bars_disabled
from matplotlib.image import imread

from vits_adapters.cli import entry as cli
from vits_adapters.cli.entry import EXIT_REGRESSION, main
from vits_adapters.cli.demo import build_random_generator
from vits_adapters.hub.fetch import download_progress_bars
from vits_adapters.regress.runner import golden_paths, run
from vits_adapters.report import LoadReport
from vits_adapters.audio.spectrogram import PNG_SIGNATURE
from vits_adapters.voice import Voice
from tests.test_regress import HPARAMS, TOKENS


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A voice, a two-case manifest (relative sources) and its goldens written through the CLI."""
    root = tmp_path_factory.mktemp("regress-cli")
    generator = build_random_generator(HPARAMS, seed=5)
    report = LoadReport(
        format="in-memory", source="test", records=(), target_count=len(generator.state_dict()), weight_norm="fold"
    )
    Voice(generator=generator, report=report).save_pretrained(root / "voice", format="vits-adapters")
    cases = [
        {"name": "first", "source": "voice", "token_ids": TOKENS, "seed": 1},
        {"name": "second", "source": "voice", "token_ids": TOKENS[::-1], "seed": 2, "length_scale": 1.3},
    ]
    manifest = root / "manifest.yaml"
    manifest.write_text(yaml.safe_dump({"cases": cases}), encoding="utf-8")
    assert main(["--quiet", "regress", str(manifest), "--golden", str(root / "golden"), "--update"]) == 0
    return {"root": root, "manifest": manifest, "golden": root / "golden"}


def _run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _drifting_manifest(suite: dict[str, Path], folder: Path) -> Path:
    data = yaml.safe_load(suite["manifest"].read_text())
    data["cases"][1]["seed"] = 3
    for case in data["cases"]:
        case["source"] = str(suite["root"] / case["source"])
    path = folder / "drift.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_pass_prints_a_table_and_exits_zero(suite, capsys) -> None:
    code, out, _ = _run(capsys, "regress", suite["manifest"], "--golden", suite["golden"])
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["case", "status"]
    assert lines[1].split()[:2] == ["first", "pass"] and lines[2].split()[:2] == ["second", "pass"]
    assert lines[-1] == "2 case(s), ok"


def test_drift_exits_non_zero_naming_the_case(suite, tmp_path, capsys) -> None:
    manifest = _drifting_manifest(suite, tmp_path)
    code, out, _ = _run(capsys, "regress", manifest, "--golden", suite["golden"])
    assert code == EXIT_REGRESSION == 8
    assert "FAILED: second" in out and "first" not in out.splitlines()[-1]
    code, out, _ = _run(capsys, "--quiet", "regress", manifest, "--golden", suite["golden"])
    assert code == EXIT_REGRESSION and "FAILED: second" in out  # --quiet still shows what failed


def test_json_is_valid_on_pass_drift_and_missing(suite, tmp_path, capsys) -> None:
    code, out, _ = _run(capsys, "regress", suite["manifest"], "--golden", suite["golden"], "--json")
    data = json.loads(out)
    assert code == 0 and data["command"] == "regress" and data["ok"] is True
    assert [c["status"] for c in data["cases"]] == ["pass", "pass"]
    assert data["cases"][0]["metrics"]["waveform_max_abs"] == 0.0

    code, out, _ = _run(capsys, "regress", _drifting_manifest(suite, tmp_path), "--golden", suite["golden"], "--json")
    data = json.loads(out)
    assert code == EXIT_REGRESSION and data["ok"] is False and data["failures"] == ["second"]
    assert data["cases"][1]["status"] == "drift" and data["cases"][1]["failed"]

    empty = tmp_path / "empty-golden"
    code, out, _ = _run(capsys, "regress", suite["manifest"], "--golden", empty, "--json")
    data = json.loads(out)
    assert code == EXIT_REGRESSION and data["failures"] == ["first", "second"]
    assert {c["status"] for c in data["cases"]} == {"missing"} and not empty.exists()


def test_bad_manifest_is_a_spec_error(tmp_path, capsys) -> None:
    manifest = tmp_path / "bad.yaml"
    manifest.write_text(yaml.safe_dump({"cases": [{"name": "x", "source": "a/b", "token_ids": [1]}]}))
    code, out, err = _run(capsys, "regress", manifest, "--golden", tmp_path / "g", "--json")
    assert code == 3
    error = json.loads(out)["error"]
    assert error["type"] == "ManifestError" and "case 'x'" in error["message"] and "'seed'" in error["message"]
    assert "case 'x'" in err


def test_cli_never_touches_goldens_without_update(suite, tmp_path, capsys) -> None:
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in suite["golden"].iterdir()}
    _run(capsys, "regress", _drifting_manifest(suite, tmp_path), "--golden", suite["golden"], "--report", tmp_path / "r")
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in suite["golden"].iterdir()}
    assert after == before



def test_an_existing_report_is_replaced_only_with_overwrite(suite, tmp_path, capsys) -> None:
    report = tmp_path / "r"
    manifest = _drifting_manifest(suite, tmp_path)
    assert _run(capsys, "regress", manifest, "--golden", suite["golden"], "--report", report)[0] == EXIT_REGRESSION
    page = (report / "index.html").read_bytes()
    code, out, err = _run(capsys, "regress", manifest, "--golden", suite["golden"], "--report", report, "--json")
    assert code == 1
    error = json.loads(out)["error"]
    assert error["type"] == "FileExistsError" and "--overwrite" in error["message"]
    assert (report / "index.html").read_bytes() == page
    code, _, _ = _run(capsys, "regress", manifest, "--golden", suite["golden"], "--report", report, "--overwrite")
    assert code == EXIT_REGRESSION

# --- report -------------------------------------------------------------------------------------------------------


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.links += [value for name, value in attrs if name in ("href", "src") and value]


def test_html_report_links_resolve_and_images_are_real_pngs(suite, tmp_path, capsys) -> None:
    report = tmp_path / "report"
    code, out, _ = _run(
        capsys, "regress", _drifting_manifest(suite, tmp_path), "--golden", suite["golden"], "--report", report
    )
    assert code == EXIT_REGRESSION and f"report: {report / 'index.html'}" in out
    page = (report / "index.html").read_text(encoding="utf-8")
    parser = _Links()
    parser.feed(page)
    files = [link for link in parser.links if not link.startswith("#")]
    anchors = [link[1:] for link in parser.links if link.startswith("#")]
    assert sorted(set(anchors)) == ["first", "second"] and all(f"id='{a}'" in page for a in anchors)
    pngs = [link for link in files if link.endswith(".png")]
    wavs = [link for link in files if link.endswith(".wav")]
    assert sorted(set(pngs)) == [f"{c}/{k}.png" for c in ("first", "second") for k in ("logmel", "waveform")]
    assert sorted(set(wavs)) == [f"{c}/{k}.wav" for c in ("first", "second") for k in ("current", "golden")]
    assert len(files) == len(pngs) + len(wavs)
    for link in files:
        target = (report / link).resolve()
        assert target.is_file() and report.resolve() in target.parents, link
    for link in pngs:
        assert (report / link).read_bytes().startswith(PNG_SIGNATURE)
        image = imread(report / link)
        assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100 and image.shape[2] in (3, 4)
        assert image.std() > 0  # something was drawn
    for case in ("first", "second"):
        assert (report / case / "golden.wav").read_bytes() == golden_paths(suite["golden"], case)[0].read_bytes()
    current, _ = sf.read(str(report / "second" / "current.wav"), dtype="float32")
    golden, _ = sf.read(str(report / "second" / "golden.wav"), dtype="float32")
    assert current.size and not (current.size == golden.size and np.array_equal(current, golden))
    for text in ("drift", "pass", "waveform_max_abs", "<audio controls"):
        assert text in page


def test_report_from_the_python_api_marks_missing_goldens(suite, tmp_path) -> None:
    result = run(suite["manifest"], tmp_path / "none", report_dir=tmp_path / "report", progress=False)
    assert result.report == tmp_path / "report" / "index.html" and not result.ok
    page = result.report.read_text()
    assert "class='missing'" in page and "run with --update" in page
    assert (tmp_path / "report" / "first" / "current.wav").is_file()
    assert not (tmp_path / "report" / "first" / "golden.wav").exists()


# --- progress bars ------------------------------------------------------------------------------------------------


def test_regression_progress_bar_shows_when_asked_and_hides_when_quiet(suite, capsys) -> None:
    run(suite["manifest"], suite["golden"], progress=True)
    assert "regress" in capsys.readouterr().err
    run(suite["manifest"], suite["golden"], progress=False)
    assert capsys.readouterr().err == ""
    run(suite["manifest"], suite["golden"])  # default: only on a terminal; pytest's stderr is not one
    assert capsys.readouterr().err == ""


def test_cli_regress_bar_follows_quiet(suite, monkeypatch) -> None:
    from vits_adapters.regress import runner as regress

    shown = []
    real = regress.progress_bar
    monkeypatch.setattr(regress, "progress_bar", lambda items, **kw: shown.append(kw["show"]) or real(items, **kw))
    assert main(["--quiet", "regress", str(suite["manifest"]), "--golden", str(suite["golden"])]) == 0
    assert main(["--json", "regress", str(suite["manifest"]), "--golden", str(suite["golden"])]) == 0
    assert shown == [False, None]


def test_quiet_disables_hub_download_bars_for_the_command(monkeypatch, capsys) -> None:
    seen = []

    def spy(args):
        seen.append(are_progress_bars_disabled())
        return cli.CommandOutput("", {})

    monkeypatch.setattr(cli, "cmd_formats", spy)
    state = are_progress_bars_disabled()
    assert main(["--quiet", "formats"]) == 0
    assert seen == [True] and are_progress_bars_disabled() == state
    with download_progress_bars(show=False):
        assert are_progress_bars_disabled()
    assert are_progress_bars_disabled() == state


# --- batch convert ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkpoints(suite: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of two original-layout checkpoints (G_1.pth, G_2.pth) sharing one config.json."""
    folder = tmp_path_factory.mktemp("many")
    for seed, name in ((1, "G_1.pth"), (2, "G_2.pth")):
        generator = build_random_generator(HPARAMS, seed=seed)
        report = LoadReport(
            format="in-memory", source="test", records=(), target_count=len(generator.state_dict()), weight_norm="fold"
        )
        staging = tmp_path_factory.mktemp(f"stage{seed}")
        Voice(generator=generator, report=report).save_pretrained(staging, format="vits-original", weight_norm="legacy")
        shutil.copy(staging / "G_0.pth", folder / name)
        shutil.copy(staging / "config.json", folder / "config.json")
    return folder


def _same_weights(a: Path, b: Path) -> bool:
    from vits_adapters.pretrained import from_pretrained

    left, right = from_pretrained(a).generator.state_dict(), from_pretrained(b).generator.state_dict()
    return left.keys() == right.keys() and all(left[k].equal(right[k]) for k in left)


def test_batch_convert_of_a_folder_writes_one_output_per_checkpoint(checkpoints, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    code, stdout, err = _run(capsys, "convert", checkpoints, out, "--batch", "--to", "vits-adapters", "--json")
    assert code == 0, err
    data = json.loads(stdout)
    assert [Path(item["source"]).name for item in data["items"]] == ["G_1.pth", "G_2.pth"] and data["failed"] == []
    for name in ("G_1", "G_2"):
        assert sorted(p.name for p in (out / name).iterdir()) == ["config.json", "model.safetensors"]
        assert _same_weights(out / name, checkpoints / f"{name}.pth")
    assert not _same_weights(out / "G_1", out / "G_2")


def test_convert_of_many_files_reports_each_failure_and_converts_the_rest(checkpoints, tmp_path, capsys) -> None:
    broken = tmp_path / "in" / "G_9.pth"
    broken.parent.mkdir()
    broken.write_bytes(b"not a checkpoint")
    out = tmp_path / "out"
    code, stdout, _ = _run(capsys, "convert", checkpoints / "G_1.pth", broken, out, "--to", "vits-adapters")
    assert code == 4  # the broken file's CheckpointReadError
    assert "converted 1 of 2" in stdout and "G_9.pth FAILED: CheckpointReadError" in stdout
    assert (out / "G_1" / "model.safetensors").is_file() and not (out / "G_9").exists()


def test_convert_refuses_inputs_that_would_share_an_output_folder(checkpoints, tmp_path, capsys) -> None:
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(checkpoints / "G_1.pth", other / "G_1.pth")
    code, _, err = _run(capsys, "convert", checkpoints / "G_1.pth", other / "G_1.pth", tmp_path / "out")
    assert code == 7 and "same output folder" in err and "G_1" in err
    assert not (tmp_path / "out").exists()


def test_batch_convert_of_an_empty_folder_is_an_error(tmp_path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    code, _, err = _run(capsys, "convert", tmp_path / "empty", tmp_path / "out", "--batch")
    assert code == 4 and "no checkpoint" in err


def test_batch_convert_progress_bar(checkpoints, tmp_path, capsys, monkeypatch) -> None:
    from vits_adapters.cli import batch_convert
    shown = []
    real = batch_convert.progress_bar
    monkeypatch.setattr(batch_convert, "progress_bar", lambda items, **kw: shown.append(kw["show"]) or real(items, **kw))
    assert main(["--quiet", "convert", str(checkpoints), str(tmp_path / "a"), "--batch"]) == 0
    assert main(["convert", str(checkpoints), str(tmp_path / "b"), "--batch"]) == 0
    assert shown == [False, None]  # never under --quiet; otherwise tqdm decides by whether stderr is a terminal
