"""Our generator against Piper's independent VITS implementation: same weights, same stages, same waveform."""

from __future__ import annotations

import pytest
import torch

from tests.peers.piper_reference import CASES, peer_infer, state_dict_forms, typical_token_ids

from vits_adapters import from_pretrained

FORMS = ("legacy", "plain", "parametrized", "mixed")
# Honest float32 reimplementations agree to about 1e-6; stage tolerances leave a small margin.
STAGE_ATOL = 5e-6


def _speaker(case_name: str) -> int | None:
    return 2 if CASES[case_name].n_speakers > 1 else None


def _ours(voice, ids, speaker, **scales):
    sid = None if speaker is None else torch.tensor([speaker])
    return voice.generator.infer(torch.tensor([ids]), speaker_ids=sid, **scales)


def _assert_stages_match(ref, ours):
    torch.testing.assert_close(ours.hidden, ref["x"], atol=STAGE_ATOL, rtol=0)
    torch.testing.assert_close(ours.prior_mean, ref["m_p"], atol=STAGE_ATOL, rtol=0)
    torch.testing.assert_close(ours.prior_log_std, ref["logs_p"], atol=STAGE_ATOL, rtol=0)
    torch.testing.assert_close(ours.log_durations, ref["logw"], atol=STAGE_ATOL, rtol=0)
    assert torch.equal(ours.durations, ref["w_ceil"])
    torch.testing.assert_close(ours.z_prior, ref["z_p"], atol=STAGE_ATOL, rtol=0)
    torch.testing.assert_close(ours.z, ref["z"], atol=1e-5, rtol=0)
    wave, ref_wave = ours.waveform, ref["o"]
    assert wave.shape == ref_wave.shape
    peak = ref_wave.abs().max().item()
    assert peak > 0.05
    assert (wave - ref_wave).abs().max().item() <= 1e-4 * peak
    torch.testing.assert_close(wave, ref_wave, atol=2e-6, rtol=0)


@pytest.mark.parametrize("case_name", sorted(CASES))
def test_trainer_checkpoint_matches_piper_stage_by_stage(case_name, peers, original_dirs):
    voice = from_pretrained(original_dirs[case_name])
    assert voice.report.complete and voice.report.format == "vits-original"
    speaker = _speaker(case_name)
    for seed in (0, 1):
        ids = typical_token_ids(CASES[case_name], seed)
        ref = peer_infer(peers[case_name], ids, speaker_id=speaker)
        _assert_stages_match(ref, _ours(voice, ids, speaker, noise_scale=0.0, noise_scale_w=0.0))


@pytest.mark.parametrize("mode", ["fold", "keep"])
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("case_name", ["single", "multi", "resblock2"])
def test_every_weight_norm_form_gives_the_same_waveform(case_name, form, mode, peers, original_dirs, tmp_path):
    path = tmp_path / "bare.pth"
    torch.save(state_dict_forms(peers[case_name])[form], path)
    voice = from_pretrained(path, config=original_dirs[case_name] / "config.json", weight_norm=mode)
    assert voice.report.complete
    layers = sum(voice.report.source_forms.values())
    assert layers == len(voice.generator.weight_norm_layer_names())
    speaker = _speaker(case_name)
    ids = typical_token_ids(CASES[case_name], 3)
    ref = peer_infer(peers[case_name], ids, speaker_id=speaker)
    _assert_stages_match(ref, _ours(voice, ids, speaker, noise_scale=0.0, noise_scale_w=0.0))


def test_length_scale_and_speakers_follow_the_peer(peers, original_dirs):
    voice = from_pretrained(original_dirs["multi"])
    ids = typical_token_ids(CASES["multi"], 5)
    waves = []
    for speaker in range(CASES["multi"].n_speakers):
        ref = peer_infer(peers["multi"], ids, speaker_id=speaker, length_scale=1.7)
        ours = _ours(voice, ids, speaker, noise_scale=0.0, noise_scale_w=0.0, length_scale=1.7)
        _assert_stages_match(ref, ours)
        waves.append(ours.waveform)
    # Speakers must actually condition the output, or the multi-speaker check proves nothing.
    assert (waves[0][..., :1000] - waves[1][..., :1000]).abs().max() > 1e-3


def test_noise_paths_match_the_peer_with_the_same_random_draws(peers, original_dirs):
    """With noise on, the peer draws from torch's global RNG in the same order as we draw from a generator."""
    voice = from_pretrained(original_dirs["single"])
    ids = typical_token_ids(CASES["single"], 7)
    torch.manual_seed(1234)
    ref = peer_infer(peers["single"], ids, noise_scale=0.667, noise_scale_w=0.8)
    ours = _ours(voice, ids, None, noise_scale=0.667, noise_scale_w=0.8, generator=torch.Generator().manual_seed(1234))
    _assert_stages_match(ref, ours)
