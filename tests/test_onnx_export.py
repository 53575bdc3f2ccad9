"""ONNX export: onnxruntime reproduces the PyTorch generator (length and waveform) for any input length."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import sys

import numpy as np
import onnx
import pytest
import torch
from torch.nn.utils import parametrizations

from vits_adapters import (
    InvalidInputError,
    LoadReport,
    MissingDependencyError,
    OnnxExportError,
    Voice,
    VitsGenerator,
    assert_audible,
    export_onnx,
    load_onnx_session,
    run_onnx,
)
from vits_adapters.audio.waveform import Audio
from vits_adapters.cli.entry import main
from vits_adapters.cli.demo import DEMO_HPARAMS, build_random_generator
from vits_adapters.onnx.export import FORMAT_VERSION, PARITY_ATOL
from vits_adapters.onnx.run import onnx_metadata

# The demo model with a lighter decoder, so each export traces quickly.
SINGLE_HPARAMS = dataclasses.replace(
    DEMO_HPARAMS, upsample_initial_channel=64, resblock_kernel_sizes=(3, 7), resblock_dilation_sizes=((1, 3, 5),) * 2
)
MULTI_HPARAMS = dataclasses.replace(SINGLE_HPARAMS, n_speakers=3, gin_channels=16, use_sdp=False)
LENGTHS = (3, 29, 50)  # the export traces 12 tokens; none of these
SEED = 1234


def _sensitive_sdp(generator: VitsGenerator) -> VitsGenerator:
    """Undo the demo's near-identity duration flows so durations vary per token (about 3 to 6 frames)."""
    with torch.no_grad():
        for flow in generator.duration_predictor.flows[1:]:
            flow.conv_proj.weight.mul_(30)
        generator.duration_predictor.flows[0].translate[0] = -1.0
    return generator


def _tokens(count: int, stride: int = 7) -> list[int]:
    return [1 + (i * stride) % 170 for i in range(count)]


def _torch_waveform(generator: VitsGenerator, tokens: list[int], speaker: int | None, **scales: float) -> np.ndarray:
    speakers = None if speaker is None else torch.tensor([speaker])
    stages = generator.infer(torch.tensor([tokens]), speaker_ids=speakers, **scales)
    return stages.waveform[0, 0].numpy()


