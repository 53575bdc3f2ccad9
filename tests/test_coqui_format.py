"""Coqui TTS VITS checkpoints, proven against Coqui's own layers composed as its Vits model does."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from tests.peers.coqui_reference import CASES, build_coqui, coqui_checkpoint, coqui_config, coqui_infer, typical_token_ids

from vits_adapters import SpecError, from_pretrained

STAGE_ATOL = 5e-6


@pytest.fixture(scope="module")
def coqui_models():
    torch.set_num_threads(1)
    try:
        yield {name: build_coqui(case, seed=2) for name, case in CASES.items()}
    finally:
        torch.set_num_threads(2)


def _save(folder, model, case, **kwargs):
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(coqui_checkpoint(model, case, **kwargs), folder / "model.pth")
    style = kwargs.get("config_style", "current")
    (folder / "config.json").write_text(json.dumps(coqui_config(case, style)))
    return folder


def _speaker(case_name):
    return 1 if CASES[case_name].num_speakers else None


def _assert_matches(ref, ours):
    torch.testing.assert_close(ours.hidden, ref["x"], atol=STAGE_ATOL, rtol=0)
    torch.testing.assert_close(ours.prior_mean, ref["m_p"], atol=STAGE_ATOL, rtol=0)
    torch.testing.assert_close(ours.prior_log_std, ref["logs_p"], atol=STAGE_ATOL, rtol=0)
    torch.testing.assert_close(ours.log_durations, ref["logw"], atol=1e-5, rtol=0)
    assert torch.equal(ours.durations, ref["w_ceil"])
    torch.testing.assert_close(ours.z_prior, ref["z_p"], atol=STAGE_ATOL, rtol=0)
    torch.testing.assert_close(ours.z, ref["z"], atol=1e-5, rtol=0)
    assert ours.waveform.shape == ref["o"].shape
    peak = ref["o"].abs().max().item()
    assert peak > 0.05 and (ours.waveform - ref["o"]).abs().max().item() <= 1e-4 * peak
    torch.testing.assert_close(ours.waveform, ref["o"], atol=2e-6, rtol=0)


@pytest.mark.parametrize("form, style", [("parametrized", "current"), ("legacy", "legacy")])
@pytest.mark.parametrize("name", sorted(CASES))
def test_coqui_checkpoint_loads_and_matches_coqui(name, form, style, coqui_models, tmp_path):
    model, case = coqui_models[name], CASES[name]
    voice = from_pretrained(_save(tmp_path, model, case, form=form, config_style=style))
    report = voice.report
    assert report.format == "coqui" and report.complete
    assert {"optimizer", "step", "epoch"} <= set(report.ignored_entries)
    dropped = [r for r in report.records if r.action == "dropped"]
    assert all(r.source[0].startswith("disc.") and "discriminator" in r.detail for r in dropped)
    assert bool(dropped) == case.args().init_discriminator
    assert set(report.source_forms) == {form}
    assert voice.sample_rate == case.sample_rate
    for seed in (0, 1):
        ids = typical_token_ids(case, seed)
        speaker = _speaker(name)
        ref = coqui_infer(model, ids, speaker_id=speaker)
        sid = None if speaker is None else torch.tensor([speaker])
        ours = voice.generator.infer(torch.tensor([ids]), speaker_ids=sid, noise_scale=0.0, noise_scale_w=0.0)
        _assert_matches(ref, ours)


def test_coqui_voice_saves_losslessly_and_refuses_layouts_that_cannot_hold_it(coqui_models, tmp_path):
    model, case = coqui_models["single"], CASES["single"]
    voice = from_pretrained(_save(tmp_path / "coqui", model, case), weight_norm="keep")
    voice.save_pretrained(tmp_path / "ours")
    again = from_pretrained(tmp_path / "ours")
    ids = typical_token_ids(case, 3)
    _assert_matches(coqui_infer(model, ids), again.generator.infer(torch.tensor([ids]), noise_scale=0.0, noise_scale_w=0.0))
    with pytest.raises(SpecError) as caught:
        voice.save_pretrained(tmp_path / "orig", format="vits-original")
    assert "sdp_filter_channels=192" in str(caught.value) and "posterior_n_layers=3" in str(caught.value)
    with pytest.raises(SpecError, match="sdp_filter_channels=192"):
        voice.save_pretrained(tmp_path / "hf", format="transformers")


# init_from_config is the only Coqui route that builds the speaker manager a multi-speaker Vits needs.
@pytest.mark.filterwarnings("ignore:Vits.init_from_config:UserWarning")
@pytest.mark.parametrize("name", ["single", "multi", "nosdp"])
def test_a_coqui_voice_writes_back_and_coqui_loads_it_strictly(name, coqui_models, tmp_path):
    from tests.peers.coqui_reference import coqui_vits_class
    from TTS.tts.configs.vits_config import VitsConfig

    model, case = coqui_models[name], CASES[name]
    voice = from_pretrained(_save(tmp_path / "src", model, case, form="legacy"), weight_norm="keep")
    written = voice.save_pretrained(tmp_path / "out", format="coqui")
    assert [p.name for p in written] == ["model.pth", "config.json"]
    checkpoint = torch.load(tmp_path / "out" / "model.pth", weights_only=True)
    stored = {k: v for k, v in coqui_checkpoint(model, case).items()}["model"]
    assert set(checkpoint["model"]) == {k for k in stored if not k.startswith("disc.")}
    config = VitsConfig()
    config.from_dict(json.loads((tmp_path / "out" / "config.json").read_text()))
    config.model_args.init_discriminator = False  # we write the generator only, as for inference
    real = coqui_vits_class().init_from_config(config)
    real.load_checkpoint(config, str(tmp_path / "out" / "model.pth"), eval=True, strict=True)
    ids = typical_token_ids(case, 5)
    speaker = _speaker(name)
    aux = {"x_lengths": torch.tensor([len(ids)]), "d_vectors": None, "language_ids": None, "durations": None,
           "speaker_ids": None if speaker is None else torch.tensor([speaker])}
    real.inference_noise_scale = real.inference_noise_scale_dp = 0.0
    with torch.no_grad():
        out = real.inference(torch.tensor([ids]), aux_input=aux)["model_outputs"]
    torch.testing.assert_close(out, coqui_infer(model, ids, speaker_id=speaker)["o"], atol=2e-6, rtol=0)


@pytest.mark.parametrize("use_sdp", [True, False])
def test_a_duration_predictor_coqui_left_unconditioned_loads_and_matches(use_sdp, tmp_path):
    """condition_dp_on_speaker=False: Coqui's stochastic predictor has no speaker input, its deterministic one an unused one."""
    base = CASES["multi"]
    case = dataclasses.replace(
        base, name="multi-uncond", model_args={**base.model_args, "condition_dp_on_speaker": False, "use_sdp": use_sdp}
    )
    model = build_coqui(case, seed=4)
    assert any(key.startswith("duration_predictor.cond.") for key in model.state_dict()) == (not use_sdp)
    voice = from_pretrained(_save(tmp_path, model, case))
    assert voice.report.complete and voice.config.dp_condition_on_speaker is False
    ids = typical_token_ids(case, 2)
    ours = voice.generator.infer(torch.tensor([ids]), speaker_ids=torch.tensor([2]), noise_scale=0.0, noise_scale_w=0.0)
    _assert_matches(coqui_infer(model, ids, speaker_id=2), ours)


def test_only_coqui_voices_can_be_written_as_coqui(original_dirs, tmp_path):
    with pytest.raises(SpecError, match="only a voice loaded from a Coqui"):
        from_pretrained(original_dirs["single"]).save_pretrained(tmp_path, format="coqui")


def test_text_goes_through_coquis_own_tokenizer(coqui_models, tmp_path):
    from tests.peers.coqui_reference import coqui_vits_class  # registers Coqui's package for the imports below
    from TTS.tts.configs.vits_config import VitsConfig
    from TTS.tts.utils.text.tokenizer import TTSTokenizer

    coqui_vits_class()
    model, case = coqui_models["single"], CASES["single"]
    voice = from_pretrained(_save(tmp_path, model, case))
    config = VitsConfig()
    config.from_dict(coqui_config(case, "current"))
    tokenizer, _ = TTSTokenizer.init_from_config(config)
    text = "Hello, World! It's 42 degrees."
    assert voice.encode(text) == tokenizer.text_to_ids(text)
    voice.save_pretrained(tmp_path / "ours")
    assert from_pretrained(tmp_path / "ours").encode(text) == tokenizer.text_to_ids(text)
