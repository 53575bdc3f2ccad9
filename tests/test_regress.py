"""Regression audio: goldens are written only with update, unchanged weights pass, any drift fails naming the case."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from vits_adapters.audio.waveform import Audio
from vits_adapters.cli.demo import TEXT_SETTINGS, build_random_generator
from vits_adapters.errors import ManifestError, SpecError
from vits_adapters.hub.local_cache import publish_to_local_cache
from vits_adapters.arch.vits.hparams import VitsHParams
from vits_adapters.pretrained import from_pretrained
from vits_adapters.regress.runner import compare_waveforms, golden_paths, run
from vits_adapters.regress.manifest import Tolerances, load_manifest, parse_manifest
from vits_adapters.regress.sidecar import portable_path
from vits_adapters.report import LoadReport
from vits_adapters.voice import Voice

HPARAMS = VitsHParams(
    n_vocab=178,  # the original VITS symbol table, so text cases work
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
    sampling_rate=8000,
)
TOKENS = [1, 5, 9, 2, 7, 3, 11, 4, 8, 15, 16, 23, 6, 10]
REPO_ID = "tests/regress-voice"
PERTURBED_KEY = "decoder.conv_pre.weight"
PERTURBATION = 1e-3


def _case(name: str, source: str, **extra: object) -> dict[str, object]:
    case: dict[str, object] = {"name": name, "source": source, "seed": 7, "noise_scale": 0.667, "noise_scale_w": 0.8}
    case.update(extra)
    if "text" not in case and "token_ids" not in case:
        case["token_ids"] = TOKENS
    return case


def _write_manifest(folder: Path, cases: list[dict[str, object]], name: str = "manifest.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump({"cases": cases}), encoding="utf-8")
    return path


def _files(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A seeded random voice in our layout (voice/), the original layout (original/G_0.pth) and a Hub cache."""
    root = tmp_path_factory.mktemp("regress")
    generator = build_random_generator(HPARAMS, seed=3)
    report = LoadReport(
        format="in-memory", source="test", records=(), target_count=len(generator.state_dict()), weight_norm="fold"
    )
    voice = Voice(generator=generator, report=report, text_settings=dict(TEXT_SETTINGS))
    voice.save_pretrained(root / "voice", format="vits-adapters")
    voice.save_pretrained(root / "original", format="vits-original", weight_norm="legacy")
    snapshot = publish_to_local_cache(root / "hub", REPO_ID, {p.name: p for p in (root / "voice").iterdir()})
    manifest = _write_manifest(
        root,
        [
            _case("tokens", "voice", noise_scale=0.667, length_scale=1.0),
            _case("text-original", "original/G_0.pth", text="Hello there.", seed=3),
            _case("hub", REPO_ID, seed=11, length_scale=1.2),
        ],
    )
    result = run(manifest, root / "golden", update=True, cache_dir=root / "hub", local_files_only=True)
    assert result.ok, result.table()
    return {"root": root, "manifest": manifest, "golden": root / "golden", "hub": root / "hub", "snapshot": snapshot}


@pytest.fixture(scope="module")
def perturbed(workspace: dict[str, Path]) -> Path:
    """The voice with ``PERTURBED_KEY`` shifted by ``PERTURBATION``, saved with the same metadata."""
    source = workspace["root"] / "voice"
    target = workspace["root"] / "perturbed"
    shutil.copytree(source, target)
    tensors = load_file(source / "model.safetensors")
    with safe_open(str(source / "model.safetensors"), "pt") as handle:
        metadata = handle.metadata()
    tensors[PERTURBED_KEY] = tensors[PERTURBED_KEY] + PERTURBATION
    save_file(tensors, target / "model.safetensors", metadata=metadata)
    return target


# --- update -------------------------------------------------------------------------------------------------------


