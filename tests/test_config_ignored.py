"""Config fields nobody reads: every ignored field is shown with its reason; an unknown one is refused by name."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.peers import coqui_reference as coqui
from tests.peers import transformers_reference as hf
from tests.peers.piper_reference import CASES as PIPER_CASES

from vits_adapters import SpecError, errors, from_pretrained
from vits_adapters.cli.entry import main

UNKNOWN = "use_fancy_thing"
# What strict=False must record for a field no reader knows (worded for the user: unknown, not read).
UNKNOWN_WORDS = ("UNKNOWN", "not read", "strict=False")


def _hyper_parameters(case: Any, extra: dict[str, Any]) -> dict[str, Any]:
    """Lightning hyper_parameters as Piper's VitsModel saves them, for ``case`` (lists instead of tuples)."""
    return {
        **json.loads(json.dumps(case.hps)),
        "num_symbols": case.n_vocab,
        "num_speakers": max(case.n_speakers, 1),
        "sample_rate": case.sampling_rate,
        "filter_length": (case.spec_channels - 1) * 2,
        "hop_length": math.prod(case.hps["upsample_rates"]),
        "learning_rate": 2e-4,
        **extra,
    }


def _set(data: dict[str, Any], label: str, value: Any) -> None:
    *path, name = label.split(".")
    for part in path:
        data = data[part]
    data[name] = value


@pytest.fixture(scope="module")
def hf_model():
    return hf.build(hf.CASES["single"], seed=3)


@pytest.fixture(scope="module")
def coqui_model():
    return coqui.build_coqui(coqui.CASES["single"], seed=2)


def _original(folder: Path, original_dirs: dict[str, Path], label: str, value: Any) -> Path:
    shutil.copytree(original_dirs["single"], folder)
    config = json.loads((folder / "config.json").read_text())
    _set(config, label, value)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def _transformers(folder: Path, model: Any, label: str, value: Any) -> Path:
    model.save_pretrained(folder)  # the config.json transformers itself writes, plus one field
    config = json.loads((folder / "config.json").read_text())
    _set(config, label, value)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def _coqui(folder: Path, model: Any, label: str, value: Any) -> Path:
    case = coqui.CASES["single"]
    folder.mkdir()
    checkpoint = coqui.coqui_checkpoint(model, case)  # its config is coqui-tts' own VitsConfig().to_dict()
    _set(checkpoint["config"], label, value)
    torch.save(checkpoint, folder / "model.pth")
    (folder / "config.json").write_text(json.dumps(checkpoint["config"]))
    return folder


def _piper(folder: Path, peer: Any, label: str, value: Any) -> Path:
    folder.mkdir()
    name = label.removeprefix("hyper_parameters.")
    checkpoint = {
        "state_dict": {f"model_g.{k}": v for k, v in peer.state_dict().items()},
        "hyper_parameters": _hyper_parameters(PIPER_CASES["single"], {name: value}),
        "epoch": 1,
        "global_step": 10,
    }
    torch.save(checkpoint, folder / "epoch=1-step=10.ckpt")
    return folder


# format -> (inert field as written in the file, a value, its reason, where an unknown field goes)
CASES: dict[str, tuple[str, Any, str, str]] = {
    "vits-original": ("train.fp16_run", True, "trainer bookkeeping", f"model.{UNKNOWN}"),
    "transformers": ("torch_dtype", "float32", "library metadata", UNKNOWN),
    "coqui": ("model_args.freeze_encoder", True, "training only", f"model_args.{UNKNOWN}"),
    "piper": ("hyper_parameters.learning_rate", 1e-4, "optimiser", f"hyper_parameters.{UNKNOWN}"),
}


@pytest.fixture
def build(tmp_path: Path, original_dirs, hf_model, coqui_model, peers) -> Callable[[str, str, Any], Path]:
    def make(fmt: str, label: str, value: Any) -> Path:
        folder = tmp_path / fmt
        if fmt == "vits-original":
            return _original(folder, original_dirs, label, value)
        if fmt == "transformers":
            return _transformers(folder, hf_model, label, value)
        if fmt == "coqui":
            return _coqui(folder, coqui_model, label, value)
        return _piper(folder, peers["single"], label, value)

    return make


def _inspect(capsys: pytest.CaptureFixture[str], folder: Path, *flags: str) -> tuple[str, dict[str, Any]]:
    assert main(["inspect", str(folder), *flags]) == 0
    text = capsys.readouterr().out
    assert main(["inspect", str(folder), "--json", *flags]) == 0
    return text, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("fmt", sorted(CASES))
def test_an_inert_field_is_shown_with_its_reason(fmt, build, capsys):
    label, value, reason_words, _ = CASES[fmt]
    folder = build(fmt, label, value)
    voice = from_pretrained(folder)
    reason = voice.report.config_ignored[label]
    assert reason_words in reason and "UNKNOWN" not in reason
    assert f"[{reason}]: " in voice.report.summary() and label in voice.report.summary()
    assert voice.report.to_dict()["config_ignored"][label] == reason
    text, data = _inspect(capsys, folder)
    assert data["report"]["config_ignored"][label] == reason
    listed = [line.split(f"[{reason}]: ", 1)[1].split(", ") for line in text.splitlines() if f"[{reason}]: " in line]
    assert listed and label in listed[0]


@pytest.mark.parametrize("fmt", sorted(CASES))
def test_an_unknown_field_is_refused_by_its_name(fmt, build):
    label = CASES[fmt][3]
    folder = build(fmt, label, True)
    with pytest.raises(SpecError) as caught:
        from_pretrained(folder)
    assert type(caught.value) is errors.UnknownConfigFieldError
    assert caught.value.fields == [label]
    message = str(caught.value)
    assert message.endswith(
        f": config field(s) neither read nor known to be inert (they may change the voice):\n  {label}\n"
        "fix the config (remove or correct the field), or pass strict=False (CLI: --no-strict) to load anyway "
        "and see the field(s) in the report"
    ), message


@pytest.mark.parametrize("fmt", sorted(CASES))
def test_strict_false_loads_an_unknown_field_and_reports_it(fmt, build, capsys):
    label = CASES[fmt][3]
    folder = build(fmt, label, True)
    voice = from_pretrained(folder, strict=False)
    reason = voice.report.config_ignored[label]
    assert all(word in reason for word in UNKNOWN_WORDS), reason
    assert label in voice.report.summary()
    text, data = _inspect(capsys, folder, "--no-strict")
    assert data["report"]["config_ignored"][label] == reason
    assert any(label in line and reason in line for line in text.splitlines())


def test_the_cli_refuses_an_unknown_field_with_the_spec_exit_code(build, capsys):
    label = CASES["coqui"][3]
    folder = build("coqui", label, True)
    assert main(["inspect", str(folder), "--json"]) == 3
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["type"] == "UnknownConfigFieldError" and f"\n  {label}\n" in error["message"]
