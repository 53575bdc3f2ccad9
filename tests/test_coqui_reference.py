"""Self-tests of the Coqui reference peer (tests/peers/coqui_reference.py).

They check that the peer runs Coqui's own code (not a copy), that it is faithful to Coqui's real
``Vits`` model (same state-dict keys and order, loaded by Coqui's own ``load_checkpoint`` from
the peer's checkpoint file and config, bit-identical ``Vits.inference``), that its weights are
well scaled (a few frames per token, finite audible audio), that both weight-norm layouts carry
the same weights, and that it is sensitive enough to expose flow bugs.
"""

from __future__ import annotations

import copy
import importlib.metadata
import json
import math
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

try:
    from tests.peers import coqui_reference as cr
except ImportError:  # tests/ is not a package: pytest puts tests/ itself on sys.path
    from peers import coqui_reference as cr

CASE_NAMES = list(cr.CASES)
FORMS = list(cr.WEIGHT_NORM_FORMS)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Tiny models: intra-op threads only add overhead (and can be >10x slower on a busy box)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def coqui_models(_one_thread) -> dict:
    return {name: cr.build_coqui(case, seed=0) for name, case in cr.CASES.items()}


@pytest.fixture(scope="module")
def real_vits_class():
    return cr.coqui_vits_class()


def _speakers(case: cr.CoquiCase) -> list:
    return list(range(case.num_speakers)) if case.num_speakers else [None]


def _hop(case: cr.CoquiCase) -> int:
    return math.prod(case.model_args["upsample_rates_decoder"])


def _upstream_init(case: cr.CoquiCase) -> cr.CoquiVits:
    """The peer's modules with Coqui's own initialisation (cheaper than a seeded build)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(99)
        return cr.CoquiVits(case).eval()


def _real_from_checkpoint(vits_cls, ckpt: dict, path: Path):
    """Coqui's own route: VitsConfig.from_dict(config) -> Vits(config) -> Vits.load_checkpoint."""
    from TTS.tts.configs.vits_config import VitsConfig

    torch.save(ckpt, path)
    config = VitsConfig()
    config.from_dict(json.loads(json.dumps(ckpt["config"])))
    with torch.random.fork_rng(devices=[]):
        real = vits_cls(config)
    real.load_checkpoint(config, str(path), eval=True, strict=True)
    return real


def _real_infer(real, ids, sid):
    aux = {
        "x_lengths": torch.tensor([len(ids)]),
        "d_vectors": None,
        "speaker_ids": None if sid is None else torch.tensor([sid]),
        "language_ids": None,
        "durations": None,
    }
    return real.inference(torch.tensor([ids]), aux_input=aux)


# ------------------------------------------------------------------ provenance & cases


def test_peer_runs_the_installed_coqui_code():
    assert cr.COQUI_VERSION == importlib.metadata.version("coqui-tts") == cr.TESTED_COQUI_VERSION
    tts_dir = Path(importlib.metadata.distribution("coqui-tts").locate_file("TTS")).resolve()
    for cls in (cr.TextEncoder, cr.PosteriorEncoder, cr.ResidualCouplingBlocks,
                cr.StochasticDurationPredictor, cr.DurationPredictor, cr.HifiganGenerator,
                cr.VitsDiscriminator, cr.VitsConfig):
        origin = Path(sys.modules[cls.__module__].__file__).resolve()
        assert tts_dir in origin.parents, (cls, origin)
    # the only module not executed is TTS/__init__.py (its torchaudio/torchcodec gate)
    assert hasattr(sys.modules["TTS"], "__path__")


def test_torchaudio_placeholder_is_temporary_and_loud(real_vits_class):
    vits_module = sys.modules[real_vits_class.__module__]
    try:
        import torchaudio
    except ImportError:
        assert "torchaudio" not in sys.modules
        with pytest.raises(RuntimeError, match="torchaudio"):
            vits_module.torchaudio.load("x.wav")
    else:
        # With the real torchaudio installed, Coqui's module must hold it, not the placeholder.
        assert vits_module.torchaudio is torchaudio
        assert not isinstance(vits_module.torchaudio, cr._TorchaudioPlaceholder)