def test_update_writes_the_exact_waveform_and_a_complete_sidecar(workspace: dict[str, Path]) -> None:
    wav, meta = golden_paths(workspace["golden"], "tokens")
    samples, rate = sf.read(str(wav), dtype="float32")
    voice = from_pretrained(workspace["root"] / "voice")
    direct = voice.synthesize(token_ids=TOKENS, seed=7, noise_scale=0.667, noise_scale_w=0.8, length_scale=1.0)
    assert rate == HPARAMS.sampling_rate and np.array_equal(samples, direct.waveform)  # float32 WAV, bit-exact

    sidecar = json.loads(meta.read_text())
    assert sidecar["parameters"]["seed"] == 7 and sidecar["parameters"]["token_ids"] == TOKENS
    assert sidecar["parameters"]["source"] == "voice"  # relative to the manifest's folder, so goldens travel
    assert sidecar["checkpoint"]["source"] == "voice/model.safetensors"
    assert sidecar["checkpoint"]["files"] == ["voice/model.safetensors", "voice/config.json"]
    assert sidecar["effective"] == {
        "token_ids": TOKENS, "speaker_id": None, "seed": 7, "noise_scale": 0.667, "noise_scale_w": 0.8,
        "length_scale": 1.0,
    }
    weights = workspace["root"] / "voice" / "model.safetensors"
    assert sidecar["checkpoint"]["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert sidecar["checkpoint"]["format"] == "vits-adapters" and sidecar["checkpoint"]["revision"] is None
    assert sidecar["versions"]["torch"] == torch.__version__ and sidecar["versions"]["vits_adapters"]
    audio = sidecar["audio"]
    assert audio["samples"] == samples.size and audio["duration"] == samples.size / rate
    assert math.isclose(audio["rms"], float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))), rel_tol=1e-12)
    assert audio["peak"] == float(np.abs(samples).max())
    assert audio["logmel"]["n_mels"] == len(audio["logmel"]["band_mean_db"]) == 64


def test_sidecar_records_the_resolved_hub_revision_and_the_encoded_text(workspace: dict[str, Path]) -> None:
    hub = json.loads(golden_paths(workspace["golden"], "hub")[1].read_text())
    assert hub["parameters"]["source"] == REPO_ID
    assert hub["checkpoint"]["revision"] == workspace["snapshot"].name
    assert hub["checkpoint"]["source"] == REPO_ID
    assert hub["checkpoint"]["files"] == ["model.safetensors", "config.json"]  # paths in the repo, not the cache
    assert hub["effective"]["length_scale"] == 1.2
    text = json.loads(golden_paths(workspace["golden"], "text-original")[1].read_text())
    voice = from_pretrained(workspace["root"] / "original" / "G_0.pth")
    assert text["effective"]["token_ids"] == voice.encode("Hello there.")
    assert text["checkpoint"]["format"] == "vits-original"


# --- compare ------------------------------------------------------------------------------------------------------


def test_unchanged_weights_pass_bit_exactly_and_goldens_are_untouched(workspace: dict[str, Path]) -> None:
    before = _files(workspace["golden"])
    result = run(workspace["manifest"], workspace["golden"], cache_dir=workspace["hub"], local_files_only=True)
    assert result.ok, result.table()
    assert [case.status for case in result.cases] == ["pass", "pass", "pass"]
    for case in result.cases:
        assert case.metrics["golden_samples"] == case.metrics["current_samples"] > 0
        for name in Tolerances().to_dict():
            assert case.metrics[name] == 0.0
        assert case.messages == ()
    assert _files(workspace["golden"]) == before


def test_a_perturbed_decoder_weight_fails_naming_the_case_and_the_metrics(workspace, perturbed, tmp_path) -> None:
    before = _files(workspace["golden"])
    manifest = _write_manifest(tmp_path, [_case("tokens", str(perturbed), length_scale=1.0)])
    result = run(manifest, workspace["golden"])
    (case,) = result.cases
    assert not result.ok and result.failures == ("tokens",) and case.status == "drift"
    defaults = Tolerances().to_dict()
    # The 1e-3 change must move every metric well past its default tolerance, not just graze it.
    assert set(case.failed) == set(defaults)
    assert all(case.metrics[name] > 5 * limit for name, limit in defaults.items()), case.metrics
    assert case.metrics["golden_samples"] == case.metrics["current_samples"]  # same durations: only the decoder moved
    assert any("waveform_max_abs" in m and "tolerance" in m for m in case.messages)
    assert any("checkpoint file changed" in m for m in case.messages)
    table = result.table()
    assert "tokens" in table and "drift" in table and "FAILED: tokens" in table and "waveform_max_abs" in table
    assert _files(workspace["golden"]) == before


