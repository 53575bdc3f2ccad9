"""Self-tests of the transformers reference peer (tests/peers/transformers_reference.py).

They check that the peer runs transformers' own ``VitsModel`` (its classes, its forward, its file format), that
``build`` is deterministic in its seed without touching the caller's RNG, that every parameter is live (no flow is
the identity) and the peer is sensitive to flow bugs, and that its audio is finite, audible and a few frames per
token.
"""

from __future__ import annotations

import copy

import pytest
import torch
import transformers
from transformers import VitsModel

from tests.peers.transformers_reference import CASES, build, run, typical_ids

@pytest.fixture(scope="module")
def models():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield {name: build(case, seed=0) for name, case in CASES.items()}
    torch.set_num_threads(threads)


def _speakers(model: VitsModel) -> list[int | None]:
    return list(range(model.config.num_speakers)) if model.config.num_speakers > 1 else [None]


def test_cases_cover_single_multi_and_deterministic_durations():
    assert set(CASES) == {"single", "multi", "nosdp"}
    assert CASES["multi"].config().num_speakers == 3
    assert CASES["single"].config().use_stochastic_duration_prediction
    assert not CASES["nosdp"].config().use_stochastic_duration_prediction


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_module_is_transformers_own(name, models):
    model = models[name]
    assert type(model) is transformers.VitsModel
    origins = {path: type(module).__module__ for path, module in model.named_modules()}
    foreign = {path: origin for path, origin in origins.items()
               if origin != "transformers.models.vits.modeling_vits" and not origin.startswith("torch.nn.")}
    assert not foreign
    for part in ("text_encoder", "duration_predictor", "flow", "decoder", "posterior_encoder"):
        assert origins[part] == "transformers.models.vits.modeling_vits", part


@pytest.mark.parametrize("name", sorted(CASES))
def test_build_is_seeded_and_leaves_the_global_rng_alone(name, models):
    rng_before = torch.random.get_rng_state()
    again, other = build(CASES[name], seed=0), build(CASES[name], seed=1)
    assert torch.equal(torch.random.get_rng_state(), rng_before), "build touched the global RNG"
    assert not again.training
    ours, same, different = models[name].state_dict(), again.state_dict(), other.state_dict()
    assert ours.keys() == same.keys() == different.keys()
    for key, tensor in ours.items():
        assert torch.equal(tensor, same[key]), key
        assert not torch.equal(tensor, different[key]), f"{key} does not depend on the seed"
        assert tensor.abs().max() > 0, f"{key} is all zeros (transformers' zero init left a flow as the identity)"


@pytest.mark.parametrize("name", sorted(CASES))
def test_run_is_transformers_forward_and_its_stages(name, models):
    model = models[name]
    ids = typical_ids(model.config, 3)
    for speaker in _speakers(model):
        out = run(model, ids, speaker_id=speaker)
        sid = None if speaker is None else torch.tensor([speaker])
        with torch.no_grad():
            plain = model(torch.tensor([ids]), speaker_id=sid)
            g = None if speaker is None else model.embed_speaker(sid).unsqueeze(-1)
            decoded = model.decoder(out["z"], g)
        assert torch.equal(out["waveform"], plain.waveform)
        torch.testing.assert_close(decoded[:, 0], out["waveform"], atol=0, rtol=0)
        frames = out["z"].shape[-1]
        assert out["waveform"].shape[-1] == frames * 256 == plain.waveform.shape[-1]
        assert out["hidden"].shape == (1, len(ids), model.config.hidden_size)
        assert out["z_prior"].shape == (1, model.config.flow_size, frames)


@pytest.mark.parametrize("name", sorted(CASES))
def test_saved_files_reload_in_transformers_with_the_same_output(name, models, tmp_path):
    model = models[name]
    model.save_pretrained(tmp_path)
    reloaded, info = VitsModel.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    ids = typical_ids(model.config, 4)
    speaker = _speakers(model)[-1]
    assert torch.equal(run(reloaded.eval(), ids, speaker_id=speaker)["waveform"], run(model, ids, speaker_id=speaker)["waveform"])


@pytest.mark.parametrize("name", sorted(CASES))
def test_audio_is_finite_audible_and_a_few_frames_per_token(name, models):
    model = models[name]
    waves = []
    for speaker in _speakers(model):
        out = run(model, typical_ids(model.config, 5), speaker_id=speaker)
        frames_per_token = out["z"].shape[-1] / out["hidden"].shape[1]
        assert 1.5 <= frames_per_token <= 6.0, frames_per_token
        wave = out["waveform"]
        assert torch.isfinite(wave).all() and wave.std() > 1e-2 and 0.05 < wave.abs().max() < 1.0
        waves.append(wave)
    for a, b in zip(waves, waves[1:]):  # speakers must condition the output
        n = min(a.shape[-1], b.shape[-1])
        assert (a[..., :n] - b[..., :n]).abs().max() > 1e-2


def test_peer_is_sensitive_to_flow_bugs(models):
    model = models["single"]
    ids = typical_ids(model.config, 6)
    base = run(model, ids)
    zeroed = copy.deepcopy(model)
    with torch.no_grad():
        zeroed.flow.flows[0].conv_post.weight.zero_()
    assert (run(zeroed, ids)["z"] - base["z"]).abs().max() > 1e-3
    swapped = copy.deepcopy(model)
    swapped.flow.flows[0], swapped.flow.flows[2] = swapped.flow.flows[2], swapped.flow.flows[0]
    wave = run(swapped, ids)["waveform"]
    assert wave.shape == base["waveform"].shape
    assert (wave - base["waveform"]).abs().max() > 1e-3 * base["waveform"].abs().max()
