"""from_pretrained end to end: strictness, reports, config cross-checks, weight-norm modes, saving and the Hub cache."""

from __future__ import annotations

import json
import time

import pytest
import torch
from safetensors.torch import load_file

from tests.checkpoint_edits import load_original, save_original
from tests.peers.piper_reference import CASES, peer_infer, state_dict_forms, typical_token_ids

import vits_adapters.hub.resolve as resolve_module
from vits_adapters import (
    CheckpointNotFoundError,
    CheckpointReadError,
    ConfigMismatchError,
    FormatDetectionError,
    InvalidInputError,
    KeyMappingError,
    SilentOutputError,
    SpecError,
    StateDictMismatchError,
    from_pretrained,
)
from vits_adapters.hub.local_cache import publish_to_local_cache
from vits_adapters.weightnorm.tensors import unfold_weight_norm


def _wave(voice, ids, speaker=None):
    sid = None if speaker is None else torch.tensor([speaker])
    return voice.generator.infer(torch.tensor([ids]), speaker_ids=sid, noise_scale=0.0, noise_scale_w=0.0).waveform


def test_report_accounts_for_every_source_tensor(single_dir):
    voice = from_pretrained(single_dir)
    report = voice.report
    source_keys = set(load_original(single_dir)["model"])
    recorded = [key for record in report.records for key in record.source]
    assert sorted(recorded) == sorted(source_keys)  # each source tensor appears exactly once
    targets = [key for record in report.records for key in record.target]
    assert len(targets) == len(set(targets)) == report.target_count == len(voice.generator.state_dict())
    assert report.counts()["converted"] == 2 * report.source_forms["legacy"]
    assert set(report.ignored_entries) == {"iteration", "optimizer", "learning_rate"}
    text = report.summary()
    assert "every weight arrived" in text and "legacy -> plain (dim 0)" in text
    legacy_layers = sum(key.endswith(".weight_g") for key in source_keys)
    assert f"\n  declared weight-norm layers by stored form: {legacy_layers} legacy (g/v)\n" in text
    json.dumps(report.to_dict())


@pytest.mark.parametrize(
    "edit, error, named",
    [
        (lambda sd: sd.pop("flow.flows.2.post.bias"), StateDictMismatchError, "flow.flows.1.conv_post.bias"),
        (lambda sd: sd.__setitem__("enc_p.projection.weight", sd.pop("enc_p.proj.weight")), KeyMappingError, "enc_p.projection.weight"),
        (lambda sd: sd.__setitem__("flow.flows.2.post.weight", torch.zeros(8, 31, 1)), StateDictMismatchError, "flow.flows.1.conv_post.weight"),
        (lambda sd: sd.__setitem__("enc_p.extra", torch.zeros(3)), KeyMappingError, "enc_p.extra"),
        (lambda sd: sd.__setitem__("flow.flows.3.pre.weight", torch.zeros(32, 8, 1)), KeyMappingError, "flow.flows.3.pre.weight"),
        (lambda sd: sd.__setitem__("dec.ups.0.weight", torch.zeros(64, 32, 16)), KeyMappingError, "decoder.upsampler.0"),
    ],
    ids=["missing", "renamed", "mis-shaped", "extra", "flip-index", "two-forms-in-one-layer"],
)
def test_broken_checkpoints_raise_naming_the_key(edit, error, named, single_dir, tmp_path):
    checkpoint = load_original(single_dir)
    edit(checkpoint["model"])
    folder = save_original(tmp_path, checkpoint, single_dir)
    with pytest.raises(error) as caught:
        from_pretrained(folder)
    assert named in str(caught.value)


def test_strict_false_is_an_explicit_opt_in_that_still_reports(single_dir, tmp_path):
    checkpoint = load_original(single_dir)
    del checkpoint["model"]["flow.flows.2.post.bias"]
    checkpoint["model"]["enc_p.extra"] = torch.zeros(3)
    voice = from_pretrained(save_original(tmp_path, checkpoint, single_dir), strict=False)
    assert not voice.report.complete
    # Named as the file stores it (the reference name beside it), not only by the reference generator's name.
    assert voice.report.missing == ("flow.flows.2.post.bias (reference: flow.flows.1.conv_post.bias)",)
    assert voice.report.unexpected == ("enc_p.extra",)
    assert "INCOMPLETE" in voice.report.summary()