def test_a_changed_seed_fails(workspace: dict[str, Path], tmp_path: Path) -> None:
    manifest = _write_manifest(tmp_path, [_case("tokens", str(workspace["root"] / "voice"), seed=8, length_scale=1.0)])
    result = run(manifest, workspace["golden"])
    (case,) = result.cases
    assert case.status == "drift" and case.failed and not result.ok
    assert "tokens" in result.failures


def test_a_missing_golden_is_a_failure_and_nothing_is_written(workspace: dict[str, Path], tmp_path: Path) -> None:
    golden = tmp_path / "golden"
    golden.mkdir()
    shutil.copy(golden_paths(workspace["golden"], "tokens")[0], golden / "tokens.wav")  # WAV without its sidecar
    manifest = _write_manifest(
        tmp_path, [_case("tokens", str(workspace["root"] / "voice"), length_scale=1.0), _case("new", str(workspace["root"] / "voice"))]
    )
    before = _files(golden)
    result = run(manifest, golden)
    assert [case.status for case in result.cases] == ["missing", "missing"]
    assert result.failures == ("tokens", "new") and not result.ok
    assert "--update" in result.cases[1].messages[0]
    assert _files(golden) == before


def test_update_rewrites_goldens_while_compare_never_does(workspace, perturbed, tmp_path) -> None:
    golden = tmp_path / "golden"
    shutil.copytree(workspace["golden"], golden)
    manifest = _write_manifest(tmp_path, [_case("tokens", str(perturbed), length_scale=1.0)])
    before = _files(golden)
    assert not run(manifest, golden).ok
    assert _files(golden) == before
    assert run(manifest, golden, update=True).ok
    after = _files(golden)
    assert after["tokens.wav"][0] != before["tokens.wav"][0] and after["tokens.json"][0] != before["tokens.json"][0]
    assert after["hub.wav"] == before["hub.wav"]  # cases outside the manifest stay as they were
    assert run(manifest, golden).ok


def test_a_broken_case_is_an_error_and_the_others_still_run(workspace: dict[str, Path], tmp_path: Path) -> None:
    manifest = _write_manifest(
        tmp_path,
        [_case("gone", "no-such-folder/G_1.pth"), _case("tokens", str(workspace["root"] / "voice"), length_scale=1.0)],
    )
    result = run(manifest, workspace["golden"])
    assert [case.status for case in result.cases] == ["error", "pass"]
    assert "CheckpointNotFoundError" in result.cases[0].messages[0] and result.failures == ("gone",)


def test_relative_sources_resolve_against_the_manifest_folder(workspace, tmp_path, monkeypatch) -> None:
    folder = tmp_path / "suite"
    folder.mkdir()
    shutil.copytree(workspace["root"] / "voice", folder / "voices" / "mine")
    _write_manifest(folder, [_case("tokens", "voices/mine", length_scale=1.0)])
    monkeypatch.chdir(tmp_path)  # not the manifest's folder
    assert load_manifest(Path("suite") / "manifest.yaml").cases[0].source == str((folder / "voices" / "mine").resolve())
    assert run(Path("suite") / "manifest.yaml", workspace["golden"]).ok


