"""run_demo: a random-weight voice goes through the original layout, a local Hub cache and back to audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from vits_adapters.audio.waveform import check_audio
from vits_adapters.cli.demo import DEMO_HPARAMS, DEMO_REPO_ID, DemoResult, build_random_generator, run_demo
from vits_adapters.pretrained import from_pretrained


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoResult:
    """One demo run shared by the module."""
    return run_demo(tmp_path_factory.mktemp("demo"))


def test_writes_audio_and_spectrogram(demo: DemoResult) -> None:
    assert demo.wav == demo.workdir / "demo.wav" and demo.png == demo.workdir / "demo.png"
    info = sf.info(str(demo.wav))
    assert info.samplerate == DEMO_HPARAMS.sampling_rate == 16000 and info.channels == 1
    assert demo.png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    samples, rate = sf.read(str(demo.wav), dtype="float32")
    check = check_audio(samples, rate)
    assert check.non_finite == 0 and check.verdict not in ("silent", "non-finite", "too-short")
    assert 0.5 < check.duration < 10
    assert demo.check.verdict == check.verdict


def test_report_shows_the_original_layout_loaded_completely(demo: DemoResult) -> None:
    report = demo.report
    assert report.format == "vits-original"
    assert report.source == DEMO_REPO_ID and report.revision == demo.snapshot.name
    assert report.complete and report.strict
    assert report.source_forms == {"legacy": len(build_random_generator().weight_norm_layer_names())}
    assert report.counts()["unexpected"] == 0 and report.counts()["converted"] > 0
    assert not report.assumed


def test_hub_cache_layout(demo: DemoResult) -> None:
    repo = demo.hub_cache / "models--vits-adapters--demo-random-vits"
    assert demo.snapshot.parent == repo / "snapshots"
    assert (repo / "refs" / "main").read_text() == demo.snapshot.name
    assert sorted(p.name for p in demo.snapshot.iterdir()) == ["G_0.pth", "config.json"]


def test_loads_back_like_any_hub_voice(demo: DemoResult) -> None:
    voice = from_pretrained(DEMO_REPO_ID, cache_dir=demo.hub_cache, local_files_only=True)
    assert voice.config == DEMO_HPARAMS
    assert voice.frontend is not None and voice.frontend.cleaners == ("basic_cleaners",) and voice.frontend.add_blank


def test_rerun_is_reproducible_and_keeps_one_snapshot(demo: DemoResult, tmp_path: Path) -> None:
    again = run_demo(demo.workdir, quiet=True)
    assert again.snapshot == demo.snapshot
    blobs = sorted(p.name for p in (demo.snapshot.parent.parent / "blobs").iterdir())
    assert len(blobs) == 2  # G_0.pth and config.json; the previous run's G_0.pth blob is gone
    fresh = run_demo(tmp_path)
    first, _ = sf.read(str(demo.wav), dtype="float32")
    second, _ = sf.read(str(fresh.wav), dtype="float32")
    np.testing.assert_array_equal(first, second)


def test_seed_changes_the_weights() -> None:
    a = build_random_generator(seed=0).state_dict()
    b = build_random_generator(seed=0).state_dict()
    c = build_random_generator(seed=1).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["decoder.conv_pre.weight"], c["decoder.conv_pre.weight"])


def test_never_touches_the_global_rng() -> None:
    before = torch.get_rng_state()
    generator = build_random_generator(seed=5)
    assert torch.equal(torch.get_rng_state(), before)
    assert not list(generator.buffers())  # every tensor is a parameter, so every tensor was drawn
    assert all(torch.isfinite(p).all() for p in generator.parameters())


def test_activations_stay_moderate() -> None:
    generator = build_random_generator()
    with torch.inference_mode():
        stages = generator.infer(torch.arange(1, 30).unsqueeze(0), generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(stages.waveform).all()
    assert stages.hidden.abs().max() < 50 and stages.z.abs().max() < 50
    assert 1 <= stages.durations.max() <= 20