def test_plain_decoder_into_keep_mode_is_decomposed_with_the_declared_dim(peers, original_dirs, tmp_path):
    """The seed scenario: `dec.*.weight` (after remove_weight_norm) loaded into a weight-normed model."""
    plain = state_dict_forms(peers["single"])["plain"]
    torch.save(plain, tmp_path / "plain.pth")
    voice = from_pretrained(tmp_path / "plain.pth", config=original_dirs["single"] / "config.json", weight_norm="keep")
    up = voice.generator.decoder.upsampler[0]
    original0 = up.parametrizations.weight.original0
    g, v = unfold_weight_norm(plain["dec.ups.0.weight"], 0, key="dec.ups.0.weight")
    assert original0.shape == (plain["dec.ups.0.weight"].shape[0], 1, 1)  # ConvTranspose1d: per input channel
    assert torch.equal(original0, g) and torch.equal(up.parametrizations.weight.original1, v)
    assert "plain -> parametrized (dim 0)" in voice.report.summary()
    layers = sum(key.endswith(".weight_g") for key in state_dict_forms(peers["single"])["legacy"])
    assert f"\n  declared weight-norm layers by stored form: {layers} plain (already folded)\n" in voice.report.summary()
    ids = typical_token_ids(CASES["single"], 2)
    ref = peer_infer(peers["single"], ids)["o"]
    torch.testing.assert_close(_wave(voice, ids), ref, atol=2e-6, rtol=0)
    folded = voice.generator.fold_weight_norm()
    assert len(folded) == len(voice.generator.weight_norm_layer_names())
    torch.testing.assert_close(_wave(voice, ids), ref, atol=2e-6, rtol=0)


def test_config_that_disagrees_with_tensors_names_the_field(single_dir, tmp_path):
    config = json.loads((single_dir / "config.json").read_text())
    config["model"]["hidden_channels"] = 999
    config["data"]["hop_length"] = 100
    path = tmp_path / "wrong.json"
    path.write_text(json.dumps(config))
    with pytest.raises(ConfigMismatchError) as caught:
        from_pretrained(single_dir / "G_1.pth", config=path)
    message = str(caught.value)
    assert "hidden_channels: config says 999, tensors say 32" in message
    assert "hop_length: config says 100" in message


def test_bare_state_dict_without_config_loads_from_shapes(peers, tmp_path):
    torch.save(state_dict_forms(peers["single"])["legacy"], tmp_path / "bare.pth")
    voice = from_pretrained(tmp_path / "bare.pth")
    assert {"sampling_rate", "upsample_rates", "resblock_dilation_sizes"} <= set(voice.report.assumed)
    assert voice.report.hparams_provenance["hidden_channels"] == "shapes"
    assert "ASSUMED sampling_rate" in voice.report.summary()
    ids = typical_token_ids(CASES["single"], 4)
    torch.testing.assert_close(_wave(voice, ids), peer_infer(peers["single"], ids)["o"], atol=2e-6, rtol=0)


@pytest.mark.parametrize("form", ["plain", "legacy", "parametrized"])
def test_own_format_round_trip_is_lossless(form, original_dirs, tmp_path):
    voice = from_pretrained(original_dirs["multi"], weight_norm="keep")
    written = voice.save_pretrained(tmp_path / "out", weight_norm=form)
    assert [p.name for p in written] == ["model.safetensors", "config.json"]
    again = from_pretrained(tmp_path / "out", weight_norm="keep")
    assert again.report.format == "vits-adapters" and again.report.complete
    if form != "plain":  # g and v survive as such; a plain weight only fixes their product
        for key, tensor in voice.generator.state_dict().items():
            assert torch.equal(again.generator.state_dict()[key], tensor), key
    if form == "legacy":  # g/v stored as loaded: a pure rename, bit-identical
        stored = load_file(tmp_path / "out" / "model.safetensors")
        assert torch.equal(stored["decoder.upsampler.0.weight_g"], voice.generator.decoder.upsampler[0].parametrizations.weight.original0)
    ids = typical_token_ids(CASES["multi"], 1)
    torch.testing.assert_close(_wave(again, ids, 1), _wave(voice, ids, 1), atol=2e-6, rtol=0)