def test_goldens_written_elsewhere_compare_cleanly_after_moving_the_suite(workspace, tmp_path) -> None:
    first, second = tmp_path / "alice" / "suite", tmp_path / "bob" / "checkout" / "suite"
    shutil.copytree(workspace["root"] / "original", first / "voices" / "original")
    manifest = _write_manifest(
        first, [_case("moved", "voices/original/G_0.pth", text="Hello there.", seed=3, config="voices/original/config.json")]
    )
    assert run(manifest, first / "golden", update=True).ok
    sidecar = json.loads(golden_paths(first / "golden", "moved")[1].read_text())
    stored = [sidecar["parameters"]["source"], sidecar["parameters"]["config"], sidecar["checkpoint"]["source"]]
    stored += sidecar["checkpoint"]["files"]
    weights, config = "voices/original/G_0.pth", "voices/original/config.json"
    assert stored == [weights, config, weights, weights, config]
    assert not any(Path(value).is_absolute() or "alice" in value for value in stored)

    shutil.copytree(first, second)  # another machine: same layout under another absolute folder
    result = run(second / "manifest.yaml", second / "golden")
    assert result.ok and result.cases[0].status == "pass", result.table()
    assert result.cases[0].messages == ()  # no "source changed" (nor any other) note


def test_a_changed_source_is_noted_and_old_absolute_sidecars_are_not(workspace, tmp_path) -> None:
    suite = tmp_path / "suite"
    shutil.copytree(workspace["root"] / "voice", suite / "a")
    shutil.copytree(workspace["root"] / "voice", suite / "b")
    manifest = _write_manifest(suite, [_case("tokens", "a", length_scale=1.0)])
    assert run(manifest, suite / "golden", update=True).ok
    meta = golden_paths(suite / "golden", "tokens")[1]
    sidecar = json.loads(meta.read_text())
    sidecar["checkpoint"]["source"] = str(suite.resolve() / "a" / "model.safetensors")  # as older releases stored it
    meta.write_text(json.dumps(sidecar))
    assert run(manifest, suite / "golden").cases[0].messages == ()

    moved = run(_write_manifest(suite, [_case("tokens", "b", length_scale=1.0)]), suite / "golden")
    assert moved.ok and moved.cases[0].messages == (
        f"source changed since the golden: {sidecar['checkpoint']['source']} -> b/model.safetensors",
    )


def test_portable_path_forms(tmp_path: Path) -> None:
    base = tmp_path / "suite"
    assert portable_path("org/voice", base) == "org/voice"
    assert portable_path(str(base / "voices" / "x.pth"), base) == "voices/x.pth"
    assert portable_path(str(tmp_path / "shared" / "x.pth"), base) == "../shared/x.pth"
    cached = tmp_path / "hub" / "models--org--voice" / "snapshots" / ("0" * 40) / "en" / "voice.onnx"
    assert portable_path(str(cached), base) == "en/voice.onnx"


# --- metrics ------------------------------------------------------------------------------------------------------


def test_compare_waveforms_metrics() -> None:
    rng = np.random.default_rng(0)
    golden = Audio(rng.uniform(-0.5, 0.5, 4000).astype(np.float32), 8000)
    metrics, failed = compare_waveforms(golden, golden, Tolerances())
    assert failed == () and metrics["waveform_max_abs"] == metrics["logmel_max_abs_db"] == 0.0

    shifted = Audio(golden.waveform + np.float32(0.01), 8000)
    metrics, failed = compare_waveforms(golden, shifted, Tolerances())
    g = golden.waveform.astype(np.float64)
    d = shifted.waveform.astype(np.float64) - g
    assert math.isclose(metrics["waveform_max_abs"], np.abs(d).max(), rel_tol=1e-12)
    assert math.isclose(metrics["waveform_rel_rms"], np.sqrt(np.mean(d**2) / np.mean(g**2)), rel_tol=1e-12)
    assert "waveform_max_abs" in failed and "length" not in failed
    assert compare_waveforms(golden, shifted, Tolerances(waveform_max_abs=0.02, waveform_rel_rms=1, logmel_mean_abs_db=10, logmel_max_abs_db=100))[1] == ()

    noisy = Audio(golden.waveform + rng.normal(0.0, 1e-6, golden.waveform.size).astype(np.float32), 8000)
    metrics, failed = compare_waveforms(golden, noisy, Tolerances())
    assert failed == () and metrics["waveform_max_abs"] > 0  # float noise of another machine passes the defaults

    shorter = Audio(golden.waveform[:-1], 8000)
    assert compare_waveforms(golden, shorter, Tolerances())[1] == ("length",)
    broken = golden.waveform.copy()
    broken[10] = np.nan
    assert "waveform_max_abs" in compare_waveforms(golden, Audio(broken, 8000), Tolerances())[1]