def test_cases_cover_the_required_variants():
    assert {"single", "multi", "nosdp", "resblock2"} <= set(cr.CASES)
    single, multi, nosdp, rb2 = (cr.CASES[k] for k in ("single", "multi", "nosdp", "resblock2"))
    assert single.num_speakers == 0 and single.args().use_sdp
    assert multi.num_speakers == 3 and multi.args().use_speaker_embedding
    assert multi.args().speaker_embedding_channels == 16 and multi.args().use_sdp
    assert nosdp.args().use_sdp is False
    assert multi.args().init_discriminator is False and single.args().init_discriminator
    assert rb2.args().resblock_type_decoder == "2" and rb2.args().use_spectral_norm_disriminator
    for case in cr.CASES.values():
        a = case.args()
        assert set(case.model_args) <= set(cr.VitsArgs.__dataclass_fields__)
        assert a.hidden_channels in (32, 48) and a.hidden_channels_ffn_text_encoder == 64
        assert a.num_heads_text_encoder == 2 and a.num_layers_text_encoder == 2
        assert a.upsample_initial_channel_decoder == 64
        assert 30 <= a.num_chars <= 50
        assert a.out_channels == case.fft_size // 2 + 1
        assert _hop(case) == 256


# ------------------------------------------------------------------ construction


@pytest.mark.parametrize("name", CASE_NAMES)
def test_build_is_seeded_complete_and_non_trivial(name, coqui_models):
    case = cr.CASES[name]
    rng_before = torch.random.get_rng_state()
    again = cr.build_coqui(case, seed=0)
    other = cr.build_coqui(case, seed=1)
    assert torch.equal(torch.random.get_rng_state(), rng_before), "global RNG was touched"
    assert not again.training and not coqui_models[name].training
    sd0, sd_again, sd1 = coqui_models[name].state_dict(), again.state_dict(), other.state_dict()
    assert list(sd0) == list(sd_again) == list(sd1)
    for k in sd0:
        assert torch.equal(sd0[k], sd_again[k]), k
        if sd0[k].numel() > 1:  # a 1-element spectral-norm u is a unit vector: always 1
            assert not torch.equal(sd0[k], sd1[k]), f"{k} does not depend on the seed"
        assert sd0[k].abs().max() > 0, f"{k} is all zeros"  # upstream zero-inits flows


