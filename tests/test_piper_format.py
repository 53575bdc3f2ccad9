"""Piper Lightning checkpoints in and out, proven against Piper's own generator."""

from __future__ import annotations

import json
import pathlib
import warnings

import numpy as np
import pytest
import torch

from tests.peers.piper_reference import CASES, build_peer, peer_infer, typical_token_ids

from vits_adapters import CheckpointReadError, from_pretrained

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from piper.train.vits.models import MultiPeriodDiscriminator


def _hyper_parameters(case) -> dict:
    hps = dict(case.hps)
    return {
        **hps,
        "num_symbols": np.int64(case.n_vocab),  # numpy scalars and paths, as real Lightning files hold
        "num_speakers": max(case.n_speakers, 1),
        "sample_rate": case.sampling_rate,
        "filter_length": (case.spec_channels - 1) * 2,
        "hop_length": int(np.prod(hps["upsample_rates"])),
        "win_length": (case.spec_channels - 1) * 2,
        "n_layers_q": 3,
        "use_spectral_norm": False,
        "learning_rate": 2e-4,
        "batch_size": 16,
        "dataset": [pathlib.PosixPath("/data/dataset.jsonl")],
    }


def _lightning_checkpoint(peer, case) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        discriminator = MultiPeriodDiscriminator()
    state = {f"model_g.{k}": v for k, v in peer.state_dict().items()}
    state.update({f"model_d.{k}": v for k, v in discriminator.state_dict().items()})
    return {
        "state_dict": state,
        "hyper_parameters": _hyper_parameters(case),
        "epoch": 12,
        "global_step": 3400,
        "pytorch-lightning_version": "1.7.7",
        "optimizer_states": [{"state": {0: {"exp_avg": torch.zeros(3)}}, "param_groups": []}],
        "lr_schedulers": [{"last_epoch": 12}],
        "callbacks": {},
        "loops": {},
    }


def _voice_config(case) -> dict:
    return {
        "audio": {"sample_rate": case.sampling_rate, "quality": "medium"},
        "espeak": {"voice": "en-us"},
        "inference": {"noise_scale": 0.5, "length_scale": 1.1, "noise_w": 0.7},
        "phoneme_type": "espeak",
        "phoneme_id_map": {"_": [0], "^": [1], "$": [2], " ": [3], "a": [4]},
        "num_symbols": case.n_vocab,
        "num_speakers": max(case.n_speakers, 1),
        "speaker_id_map": {},
        "piper_version": "1.0.0",
    }


@pytest.fixture(scope="module")
def piper_dirs(peers, tmp_path_factory):
    dirs = {}
    for name in ("single", "multi", "resblock2"):
        folder = tmp_path_factory.mktemp(f"piper-{name}")
        torch.save(_lightning_checkpoint(peers[name], CASES[name]), folder / "epoch=12-step=3400.ckpt")
        (folder / "voice.onnx.json").write_text(json.dumps(_voice_config(CASES[name])))
        dirs[name] = folder
    return dirs


def _wave(voice, ids, speaker):
    sid = None if speaker is None else torch.tensor([speaker])
    return voice.generator.infer(torch.tensor([ids]), speaker_ids=sid, noise_scale=0.0, noise_scale_w=0.0).waveform


def test_lightning_pickles_need_the_explicit_allowlist(piper_dirs):
    with pytest.raises(CheckpointReadError, match="pathlib.PosixPath"):
        from_pretrained(piper_dirs["single"])


@pytest.mark.parametrize("name", ["single", "multi", "resblock2"])
def test_lightning_checkpoint_loads_and_matches_piper(name, peers, piper_dirs):
    voice = from_pretrained(piper_dirs[name], trust_pickle=True)
    report = voice.report
    assert report.format == "piper" and report.complete
    assert "pathlib.PosixPath" in report.allowed_globals
    assert {"optimizer_states", "epoch", "lr_schedulers"} <= set(report.ignored_entries)
    dropped = [r for r in report.records if r.action == "dropped"]
    assert dropped and all(r.source[0].startswith("model_d.") and "discriminator" in r.detail for r in dropped)
    assert voice.sample_rate == CASES[name].sampling_rate
    assert voice.synthesis_defaults == {"noise_scale": 0.5, "noise_scale_w": 0.7, "length_scale": 1.1}
    speaker = 1 if CASES[name].n_speakers > 1 else None
    ids = typical_token_ids(CASES[name], 2)
    reference = peer_infer(peers[name], ids, speaker_id=speaker)["o"]
    torch.testing.assert_close(_wave(voice, ids, speaker), reference, atol=2e-6, rtol=0)


def test_export_to_piper_loads_in_piper_and_back(peers, piper_dirs, tmp_path):
    # keep mode holds the g/v pairs as stored, so writing them back is a rename and the round trip is exact
    voice = from_pretrained(piper_dirs["resblock2"], trust_pickle=True, weight_norm="keep")
    written = voice.save_pretrained(tmp_path, format="piper")
    assert [p.name for p in written] == ["generator.ckpt", "config.json"]
    exported = torch.load(tmp_path / "generator.ckpt", weights_only=True)  # plain types only: no allowlist needed
    hps = exported["hyper_parameters"]
    fresh = build_peer(CASES["resblock2"], seed=5)
    generator = {k[len("model_g."):]: v for k, v in exported["state_dict"].items()}
    fresh.load_state_dict(generator, strict=True)
    ids = typical_token_ids(CASES["resblock2"], 4)
    torch.testing.assert_close(peer_infer(fresh, ids)["o"], peer_infer(peers["resblock2"], ids)["o"], atol=0, rtol=0)
    assert hps["resblock"] == "2" and hps["upsample_rates"] == [8, 8, 4] and hps["num_symbols"] == 40
    again = from_pretrained(tmp_path)
    assert again.report.format == "piper" and again.report.complete
    assert json.loads((tmp_path / "config.json").read_text())["phoneme_id_map"]["a"] == [4]
    torch.testing.assert_close(_wave(again, ids, None), _wave(voice, ids, None), atol=2e-6, rtol=0)


def test_phonemes_go_through_the_voices_phoneme_id_map(piper_dirs):
    from piper.phoneme_ids import phonemes_to_ids

    voice = from_pretrained(piper_dirs["single"], trust_pickle=True)
    id_map = _voice_config(CASES["single"])["phoneme_id_map"]
    assert voice.encode("a a") == phonemes_to_ids(list("a a"), id_map)
