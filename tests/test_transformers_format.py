"""transformers VitsModel checkpoints in and out, proven against transformers' own forward pass."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import VitsModel

from tests.peers import piper_reference as piper
from tests.peers.transformers_reference import CASES, build, run, typical_ids

from vits_adapters import SpecError, from_pretrained
from vits_adapters.hub.local_cache import publish_to_local_cache

ATOL = 5e-6


@pytest.fixture(scope="module")
def hf_models():
    return {name: build(case, seed=3) for name, case in CASES.items()}


@pytest.fixture(scope="module")
def hf_dirs(hf_models, tmp_path_factory):
    dirs = {}
    for name, model in hf_models.items():
        folder = tmp_path_factory.mktemp(f"hf-{name}")
        model.save_pretrained(folder)
        dirs[name] = folder
    return dirs


def _speaker(model) -> int | None:
    return 2 if model.config.num_speakers > 1 else None


def _ours(voice, ids, speaker, length_scale=1.0):
    sid = None if speaker is None else torch.tensor([speaker])
    return voice.generator.infer(
        torch.tensor([ids]), speaker_ids=sid, noise_scale=0.0, noise_scale_w=0.0, length_scale=length_scale
    )


def _assert_matches(ref, ours):
    torch.testing.assert_close(ours.hidden, ref["hidden"].transpose(1, 2), atol=ATOL, rtol=0)
    torch.testing.assert_close(ours.prior_mean, ref["prior_mean"].transpose(1, 2), atol=ATOL, rtol=0)
    torch.testing.assert_close(ours.prior_log_std, ref["prior_log_std"].transpose(1, 2), atol=ATOL, rtol=0)
    # The spline flows amplify the ~1e-6 float32 differences of Linear vs Conv1d attention projections.
    torch.testing.assert_close(ours.log_durations, ref["log_durations"], atol=2e-5, rtol=0)
    torch.testing.assert_close(ours.z_prior, ref["z_prior"], atol=ATOL, rtol=0)
    torch.testing.assert_close(ours.z, ref["z"], atol=1e-5, rtol=0)
    wave, ref_wave = ours.waveform[:, 0], ref["waveform"]
    assert wave.shape == ref_wave.shape
    peak = ref_wave.abs().max().item()
    assert peak > 0.05 and (wave - ref_wave).abs().max().item() <= 1e-4 * peak
    torch.testing.assert_close(wave, ref_wave, atol=2e-6, rtol=0)


@pytest.mark.parametrize("name", sorted(CASES))
def test_hub_repo_saved_by_transformers_loads_and_matches(name, hf_models, hf_dirs, tmp_path):
    files = {p.name: p for p in hf_dirs[name].iterdir()}
    publish_to_local_cache(tmp_path / "cache", f"org/tiny-{name}", files)
    voice = from_pretrained(f"org/tiny-{name}", cache_dir=tmp_path / "cache", local_files_only=True)
    assert voice.report.format == "transformers" and voice.report.complete
    stored = load_file(hf_dirs[name] / "model.safetensors")
    pairs = sum(key.endswith("original0") for key in stored)
    assert pairs >= 30 and voice.report.source_forms == {"parametrized": pairs, "plain": 76}
    model = hf_models[name]
    for seed in (0, 1):
        ids = typical_ids(model.config, seed)
        _assert_matches(run(model, ids, speaker_id=_speaker(model)), _ours(voice, ids, _speaker(model)))
    ids = typical_ids(model.config, 2)
    _assert_matches(
        run(model, ids, speaker_id=_speaker(model), speaking_rate=0.7), _ours(voice, ids, _speaker(model), 1 / 0.7)
    )


def test_legacy_weight_g_v_files_including_a_decoder_load(hf_models, hf_dirs, tmp_path):
    """MMS-era files store WaveNet g/v under legacy names; fine-tunes may store the decoder with weight norm too."""
    state = load_file(hf_dirs["single"] / "model.safetensors")
    legacy = {}
    for key, tensor in state.items():
        legacy[key.replace("parametrizations.weight.original0", "weight_g").replace(
            "parametrizations.weight.original1", "weight_v")] = tensor
    ups = "decoder.upsampler.0.weight"
    weight = legacy.pop(ups)  # store it as g and a rescaled v: the same effective weight
    legacy[ups + "_g"], legacy[ups + "_v"] = torch.norm_except_dim(weight, 2, 0), weight * 2.0
    save_file(legacy, tmp_path / "model.safetensors", metadata={"format": "pt"})
    (tmp_path / "config.json").write_bytes((hf_dirs["single"] / "config.json").read_bytes())
    voice = from_pretrained(tmp_path)
    assert voice.report.source_forms["legacy"] == sum(key.endswith("original0") for key in state) + 1
    ids = typical_ids(hf_models["single"].config, 4)
    _assert_matches(run(hf_models["single"], ids), _ours(voice, ids, None))


def test_pytorch_model_bin_loads(hf_models, hf_dirs, tmp_path):
    torch.save(hf_models["nosdp"].state_dict(), tmp_path / "pytorch_model.bin")
    (tmp_path / "config.json").write_bytes((hf_dirs["nosdp"] / "config.json").read_bytes())
    voice = from_pretrained(tmp_path)
    ids = typical_ids(hf_models["nosdp"].config, 5)
    _assert_matches(run(hf_models["nosdp"], ids), _ours(voice, ids, None))


@pytest.mark.parametrize("name", sorted(CASES))
def test_export_back_to_transformers_round_trips(name, hf_models, hf_dirs, tmp_path):
    # keep mode holds the WaveNet g/v pairs as stored, so writing them back is a rename
    voice = from_pretrained(hf_dirs[name], weight_norm="keep")
    voice.save_pretrained(tmp_path, format="transformers")
    model, info = VitsModel.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    model.eval()
    original = load_file(hf_dirs[name] / "model.safetensors")
    exported = load_file(tmp_path / "model.safetensors")
    assert set(exported) == set(original)
    recomposed = {k for k in original if k.startswith(("decoder.upsampler.", "decoder.resblocks.")) and k.endswith("weight")}
    for key, tensor in original.items():
        if key in recomposed:  # plain -> (g, v) in keep mode -> plain again
            torch.testing.assert_close(exported[key], tensor, atol=1e-6, rtol=1e-6)
        else:  # renamed or reshaped only: bit-identical
            assert torch.equal(exported[key], tensor), key
    ids = typical_ids(hf_models[name].config, 6)
    torch.testing.assert_close(
        run(model, ids, speaker_id=_speaker(model))["waveform"],
        run(hf_models[name], ids, speaker_id=_speaker(model))["waveform"],
        atol=2e-6,
        rtol=0,
    )


def test_an_original_vits_voice_runs_in_transformers(peers, original_dirs, tmp_path):
    voice = from_pretrained(original_dirs["multi"])
    voice.save_pretrained(tmp_path, format="transformers")
    model, info = VitsModel.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    model.eval()
    assert (model.noise_scale, model.noise_scale_duration) == (0.667, 0.8)  # the voice's synthesis defaults
    model.noise_scale = model.noise_scale_duration = 0.0
    ids = piper.typical_token_ids(piper.CASES["multi"], 3)
    reference = piper.peer_infer(peers["multi"], ids, speaker_id=1)["o"][:, 0]
    torch.testing.assert_close(run(model, ids, speaker_id=1)["waveform"], reference, atol=2e-6, rtol=0)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["num_speakers"] == 3 and config["sampling_rate"] == 22050


def test_what_transformers_cannot_hold_is_refused_before_writing(original_dirs, tmp_path):
    voice = from_pretrained(original_dirs["resblock2"])
    with pytest.raises(SpecError, match="resblock='2'"):
        voice.save_pretrained(tmp_path / "out", format="transformers")
    assert not (tmp_path / "out").exists()


def test_text_goes_through_the_voices_own_tokenizer(hf_models, hf_dirs, tmp_path):
    from transformers import VitsTokenizer

    letters = "abcdefghijlmnopqrstuvwxyz' -"  # MMS-like: a real letter ("k") at id 0, no digits
    vocab = {"k": 0, **{c: i + 1 for i, c in enumerate(letters)}}
    vocab.update({f"x{i}": i for i in range(len(vocab), hf_models["single"].config.vocab_size)})
    folder = tmp_path / "voice"
    folder.mkdir()
    for item in hf_dirs["single"].iterdir():
        (folder / item.name).write_bytes(item.read_bytes())
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "VitsTokenizer", "add_blank": True, "normalize": True, "phonemize": False,
         "is_uroman": False, "language": "eng", "pad_token": "k", "unk_token": "<unk>"}
    ))
    voice = from_pretrained(folder)
    text = "Hello, World! 42 times."
    expected = VitsTokenizer.from_pretrained(folder)(text).input_ids
    assert voice.encode(text) == expected
    audio = voice.synthesize(text, noise_scale=0.0, noise_scale_w=0.0, check=False)
    reference = run(hf_models["single"], expected)["waveform"][0].numpy()
    assert audio.waveform.shape == reference.shape and abs(audio.waveform - reference).max() < 2e-6
    voice.save_pretrained(tmp_path / "out", format="transformers")
    assert VitsTokenizer.from_pretrained(tmp_path / "out")(text).input_ids == expected
    voice.save_pretrained(tmp_path / "ours")
    assert from_pretrained(tmp_path / "ours").encode(text) == expected