@pytest.mark.parametrize("name", CASE_NAMES)
def test_key_layout_is_coquis(name, coqui_models):
    case, sd = cr.CASES[name], coqui_models[name].state_dict()
    a = case.args()
    prefixes = list(dict.fromkeys(k.split(".")[0] for k in sd))
    expected = (["emb_g"] if case.num_speakers else []) + [
        "text_encoder", "posterior_encoder", "flow", "duration_predictor", "waveform_decoder"
    ] + (["disc"] if a.init_discriminator else [])
    assert prefixes == expected
    if case.num_speakers:
        assert sd["emb_g.weight"].shape == (case.num_speakers, a.speaker_embedding_channels)
        assert "waveform_decoder.cond_layer.weight" in sd  # plain conv (original VITS: dec.cond)
        assert "flow.flows.0.enc.cond_layer.parametrizations.weight.original0" in sd
        assert "posterior_encoder.enc.cond_layer.parametrizations.weight.original1" in sd
        assert "duration_predictor.cond.weight" in sd
    else:
        assert not any("cond" in k for k in sd if not k.startswith("disc."))
    assert sd["text_encoder.emb.weight"].shape == (a.num_chars, a.hidden_channels)
    assert sd["posterior_encoder.pre.weight"].shape == (a.hidden_channels, a.out_channels, 1)
    assert {k.split(".")[2] for k in sd if k.startswith("flow.flows.")} == {"0", "1", "2", "3"}
    assert sd["flow.flows.0.post.weight"].shape == (a.hidden_channels // 2, a.hidden_channels, 1)
    # decoder: conv_pre / conv_post have weight norm removed, conv_post has no bias
    assert "waveform_decoder.conv_pre.weight" in sd and "waveform_decoder.conv_post.weight" in sd
    assert "waveform_decoder.conv_post.bias" not in sd
    assert "waveform_decoder.ups.0.parametrizations.weight.original0" in sd
    conv = "convs1.0" if a.resblock_type_decoder == "1" else "convs.0"
    assert f"waveform_decoder.resblocks.0.{conv}.parametrizations.weight.original1" in sd
    if a.use_sdp:
        assert sd["duration_predictor.flows.0.translation"].shape == (2, 1)
        assert "duration_predictor.flows.0.log_scale" in sd
        assert "duration_predictor.post_flows.4.proj.weight" in sd
        assert "duration_predictor.flows.5.pre.weight" not in sd
        assert sd["duration_predictor.pre.weight"].shape == (192, a.hidden_channels, 1)
    else:
        assert sd["duration_predictor.conv_1.weight"].shape == (256, a.hidden_channels, 3)
        assert sd["duration_predictor.norm_1.gamma"].shape == (1, 256, 1)  # glow-tts LayerNorm
    if a.use_spectral_norm_disriminator:
        assert any(k.endswith("weight_orig") for k in sd if k.startswith("disc."))
        assert not any("parametrizations" in k for k in sd if k.startswith("disc."))


# ---------------------------------------------------------- against Coqui's real Vits


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("name", CASE_NAMES)
def test_matches_real_coqui_vits_inference(name, form, coqui_models, real_vits_class, tmp_path):
    case, model = cr.CASES[name], coqui_models[name]
    ckpt = cr.coqui_checkpoint(model, case, form=form)
    real = _real_from_checkpoint(real_vits_class, ckpt, tmp_path / "checkpoint_100.pth")
    assert type(real).__name__ == "Vits" and not real.training
    real_sd, sd = real.state_dict(), model.state_dict()
    assert list(real_sd) == list(sd)
    for k in sd:
        assert torch.equal(real_sd[k], sd[k]), k
    assert real.args.num_chars == case.args().num_chars
    real.inference_noise_scale = 0.0
    real.inference_noise_scale_dp = 0.0
    ids = cr.typical_token_ids(case, seed=7)
    for sid in _speakers(case):
        out = cr.coqui_infer(model, ids, sid)
        ref = _real_infer(real, ids, sid)
        assert torch.equal(out["o"], ref["model_outputs"])
        assert torch.equal(out["z"], ref["z"]) and torch.equal(out["z_p"], ref["z_p"])
        assert torch.equal(out["m_p_exp"], ref["m_p"]) and torch.equal(out["logs_p_exp"], ref["logs_p"])
        assert torch.equal(out["w_ceil"], ref["durations"]) and torch.equal(out["attn"], ref["alignments"])
        t_x, t_y = len(ids), int(out["y_lengths"].item())
        h = case.args().hidden_channels
        assert out["x"].shape == out["m_p"].shape == out["logs_p"].shape == (1, h, t_x)
        assert out["logw"].shape == out["w_ceil"].shape == (1, 1, t_x)
        assert out["z_p"].shape == out["z"].shape == (1, h, t_y)
        assert out["o"].shape == (1, 1, t_y * _hop(case))
        assert ("g" in out) == (case.num_speakers > 0)


@pytest.mark.parametrize("name", ["multi", "nosdp"])
def test_matches_real_vits_with_noise_and_length_scale(name, coqui_models, real_vits_class, tmp_path):
    case, model = cr.CASES[name], coqui_models[name]
    real = _real_from_checkpoint(real_vits_class, cr.coqui_checkpoint(model, case), tmp_path / "c.pth")
    real.inference_noise_scale, real.inference_noise_scale_dp, real.length_scale = 0.667, 0.8, 1.3
    ids = cr.typical_token_ids(case, seed=8)
    sid = _speakers(case)[-1]
    torch.manual_seed(1234)
    out = cr.coqui_infer(model, ids, sid, 1.3, noise_scale=0.667, noise_scale_dp=0.8)
    torch.manual_seed(1234)
    ref = _real_infer(real, ids, sid)
    assert torch.equal(out["o"], ref["model_outputs"])
    assert torch.isfinite(out["o"]).all()


def test_coqui_infer_speaker_id_validation(coqui_models):
    ids = cr.typical_token_ids(cr.CASES["single"], seed=0)
    with pytest.raises(ValueError):
        cr.coqui_infer(coqui_models["multi"], ids)
    with pytest.raises(ValueError):
        cr.coqui_infer(coqui_models["single"], ids, speaker_id=0)
    with pytest.raises(ValueError):
        cr.coqui_infer(coqui_models["single"], [])


# ------------------------------------------------------------------- scale / sanity


@pytest.mark.parametrize("name", CASE_NAMES)
def test_typical_durations_are_a_few_frames(name, coqui_models):
    case, model = cr.CASES[name], coqui_models[name]
    all_w = []
    for seed in range(20, 23):
        ids = cr.typical_token_ids(case, seed=seed)
        assert ids[0] == ids[-1] == case.args().num_chars - 1  # Coqui's blank is the last id
        for sid in _speakers(case):
            w_ceil = cr.coqui_infer(model, ids, sid)["w_ceil"].flatten()
            assert w_ceil.min() >= 1 and w_ceil.max() <= 10, (seed, sid, w_ceil.tolist())
            all_w.append(w_ceil)
    mean = torch.cat(all_w).mean().item()
    assert 2.0 <= mean <= 5.0, mean


@pytest.mark.parametrize("name", CASE_NAMES)
def test_waveform_is_finite_and_audible(name, coqui_models):
    case, model = cr.CASES[name], coqui_models[name]
    ids = cr.typical_token_ids(case, seed=9)
    waves = []
    for sid in _speakers(case):
        o = cr.coqui_infer(model, ids, sid)["o"]
        assert torch.isfinite(o).all()
        assert o.std() > 1e-2
        assert 0.05 < o.abs().max() < 1.0
        waves.append(o)
    for a, b in zip(waves, waves[1:]):  # speakers sound different
        n = min(a.shape[-1], b.shape[-1])
        assert (a[..., :n] - b[..., :n]).abs().max() > 1e-2


# ---------------------------------------------------------------------- sensitivity


@contextmanager
def _modified(module: torch.nn.Module):
    """Let a test edit ``module``'s weights in place; they are restored afterwards (cheaper
    than deep-copying a model that carries a discriminator)."""
    saved = copy.deepcopy(module.state_dict())
    try:
        yield module
    finally:
        module.load_state_dict(saved, strict=True)


@pytest.mark.parametrize("name", CASE_NAMES)
def test_fixture_is_sensitive_to_flow_bugs(name, coqui_models):
    case, model = cr.CASES[name], coqui_models[name]
    ids = cr.typical_token_ids(case, seed=13)
    sid = _speakers(case)[0]
    base = cr.coqui_infer(model, ids, sid)

    with _modified(model.flow) as flow, torch.no_grad():
        flow.flows[0].post.weight.zero_()
        z = cr.coqui_infer(model, ids, sid)["z"]
    assert (z - base["z"]).abs().max() > 1e-3

    with _modified(model.flow) as flow:
        sd = flow.state_dict()
        swapped = dict(sd)
        for k in sd:
            for a, b in (("flows.0.", "flows.1."), ("flows.1.", "flows.0.")):
                if k.startswith(a):
                    swapped[k] = sd[b + k[len(a):]]
        flow.load_state_dict(swapped, strict=True)
        o = cr.coqui_infer(model, ids, sid)["o"]
    assert o.shape == base["o"].shape
    assert (o - base["o"]).abs().max() > 1e-3 * base["o"].abs().max()

    if case.args().use_sdp:  # the spline flows used in reverse are live
        with _modified(model.duration_predictor) as dp, torch.no_grad():
            dp.flows[2].proj.weight.zero_()
            logw = cr.coqui_infer(model, ids, sid)["logw"]
        assert (logw - base["logw"]).abs().max() > 1e-3
    assert torch.equal(cr.coqui_infer(model, ids, sid)["o"], base["o"])  # restored


# --------------------------------------------------------------- weight-norm layouts


@pytest.mark.parametrize("name", CASE_NAMES)
def test_state_dict_forms_carry_the_same_weights(name, coqui_models):
    model = coqui_models[name]
    forms = cr.state_dict_forms(model)
    assert set(forms) == set(FORMS)
    param, legacy = forms["parametrized"], forms["legacy"]
    assert list(param) == list(model.state_dict())
    wn = [k[: -len(".parametrizations.weight.original0")] for k in param if k.endswith("original0")]
    gen_wn = [m for m in wn if not m.startswith("disc.")]
    assert any(m.startswith("posterior_encoder.enc.in_layers.") for m in gen_wn)
    assert any(m.startswith("flow.flows.3.enc.res_skip_layers.") for m in gen_wn)
    assert any(m.startswith("waveform_decoder.ups.") for m in gen_wn)
    assert any(m.startswith("waveform_decoder.resblocks.") for m in gen_wn)
    assert not any(m.startswith(("text_encoder.", "duration_predictor.")) for m in gen_wn)
    assert "waveform_decoder.conv_pre" not in wn and "waveform_decoder.conv_post" not in wn
    assert len(legacy) == len(param)
    assert not any("parametrizations" in k for k in legacy)
    for m in wn:
        assert torch.equal(legacy[f"{m}.weight_g"], param[f"{m}.parametrizations.weight.original0"])
        assert torch.equal(legacy[f"{m}.weight_v"], param[f"{m}.parametrizations.weight.original1"])
    for k, v in param.items():
        if "parametrizations" not in k:
            assert torch.equal(legacy[k], v), k


@pytest.mark.parametrize("name", CASE_NAMES)
def test_legacy_form_loads_into_coquis_modules_with_identical_output(name, coqui_models):
    """Coqui's parametrized modules accept weight_g/weight_v (torch's compat hook), as they do
    for the older released Coqui files."""
    case, model = cr.CASES[name], coqui_models[name]
    ids = cr.typical_token_ids(case, seed=11)
    sid = _speakers(case)[0]
    expected = cr.coqui_infer(model, ids, sid)["o"]
    fresh = _upstream_init(case)
    before = cr.coqui_infer(fresh, ids, sid)["o"]
    assert before.shape != expected.shape or not torch.equal(before, expected)
    fresh.load_state_dict(cr.state_dict_forms(model)["legacy"], strict=True)
    assert torch.equal(cr.coqui_infer(fresh, ids, sid)["o"], expected)


# ------------------------------------------------------------ checkpoint and config


@pytest.mark.parametrize("name", CASE_NAMES)
def test_checkpoint_is_what_coquis_trainer_saves(name, coqui_models, tmp_path):
    case, model = cr.CASES[name], coqui_models[name]
    path = tmp_path / "checkpoint_100.pth"
    torch.save(cr.coqui_checkpoint(model, case), path)
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    assert set(ckpt) == {"config", "model", "optimizer", "scheduler", "scaler", "step", "epoch",
                         "date", "model_loss"}
    assert ckpt["step"] == 100 and ckpt["epoch"] == 2 and ckpt["scaler"] is None
    assert len(ckpt["optimizer"]) == len(ckpt["scheduler"]) == 2  # generator, discriminator
    assert ckpt["config"]["model"] == "vits"
    assert any(k.startswith("disc.") for k in ckpt["model"]) == case.args().init_discriminator
    fresh = _upstream_init(case)
    fresh.load_state_dict(ckpt["model"], strict=True)
    ids = cr.typical_token_ids(case, seed=12)
    sid = _speakers(case)[-1]
    assert torch.equal(cr.coqui_infer(fresh, ids, sid)["o"], cr.coqui_infer(model, ids, sid)["o"])
    legacy = cr.coqui_checkpoint(model, case, form="legacy", config_style="legacy")
    assert any(k.endswith(".weight_g") for k in legacy["model"])
    with pytest.raises(ValueError):
        cr.coqui_checkpoint(model, case, form="plain")


@pytest.mark.parametrize("name", CASE_NAMES)
def test_config_uses_coquis_field_names(name):
    case = cr.CASES[name]
    a = case.args()
    cur = json.loads(json.dumps(cr.coqui_config(case)))
    old = json.loads(json.dumps(cr.coqui_config(case, "legacy")))
    for cfg in (cur, old):
        assert set(cfg["model_args"]) - {"num_speakers"} == set(cr.VitsArgs.__dataclass_fields__)
        for k, v in case.model_args.items():
            assert cfg["model_args"][k] == v, k
        assert cfg["model"] == "vits" and cfg["add_blank"] is True and cfg["use_phonemes"] is False
        assert cfg["audio"]["sample_rate"] == case.sample_rate
        assert cfg["audio"]["hop_length"] == _hop(case)
        assert cfg["audio"]["fft_size"] // 2 + 1 == a.out_channels
        chars = cfg["characters"]
        assert 2 + len(chars["punctuations"]) + len(chars["characters"]) == a.num_chars
        assert cfg["use_speaker_embedding"] == (case.num_speakers > 0)
    assert cur["speakers"] == list(case.speakers) and "num_speakers" not in cur
    assert "num_speakers" not in cur["model_args"]
    assert old["num_speakers"] == old["model_args"]["num_speakers"] == case.num_speakers
    assert "speakers" not in old
    assert set(old["audio"]) == {"fft_size", "sample_rate", "win_length", "hop_length", "num_mels",
                                 "mel_fmin", "mel_fmax"}
    from TTS.tts.configs.vits_config import VitsConfig

    parsed = VitsConfig()
    parsed.from_dict(cur)
    assert parsed.to_dict() == cur
    with pytest.raises(ValueError):
        cr.coqui_config(case, "future")