# --- manifest errors ----------------------------------------------------------------------------------------------

_GOOD = {"name": "a", "source": "org/voice", "seed": 1, "token_ids": [1, 2]}


@pytest.mark.parametrize(
    ("case", "needles"),
    [
        ({k: v for k, v in _GOOD.items() if k != "seed"}, ["case 'a'", "'seed'"]),
        ({**_GOOD, "text": "hi"}, ["case 'a'", "'token_ids'", "'text'"]),
        ({**_GOOD, "noise": 1}, ["case 'a'", "noise"]),
        ({**_GOOD, "token_ids": "1,2"}, ["case 'a'", "'token_ids'"]),
        ({**_GOOD, "token_ids": [1, 2.5]}, ["case 'a'", "'token_ids'"]),
        ({**_GOOD, "seed": True}, ["case 'a'", "'seed'"]),
        ({**_GOOD, "noise_scale": "x"}, ["case 'a'", "'noise_scale'"]),
        ({**_GOOD, "tolerances": {"wave": 1}}, ["case 'a'", "'tolerances'", "wave"]),
        ({**_GOOD, "tolerances": {"waveform_max_abs": -1}}, ["case 'a'", "waveform_max_abs"]),
        ({**_GOOD, "name": "a/b"}, ["'name'", "a/b"]),
        ({k: v for k, v in _GOOD.items() if k != "name"}, ["case #2", "'name'"]),
        ({**_GOOD, "source": ""}, ["case 'a'", "'source'"]),
    ],
)
def test_bad_cases_raise_naming_the_case_and_the_field(case: dict[str, object], needles: list[str]) -> None:
    data = {"cases": [{**_GOOD, "name": "first"}, case]}
    with pytest.raises(ManifestError) as raised:
        parse_manifest(data, base_dir=".", origin="m.yaml")
    assert isinstance(raised.value, SpecError) and isinstance(raised.value, ValueError)
    for needle in ["m.yaml", *needles]:
        assert needle in str(raised.value)


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ([], "mapping"),
        ({"cases": []}, "'cases'"),
        ({"cases": [_GOOD], "extra": 1}, "extra"),
        ({"cases": [_GOOD, _GOOD]}, "another case"),
        ({"cases": [_GOOD], "tolerances": {"waveform_rel_rms": float("nan")}}, "waveform_rel_rms"),
        ({"cases": [3]}, "case #1"),
    ],
)
def test_bad_manifests_raise(data: object, needle: str) -> None:
    with pytest.raises(ManifestError, match=needle.replace("'", ".")):
        parse_manifest(data, base_dir=".")


def test_manifest_tolerances_layer_top_level_then_case() -> None:
    manifest = parse_manifest(
        {
            "tolerances": {"waveform_max_abs": 0.5},
            "cases": [_GOOD, {**_GOOD, "name": "b", "tolerances": {"logmel_max_abs_db": 2}}],
        },
        base_dir=".",
    )
    first, second = manifest.cases
    assert first.tolerances == dataclasses.replace(Tolerances(), waveform_max_abs=0.5)
    assert second.tolerances == dataclasses.replace(Tolerances(), waveform_max_abs=0.5, logmel_max_abs_db=2.0)
    assert first.source == "org/voice"  # repo-id shaped and no such folder: stays a repo id


def test_unreadable_manifest_files(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="cannot read"):
        load_manifest(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("cases: [\n", encoding="utf-8")
    with pytest.raises(ManifestError, match="not valid YAML"):
        load_manifest(bad)
