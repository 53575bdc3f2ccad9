"""Self-tests of the Piper reference peer (tests/peers/piper_reference.py).

These check that the fixture is faithful to Piper's own ``SynthesizerTrn.infer``, that its
weights are well scaled (a few frames per token, finite non-constant audio), that every
weight-norm layout of its state dict carries the same weights, and that it is sensitive
enough to expose flow bugs.
"""

from __future__ import annotations

import copy
import json
import math
import warnings

import pytest
import torch

try:
    from tests.peers import piper_reference as pr
except ImportError:  # tests/ is not a package: pytest puts tests/ itself on sys.path
    from peers import piper_reference as pr

CASE_NAMES = list(pr.CASES)
FORMS = list(pr.WEIGHT_NORM_FORMS)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """These models are tiny: intra-op threads only add overhead, and on a busy 2-CPU
    machine they can make the module >10x slower (threads waiting on descheduled peers)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def peers(_one_thread) -> dict:
    return {name: pr.build_peer(case, seed=0) for name, case in pr.CASES.items()}


def _speakers(case: pr.PeerCase) -> list:
    return list(range(case.n_speakers)) if case.n_speakers > 1 else [None]


def _sid_tensor(sid):
    return None if sid is None else torch.tensor([sid])


def _ref_infer(peer, ids, sid, **kw):
    with torch.no_grad():
        return peer.infer(
            torch.tensor([ids]), torch.tensor([len(ids)]), sid=_sid_tensor(sid), **kw
        )


def _hop(case: pr.PeerCase) -> int:
    return math.prod(case.hps["upsample_rates"])


# ------------------------------------------------------------------ cases & construction


def test_cases_cover_the_required_variants():
    assert {"single", "multi", "nosdp", "resblock2"} <= set(pr.CASES)
    single, multi, nosdp, rb2 = (pr.CASES[k] for k in ("single", "multi", "nosdp", "resblock2"))
    assert single.n_speakers == 0 and single.hps["use_sdp"] and single.hps["resblock"] == "1"
    assert multi.n_speakers == 3 and multi.hps["gin_channels"] == 16 and multi.hps["use_sdp"]
    assert nosdp.hps["use_sdp"] is False
    assert rb2.hps["resblock"] == "2"
    assert tuple(rb2.hps["resblock_kernel_sizes"]) == (3, 5, 7)
    assert tuple(map(tuple, rb2.hps["resblock_dilation_sizes"])) == ((1, 2), (2, 6), (3, 12))
    assert tuple(rb2.hps["upsample_rates"]) == (8, 8, 4)
    assert tuple(rb2.hps["upsample_kernel_sizes"]) == (16, 16, 8)
    for case in pr.CASES.values():
        assert case.spec_channels == 33
        assert case.hps["filter_channels"] == 64 and case.hps["n_heads"] == 2
        assert case.hps["upsample_initial_channel"] == 64
        assert 30 <= case.n_vocab <= 50


@pytest.mark.parametrize("name", CASE_NAMES)
def test_build_peer_is_seeded_complete_and_quiet(name, peers):
    case = pr.CASES[name]
    rng_before = torch.random.get_rng_state()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = pr.build_peer(case, seed=0)
        other = pr.build_peer(case, seed=1)
    assert not [w for w in caught if issubclass(w.category, FutureWarning)]
    assert torch.equal(torch.random.get_rng_state(), rng_before), "global RNG was touched"
    assert not again.training
    sd0, sd_again, sd1 = peers[name].state_dict(), again.state_dict(), other.state_dict()
    assert sd0.keys() == sd_again.keys() == sd1.keys()
    for k in sd0:
        assert torch.equal(sd0[k], sd_again[k]), k
        assert not torch.equal(sd0[k], sd1[k]), f"{k} does not depend on the seed"
    # upstream zero-inits these; here they must be live
    for k, v in sd0.items():
        assert v.abs().max() > 0, f"{k} is all zeros"
    assert ("emb_g.weight" in sd0) == (case.n_speakers > 1)
    assert any(k.endswith("weight_g") for k in sd0) and any(k.endswith("weight_v") for k in sd0)


# ---------------------------------------------------------------- stages vs peer.infer


@pytest.mark.parametrize("name", CASE_NAMES)
def test_stage_decomposition_matches_infer(name, peers):
    case, peer = pr.CASES[name], peers[name]
    ids = pr.typical_token_ids(case, seed=7)
    for sid in _speakers(case):
        out = pr.peer_infer(peer, ids, speaker_id=sid)
        ref_o, ref_attn, ref_y_mask, (ref_z, ref_z_p, ref_m_p, ref_logs_p) = _ref_infer(
            peer, ids, sid, noise_scale=0.0, noise_scale_w=0.0, length_scale=1.0
        )
        assert torch.equal(out["o"], ref_o)
        assert torch.equal(out["z"], ref_z) and torch.equal(out["z_p"], ref_z_p)
        assert torch.equal(out["m_p_exp"], ref_m_p) and torch.equal(out["logs_p_exp"], ref_logs_p)
        assert torch.equal(out["attn"], ref_attn) and torch.equal(out["y_mask"], ref_y_mask)

        t_x = len(ids)
        t_y = int(out["y_lengths"].item())
        inter = case.hps["inter_channels"]
        assert out["x"].shape == (1, case.hps["hidden_channels"], t_x)
        assert out["m_p"].shape == out["logs_p"].shape == (1, inter, t_x)
        assert out["x_mask"].shape == out["logw"].shape == out["w_ceil"].shape == (1, 1, t_x)
        assert out["z_p"].shape == out["z"].shape == (1, inter, t_y)
        assert t_y == int(out["w_ceil"].sum().item())
        assert out["o"].shape == (1, 1, t_y * _hop(case))
        assert ("g" in out) == (case.n_speakers > 1)


@pytest.mark.parametrize("name", CASE_NAMES)
def test_stage_decomposition_matches_infer_with_noise_and_length_scale(name, peers):
    case, peer = pr.CASES[name], peers[name]
    ids = pr.typical_token_ids(case, seed=8)
    sid = _speakers(case)[-1]
    kw = dict(noise_scale=0.667, noise_scale_w=0.8, length_scale=1.3)
    torch.manual_seed(1234)
    out = pr.peer_infer(peer, ids, speaker_id=sid, **kw)
    torch.manual_seed(1234)
    ref = _ref_infer(peer, ids, sid, **kw)
    assert torch.equal(out["o"], ref[0])
    assert torch.isfinite(out["o"]).all()


def test_peer_infer_speaker_id_validation(peers):
    ids = pr.typical_token_ids(pr.CASES["single"], seed=0)
    with pytest.raises(ValueError):
        pr.peer_infer(peers["multi"], ids)
    with pytest.raises(ValueError):
        pr.peer_infer(peers["single"], ids, speaker_id=0)


# ------------------------------------------------------------------- scale / sanity


@pytest.mark.parametrize("name", CASE_NAMES)
def test_typical_durations_are_a_few_frames(name, peers):
    case, peer = pr.CASES[name], peers[name]
    all_w = []
    for seed in range(20, 26):
        ids = pr.typical_token_ids(case, seed=seed)
        for sid in _speakers(case):
            w_ceil = pr.peer_infer(peer, ids, speaker_id=sid)["w_ceil"].flatten()
            assert w_ceil.min() >= 1 and w_ceil.max() <= 10, (seed, sid, w_ceil.tolist())
            all_w.append(w_ceil)
    mean = torch.cat(all_w).mean().item()
    assert 2.0 <= mean <= 5.0, mean


@pytest.mark.parametrize("name", CASE_NAMES)
def test_waveform_is_finite_and_not_constant(name, peers):
    case, peer = pr.CASES[name], peers[name]
    ids = pr.typical_token_ids(case, seed=9)
    waves = []
    for sid in _speakers(case):
        o = pr.peer_infer(peer, ids, speaker_id=sid)["o"]
        assert torch.isfinite(o).all()
        assert o.std() > 1e-2
        assert 0.05 < o.abs().max() < 1.0
        waves.append(o)
    for a, b in zip(waves, waves[1:]):  # speakers sound different
        n = min(a.shape[-1], b.shape[-1])
        assert (a[..., :n] - b[..., :n]).abs().max() > 1e-2


# --------------------------------------------------------------- weight-norm layouts


@pytest.mark.parametrize("name", CASE_NAMES)
def test_state_dict_form_key_layouts(name, peers):
    peer = peers[name]
    forms = pr.state_dict_forms(peer)
    assert set(forms) == set(FORMS)
    legacy, plain, param, mixed = (forms[f] for f in FORMS)

    assert legacy.keys() == peer.state_dict().keys()
    for k, v in peer.state_dict().items():
        assert torch.equal(legacy[k], v)

    wn_modules = sorted(k[: -len(".weight_g")] for k in legacy if k.endswith(".weight_g"))
    assert any(m.startswith("dec.ups.") for m in wn_modules)
    assert any(m.startswith("dec.resblocks.") for m in wn_modules)
    assert any(m.startswith("flow.flows.0.enc.") for m in wn_modules)
    assert any(m.startswith("enc_q.enc.") for m in wn_modules)

    assert not any(k.endswith(("weight_g", "weight_v")) or "parametrizations" in k for k in plain)
    assert not any(k.endswith(("weight_g", "weight_v")) for k in param)

    for m in wn_modules:
        g, v = legacy[f"{m}.weight_g"], legacy[f"{m}.weight_v"]
        assert torch.equal(param[f"{m}.parametrizations.weight.original0"], g)
        assert torch.equal(param[f"{m}.parametrizations.weight.original1"], v)
        expected = v * (g / torch.norm_except_dim(v, 2, 0))
        torch.testing.assert_close(plain[f"{m}.weight"], expected, rtol=1e-6, atol=1e-7)
        if m.startswith("dec."):
            mixed_keys = {f"{m}.weight"}
            assert torch.equal(mixed[f"{m}.weight"], plain[f"{m}.weight"])
        elif m.startswith("flow.flows.0.enc."):
            mixed_keys = {f"{m}.parametrizations.weight.original0",
                          f"{m}.parametrizations.weight.original1"}
        else:
            mixed_keys = {f"{m}.weight_g", f"{m}.weight_v"}
        present = {k for k in mixed if k.startswith(m + ".") and not k.endswith(".bias")}
        assert present == mixed_keys, m

    # everything that is not weight-normed is identical across forms
    shared = {k for k in legacy if k.rsplit(".", 1)[0] not in wn_modules}
    shared |= {f"{m}.bias" for m in wn_modules if f"{m}.bias" in legacy}
    for f in FORMS:
        for k in shared:
            assert torch.equal(forms[f][k], legacy[k]), (f, k)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("name", CASE_NAMES)
def test_each_form_loads_into_a_fresh_peer_with_identical_output(name, form, peers):
    case, peer = pr.CASES[name], peers[name]
    ids = pr.typical_token_ids(case, seed=11)
    sid = _speakers(case)[0]
    expected = pr.peer_infer(peer, ids, speaker_id=sid)["o"]

    sd = pr.state_dict_forms(peer)[form]
    fresh = pr.convert_peer(pr.build_peer(case, seed=5), form)
    assert set(fresh.state_dict()) == set(sd)
    before = pr.peer_infer(fresh, ids, speaker_id=sid)["o"]
    assert before.shape != expected.shape or not torch.equal(before, expected)

    fresh.load_state_dict(sd, strict=True)
    got = pr.peer_infer(fresh, ids, speaker_id=sid)["o"]
    assert torch.equal(got, expected)


@pytest.mark.parametrize("name", CASE_NAMES)
def test_original_checkpoint_roundtrip(name, peers, tmp_path):
    case, peer = pr.CASES[name], peers[name]
    path = tmp_path / "G_1.pth"
    torch.save(pr.original_checkpoint(peer), path)
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    assert set(ckpt) == {"model", "iteration", "optimizer", "learning_rate"}
    assert ckpt["iteration"] == 1 and ckpt["learning_rate"] == 2e-4
    assert any(isinstance(v, torch.Tensor) for s in ckpt["optimizer"]["state"].values() for v in s.values())
    assert any(k.endswith(".weight_g") for k in ckpt["model"])

    fresh = pr.build_peer(case, seed=3)
    fresh.load_state_dict(ckpt["model"], strict=True)
    ids = pr.typical_token_ids(case, seed=12)
    sid = _speakers(case)[-1]
    assert torch.equal(
        pr.peer_infer(fresh, ids, speaker_id=sid)["o"], pr.peer_infer(peer, ids, speaker_id=sid)["o"]
    )


@pytest.mark.parametrize("name", CASE_NAMES)
def test_original_config(name):
    case = pr.CASES[name]
    cfg = json.loads(json.dumps(pr.original_config(case)))
    assert cfg["train"]["segment_size"] == 8192
    data = cfg["data"]
    assert data["sampling_rate"] == case.sampling_rate
    assert data["filter_length"] == (case.spec_channels - 1) * 2
    assert data["filter_length"] // 2 + 1 == case.spec_channels
    assert data["hop_length"] == _hop(case)
    assert data["n_mel_channels"] == 80 and data["add_blank"] is True
    assert data["n_speakers"] == case.n_speakers
    assert data["text_cleaners"] == ["english_cleaners2"] and data["cleaned_text"] is True
    model = cfg["model"]
    assert "n_vocab" not in model
    assert set(model) - set(case.hps) <= {"n_layers_q", "use_spectral_norm"}
    for k, v in case.hps.items():
        assert json.loads(json.dumps(v)) == model[k], k


# --------------------------------------------------------------------- sensitivity


@pytest.mark.parametrize("name", CASE_NAMES)
def test_fixture_is_sensitive_to_flow_bugs(name, peers):
    case, peer = pr.CASES[name], peers[name]
    ids = pr.typical_token_ids(case, seed=13)
    sid = _speakers(case)[0]
    base = pr.peer_infer(peer, ids, speaker_id=sid)

    zeroed = copy.deepcopy(peer)
    with torch.no_grad():
        zeroed.flow.flows[0].post.weight.zero_()
    z = pr.peer_infer(zeroed, ids, speaker_id=sid)["z"]
    assert (z - base["z"]).abs().max() > 1e-3

    swapped = copy.deepcopy(peer)
    sd = {k: v.clone() for k, v in swapped.state_dict().items()}
    swapped_sd = dict(sd)
    for k in sd:
        for a, b in (("flow.flows.0.", "flow.flows.2."), ("flow.flows.2.", "flow.flows.0.")):
            if k.startswith(a):
                swapped_sd[k] = sd[b + k[len(a):]]
    swapped.load_state_dict(swapped_sd, strict=True)
    o = pr.peer_infer(swapped, ids, speaker_id=sid)["o"]
    peak = base["o"].abs().max()
    assert o.shape == base["o"].shape
    assert (o - base["o"]).abs().max() > 1e-3 * peak