def test_saving_refuses_to_overwrite_unless_asked(single_dir, tmp_path):
    voice = from_pretrained(single_dir)
    voice.save_pretrained(tmp_path)
    before = (tmp_path / "model.safetensors").read_bytes()
    with pytest.raises(FileExistsError):
        voice.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").read_bytes() == before
    voice.save_pretrained(tmp_path, overwrite=True)


def test_export_to_the_original_layout_loads_in_piper_with_the_same_output(peers, original_dirs, tmp_path):
    from tests.peers.piper_reference import build_peer

    voice = from_pretrained(original_dirs["resblock2"])
    voice.save_pretrained(tmp_path, format="vits-original", weight_norm="legacy")
    exported = torch.load(tmp_path / "G_0.pth", weights_only=True)["model"]
    fresh = build_peer(CASES["resblock2"], seed=9)
    assert set(exported) == set(fresh.state_dict())
    fresh.load_state_dict(exported, strict=True)
    ids = typical_token_ids(CASES["resblock2"], 6)
    torch.testing.assert_close(
        peer_infer(fresh, ids)["o"], peer_infer(peers["resblock2"], ids)["o"], atol=2e-6, rtol=0
    )
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model"]["resblock_dilation_sizes"] == [[1, 2], [2, 6], [3, 12]]
    assert config["data"]["hop_length"] == 256


def test_hub_repo_id_loads_from_a_local_cache(single_dir, tmp_path):
    files = {name: single_dir / name for name in ("G_1.pth", "config.json")}
    snapshot = publish_to_local_cache(tmp_path / "cache", "someone/tiny-vits", files)
    voice = from_pretrained("someone/tiny-vits", cache_dir=tmp_path / "cache", local_files_only=True)
    assert voice.report.revision == snapshot.name
    pinned = from_pretrained(
        "someone/tiny-vits", cache_dir=tmp_path / "cache", local_files_only=True, revision=snapshot.name
    )
    assert pinned.report.complete


def test_hub_arguments_are_forwarded_verbatim(monkeypatch, single_dir, tmp_path):
    seen = {}

    def fake_fetch(repo_id, **kwargs):
        seen.update(kwargs, repo_id=repo_id)
        return single_dir

    monkeypatch.setattr(resolve_module, "fetch_snapshot", fake_fetch)
    from_pretrained(
        "org/voice", revision="abc", cache_dir=tmp_path, local_files_only=True, token="hf_x", force_download=True
    )
    assert seen["repo_id"] == "org/voice"
    assert {k: seen[k] for k in ("revision", "cache_dir", "local_files_only", "token", "force_download")} == {
        "revision": "abc", "cache_dir": tmp_path, "local_files_only": True, "token": "hf_x", "force_download": True,
    }
    assert "G_*.pth" in seen["allow_patterns"] and "config.json" in seen["allow_patterns"]


def test_not_cached_and_offline_fails_at_once(tmp_path):
    start = time.monotonic()
    with pytest.raises(CheckpointNotFoundError) as caught:
        from_pretrained("nobody/absent-voice", cache_dir=tmp_path, local_files_only=True)
    assert time.monotonic() - start < 5
    assert "nobody/absent-voice" in str(caught.value)


def test_folder_with_several_checkpoints_lists_them(single_dir, tmp_path):
    for name in ("G_100.pth", "G_200.pth"):
        (tmp_path / name).write_bytes((single_dir / "G_1.pth").read_bytes())
    with pytest.raises(FormatDetectionError) as caught:
        from_pretrained(tmp_path)
    assert "G_100.pth" in str(caught.value) and "G_200.pth" in str(caught.value)


def test_another_architecture_is_refused_with_each_formats_reason(tmp_path):
    classifier = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.Flatten(), torch.nn.Linear(8, 10))
    torch.save(classifier.state_dict(), tmp_path / "model.pth")
    with pytest.raises(FormatDetectionError) as caught:
        from_pretrained(tmp_path / "model.pth")
    message = str(caught.value)
    assert "vits-original: no key matches required pattern" in message and "vits-adapters:" in message