def _assert_same(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.shape == expected.shape
    assert float(np.max(np.abs(actual - expected))) <= PARITY_ATOL


@pytest.fixture(scope="module")
def models():
    single = _sensitive_sdp(build_random_generator(SINGLE_HPARAMS, seed=0))
    multi = build_random_generator(MULTI_HPARAMS, seed=1)
    return {"single": (single, None), "multi": (multi, 2)}


@pytest.fixture(scope="module")
def exported(models, tmp_path_factory):
    """Each model exported once per noise mode: {(name, noise): path} (the tests below do the verifying)."""
    folder = tmp_path_factory.mktemp("onnx")
    return {
        (name, noise): export_onnx(gen, folder / f"{name}-{noise}.onnx", noise=noise, verify=False)
        for name, (gen, _) in models.items()
        for noise in ("graph", "inputs")
    }


@pytest.mark.parametrize("name", ["single", "multi"])
def test_zero_noise_matches_pytorch_for_every_length(models, exported, name):
    generator, speaker = models[name]
    session = load_onnx_session(exported[name, "graph"])
    speakers = None if speaker is None else torch.tensor([speaker])
    durations = generator.infer(torch.tensor([_tokens(max(LENGTHS))]), speaker_ids=speakers, noise_scale_w=0.0).durations
    assert len(set(durations.flatten().tolist())) > 2  # durations vary per token: the alignment is exercised
    for count in LENGTHS:
        tokens = _tokens(count)
        expected = _torch_waveform(generator, tokens, speaker, noise_scale=0.0, noise_scale_w=0.0)
        _assert_same(run_onnx(session, tokens, speaker_id=speaker, noise_scale=0.0, noise_scale_w=0.0), expected)


def test_speaker_id_and_length_scale_are_inputs(models, exported):
    generator, _ = models["multi"]
    session = load_onnx_session(exported["multi", "graph"])
    tokens = _tokens(29)
    outputs = {}
    for speaker, length_scale in ((0, 1.0), (2, 1.0), (2, 1.7)):
        scales = {"noise_scale": 0.0, "noise_scale_w": 0.0, "length_scale": length_scale}
        outputs[speaker, length_scale] = run_onnx(session, tokens, speaker_id=speaker, **scales)
        _assert_same(outputs[speaker, length_scale], _torch_waveform(generator, tokens, speaker, **scales))
    assert len(outputs[2, 1.7]) > len(outputs[2, 1.0])
    assert len(outputs[0, 1.0]) != len(outputs[2, 1.0]) or not np.allclose(outputs[0, 1.0], outputs[2, 1.0])


def _replayed_noise(generator: VitsGenerator, tokens: list[int], frames: int, extra_frames: int):
    """The draws ``infer`` makes from ``torch.Generator().manual_seed(SEED)``, in its order and memory layout."""
    rng = torch.Generator().manual_seed(SEED)
    if generator.hparams.use_sdp:
        duration_noise = torch.randn((1, 2, len(tokens)), generator=rng)
    else:
        duration_noise = torch.zeros(1, 2, len(tokens))  # the deterministic predictor draws nothing
    # infer fills a buffer shaped like its prior mean, a transposed [b, frames, channels] matmul result.
    layout = torch.empty(1, frames, generator.hparams.inter_channels).transpose(1, 2)
    prior = torch.empty_like(layout).normal_(generator=rng)
    padding = torch.full((1, generator.hparams.inter_channels, extra_frames), 1e3)  # must be ignored
    return duration_noise.numpy(), torch.cat([prior, padding], dim=2).numpy()


@pytest.mark.parametrize("name", ["single", "multi"])
def test_noise_inputs_reproduce_seeded_pytorch_with_nonzero_noise(models, exported, name):
    generator, speaker = models[name]
    session = load_onnx_session(exported[name, "inputs"])
    scales = {"noise_scale": 0.667, "noise_scale_w": 0.8, "length_scale": 1.0}
    for count in LENGTHS:
        tokens = _tokens(count, stride=11)
        stages = generator.infer(
            torch.tensor([tokens]),
            speaker_ids=None if speaker is None else torch.tensor([speaker]),
            generator=torch.Generator().manual_seed(SEED),
            **scales,
        )
        expected = stages.waveform[0, 0].numpy()
        duration_noise, prior_noise = _replayed_noise(generator, tokens, int(stages.frame_lengths[0]), 9)
        actual = run_onnx(
            session, tokens, speaker_id=speaker, duration_noise=duration_noise, prior_noise=prior_noise, **scales
        )
        _assert_same(actual, expected)
        silent = _torch_waveform(generator, tokens, speaker, noise_scale=0.0, noise_scale_w=0.0)
        assert len(silent) != len(expected) or not np.allclose(silent, expected)  # the noise mattered


def test_graph_noise_draws_fresh_noise_each_run(models, exported):
    generator, _ = models["single"]
    session = load_onnx_session(exported["single", "graph"])
    tokens = _tokens(29)
    # With noise_scale_w at 0 the durations are deterministic, so the length must still be PyTorch's exactly.
    expected_length = len(_torch_waveform(generator, tokens, None, noise_scale=0.667, noise_scale_w=0.0))
    first = run_onnx(session, tokens, noise_scale=0.667, noise_scale_w=0.0)
    second = run_onnx(session, tokens, noise_scale=0.667, noise_scale_w=0.0)
    assert len(first) == len(second) == expected_length
    assert not np.array_equal(first, second)
    noisy = run_onnx(session, tokens, noise_scale=0.667, noise_scale_w=0.8)
    assert len(noisy) % generator.hparams.hop_length == 0
    for waveform in (first, noisy):
        assert_audible(Audio(waveform, generator.hparams.sampling_rate))


def test_batch_matches_pytorch_batch(models, exported):
    generator, speaker = models["multi"]
    session = load_onnx_session(exported["multi", "graph"])
    rows = [_tokens(29), _tokens(17, stride=5)]
    padded = np.zeros((2, 29), dtype=np.int64)
    for i, row in enumerate(rows):
        padded[i, : len(row)] = row
    feeds = {
        "token_ids": padded,
        "token_lengths": np.array([len(r) for r in rows], dtype=np.int64),
        "noise_scale": np.array(0.0, dtype=np.float32),
        "length_scale": np.array(1.0, dtype=np.float32),
        "speaker_ids": np.array([speaker, 0], dtype=np.int64),
    }
    assert {item.name for item in session.get_inputs()} == set(feeds)  # this DP ignores noise_scale_w: no input
    waveforms, lengths = session.run(None, feeds)
    stages = generator.infer(
        torch.from_numpy(padded),
        torch.from_numpy(feeds["token_lengths"]),
        speaker_ids=torch.from_numpy(feeds["speaker_ids"]),
        noise_scale=0.0,
        noise_scale_w=0.0,
    )
    expected_lengths = (stages.frame_lengths * generator.hparams.hop_length).numpy()
    np.testing.assert_array_equal(lengths, expected_lengths)
    assert waveforms.shape == (2, expected_lengths.max())
    for i, length in enumerate(expected_lengths):
        _assert_same(waveforms[i, :length], stages.waveform[i, 0, :length].numpy())
        assert not waveforms[i, length:].any()  # zero past each row's end


def test_metadata_records_what_a_runtime_needs(models, tmp_path):
    generator, _ = models["multi"]
    report = LoadReport(format="in-memory", source="test", records=(), target_count=0, weight_norm="fold")
    voice = Voice(generator=generator, report=report, synthesis_defaults={"noise_scale": 0.5, "length_scale": 1.2})
    meta = onnx_metadata(load_onnx_session(export_onnx(voice, tmp_path / "voice.onnx", verify=False)))
    assert meta["vits_adapters.format_version"] == FORMAT_VERSION
    assert meta["sample_rate"] == str(MULTI_HPARAMS.sampling_rate)
    assert meta["hop_length"] == str(math.prod(MULTI_HPARAMS.upsample_rates))
    assert meta["n_speakers"] == "3"
    assert meta["noise"] == "graph"
    assert (meta["noise_scale"], meta["length_scale"], meta["noise_scale_w"]) == ("0.5", "1.2", "0.8")


def test_weight_norm_keep_generator_exports_folded_and_stays_parametrized(models, tmp_path):
    generator, _ = models["single"]
    keep = copy.deepcopy(generator)
    for name in keep.weight_norm_layer_names():
        parametrizations.weight_norm(keep.get_submodule(name), dim=0)
    keep.weight_norm = "keep"
    path = export_onnx(keep, tmp_path / "keep.onnx", verify=False)  # checked below
    names = {init.name for init in onnx.load(path).graph.initializer}
    assert not any("original0" in n or "original1" in n for n in names)
    assert keep.weight_norm == "keep" and hasattr(keep.decoder.conv_pre, "weight")
    tokens = _tokens(29)
    actual = run_onnx(load_onnx_session(path), tokens, noise_scale=0.0, noise_scale_w=0.0)
    _assert_same(actual, _torch_waveform(generator, tokens, None, noise_scale=0.0, noise_scale_w=0.0))


def test_refuses_to_overwrite_and_leaves_the_file(models, exported, tmp_path):
    target = tmp_path / "out.onnx"
    target.write_bytes(b"keep me")
    with pytest.raises(FileExistsError, match="overwrite"):
        export_onnx(models["single"][0], target)
    assert target.read_bytes() == b"keep me"
    rng_state = torch.get_rng_state()
    export_onnx(models["single"][0], target, overwrite=True, verify=False)
    assert torch.equal(torch.get_rng_state(), rng_state)  # tracing the in-graph noise leaves the global RNG alone
    assert onnx.load(target).producer_name == "vits-adapters"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.onnx"]


def test_failed_verification_writes_nothing(models, tmp_path, monkeypatch):
    monkeypatch.setattr("vits_adapters.onnx.export.PARITY_ATOL", -1.0)
    with pytest.raises(OnnxExportError, match="differs from PyTorch"):
        export_onnx(models["single"][0], tmp_path / "bad.onnx")
    assert list(tmp_path.iterdir()) == []


def test_bad_opset_and_noise_mode_are_refused(models, tmp_path):
    with pytest.raises(InvalidInputError, match="opset"):
        export_onnx(models["single"][0], tmp_path / "x.onnx", opset=15)
    with pytest.raises(InvalidInputError, match="noise"):
        export_onnx(models["single"][0], tmp_path / "x.onnx", noise="seeded")


def test_missing_onnx_raises_with_install_hint(models, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # makes `import onnx` raise ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install 'vits-adapters\[onnx\]'") as info:
        export_onnx(models["single"][0], tmp_path / "x.onnx")
    assert isinstance(info.value, ImportError)
    assert not (tmp_path / "x.onnx").exists()


def test_missing_onnxruntime_raises_with_install_hint(exported, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'vits-adapters\[onnx\]'") as info:
        load_onnx_session(exported["single", "graph"])
    assert isinstance(info.value, ImportError)


def test_runner_checks_speaker_and_noise_inputs(exported):
    single = load_onnx_session(exported["single", "graph"])
    multi = load_onnx_session(exported["multi", "graph"])
    inputs_model = load_onnx_session(exported["single", "inputs"])
    with pytest.raises(InvalidInputError, match="3 speakers"):
        run_onnx(multi, _tokens(5))
    with pytest.raises(InvalidInputError, match=r"0\.\.2"):
        run_onnx(multi, _tokens(5), speaker_id=3)
    with pytest.raises(InvalidInputError, match=r"\[178\] are outside the vocabulary"):
        run_onnx(single, [1, 178, 2])
    with pytest.raises(InvalidInputError, match="single-speaker"):
        run_onnx(single, _tokens(5), speaker_id=0)
    with pytest.raises(InvalidInputError, match="duration_noise is required"):
        run_onnx(inputs_model, _tokens(5))
    with pytest.raises(InvalidInputError, match="duration_noise is not accepted"):
        run_onnx(single, _tokens(5), duration_noise=np.zeros((1, 2, 5)), prior_noise=np.zeros((1, 32, 50)))
    with pytest.raises(InvalidInputError, match="empty"):
        run_onnx(single, [])


def test_cli_export_onnx(models, tmp_path, capsys):
    generator, _ = models["single"]
    report = LoadReport(format="in-memory", source="test", records=(), target_count=0, weight_norm="fold")
    source = tmp_path / "voice"
    Voice(generator=generator, report=report).save_pretrained(source)
    out = tmp_path / "voice.onnx"
    assert main(["--json", "export-onnx", str(source), str(out), "--opset", "18"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["command"] == "export-onnx" and data["output"] == str(out) and data["opset"] == 18
    assert onnx.load(out).opset_import[0].version == 18
    tokens = _tokens(29)
    expected = _torch_waveform(generator, tokens, None, noise_scale=0.0, noise_scale_w=0.0)
    _assert_same(run_onnx(load_onnx_session(out), tokens, noise_scale=0.0, noise_scale_w=0.0), expected)
    assert main(["export-onnx", str(source), str(out)]) == 1
    assert "overwrite" in capsys.readouterr().err
    assert main(["--quiet", "export-onnx", str(source), str(out), "--overwrite", "--noise", "inputs"]) == 0
    assert onnx_metadata(load_onnx_session(out))["noise"] == "inputs"