def test_synthesize_validates_input_and_is_reproducible(original_dirs):
    voice = from_pretrained(original_dirs["multi"])
    ids = typical_token_ids(CASES["multi"], 0)
    first = voice.synthesize(token_ids=ids, speaker_id=1, seed=11)
    again = voice.synthesize(token_ids=ids, speaker_id=1, seed=11)
    other = voice.synthesize(token_ids=ids, speaker_id=1, seed=12)
    assert first.sample_rate == 22050 and first.waveform.dtype.name == "float32"
    assert (first.waveform == again.waveform).all()
    assert first.waveform.shape != other.waveform.shape or not (first.waveform == other.waveform).all()
    for bad in (dict(speaker_id=3), dict(speaker_id=-1), dict(speaker_id=None), dict(speaker_id=True)):
        with pytest.raises(InvalidInputError):
            voice.synthesize(token_ids=ids, **bad)
    with pytest.raises(InvalidInputError, match="outside the vocabulary"):
        voice.synthesize(token_ids=[1, 500], speaker_id=0)
    with pytest.raises(InvalidInputError, match="empty"):
        voice.synthesize(token_ids=[], speaker_id=0)
    with pytest.raises(InvalidInputError, match="no symbol table"):
        voice.synthesize("hello", speaker_id=0)


def test_single_speaker_refuses_a_speaker_id(single_dir):
    voice = from_pretrained(single_dir)
    with pytest.raises(InvalidInputError, match="single-speaker"):
        voice.synthesize(token_ids=[1, 2, 3], speaker_id=0)


def test_silent_output_raises(single_dir):
    voice = from_pretrained(single_dir)
    with torch.no_grad():
        voice.generator.decoder.conv_post.weight.zero_()
    with pytest.raises(SilentOutputError):
        voice.synthesize(token_ids=[1, 2, 3, 4], seed=0)
    assert voice.synthesize(token_ids=[1, 2, 3, 4], seed=0, check=False).duration > 0


def test_inference_only_drops_the_posterior_encoder_with_a_reason(peers, single_dir):
    voice = from_pretrained(single_dir, inference_only=True)
    assert not hasattr(voice.generator, "posterior_encoder")
    dropped = [r for r in voice.report.records if r.action == "dropped"]
    assert dropped and all(r.source[0].startswith("enc_q.") and "inference_only" in r.detail for r in dropped)
    assert voice.report.complete
    ids = typical_token_ids(CASES["single"], 8)
    torch.testing.assert_close(_wave(voice, ids), peer_infer(peers["single"], ids)["o"], atol=2e-6, rtol=0)


def test_inference_only_reads_the_posterior_sizes_from_the_tensors_it_drops(peers, single_dir, tmp_path):
    """A bare G_*.pth (no config): the dropped posterior encoder's tensors still give its sizes."""
    (tmp_path / "G_1.pth").write_bytes((single_dir / "G_1.pth").read_bytes())
    voice = from_pretrained(tmp_path / "G_1.pth", inference_only=True)
    posterior = peers["single"].enc_q
    assert voice.config.spec_channels == CASES["single"].spec_channels == posterior.pre.in_channels
    assert voice.config.posterior_n_layers == len(posterior.enc.in_layers)
    assert voice.config.posterior_kernel_size == posterior.enc.in_layers[0].kernel_size[0]
    for name in ("spec_channels", "posterior_n_layers", "posterior_kernel_size"):
        assert voice.report.hparams_provenance[name] == "shapes", name


def test_an_inference_only_voice_saves_and_reloads_without_the_posterior_encoder(single_dir, tmp_path):
    voice = from_pretrained(single_dir, inference_only=True)
    voice.save_pretrained(tmp_path / "lean")
    again = from_pretrained(tmp_path / "lean")
    assert again.report.complete and not hasattr(again.generator, "posterior_encoder")
    ids = [1, 4, 9, 2, 7]
    torch.testing.assert_close(_wave(again, ids), _wave(voice, ids), atol=0, rtol=0)
    with pytest.raises(SpecError, match="posterior encoder"):
        voice.save_pretrained(tmp_path / "orig", format="vits-original")


def test_non_finite_weights_are_refused_naming_the_tensors(single_dir, tmp_path):
    checkpoint = load_original(single_dir)
    checkpoint["model"]["dec.conv_post.weight"][0, 0, 0] = float("nan")
    checkpoint["model"]["enc_p.emb.weight"][3, 1] = float("inf")
    with pytest.raises(CheckpointReadError) as caught:
        from_pretrained(save_original(tmp_path, checkpoint, single_dir), strict=False)
    assert "dec.conv_post.weight" in str(caught.value) and "enc_p.emb.weight" in str(caught.value)
