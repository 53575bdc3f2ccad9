"""Choices the files do not settle are read from them, refused when ambiguous, or reported as ASSUMED."""

from __future__ import annotations

import json
import re
import shutil

import pytest
import torch

from tests.peers.coqui_reference import CASES as COQUI_CASES
from tests.peers.coqui_reference import build_coqui, coqui_checkpoint

from vits_adapters import AmbiguousConfigError, InvalidInputError, from_pretrained
from vits_adapters.cli.demo import _in_memory_voice, build_random_generator


def test_a_178_symbol_vocabulary_implies_the_original_table_only_in_the_original_layout(tmp_path):
    voice = _in_memory_voice(build_random_generator(), 0)  # 178 symbols, the original table named explicitly
    voice.save_pretrained(tmp_path / "hf", format="transformers")
    for name in ("vocab.json", "tokenizer_config.json"):
        (tmp_path / "hf" / name).unlink()
    loaded = from_pretrained(tmp_path / "hf")
    assert loaded.config.n_vocab == 178 and loaded.frontend is None
    with pytest.raises(InvalidInputError, match="carries no symbol table"):
        loaded.encode("hello")


def test_the_original_table_without_a_config_is_reported_as_assumed(tmp_path):
    voice = _in_memory_voice(build_random_generator(), 0)
    voice.save_pretrained(tmp_path / "orig", format="vits-original", weight_norm="legacy")
    (tmp_path / "orig" / "config.json").unlink()
    loaded = from_pretrained(tmp_path / "orig" / "G_0.pth")
    assert loaded.frontend is not None
    assert loaded.report.assumed["text_frontend"] == (
        "the original VITS 178-symbol table (the trainer keeps it in code) with cleaners ['english_cleaners2'] and "
        "add_blank=True (the ljs_base config's)"
    )
    shutil.copy(tmp_path / "orig" / "G_0.pth", tmp_path / "G_0.pth")
    (tmp_path / "config.json").write_text(json.dumps({"model": {}, "data": {"text_cleaners": ["basic_cleaners"],
                                                                            "add_blank": True}}), encoding="utf-8")
    assert "text_frontend" not in from_pretrained(tmp_path / "G_0.pth").report.assumed  # the trainer's config says


def test_sizes_no_tensor_shows_are_assumed_without_a_config(single_dir, tmp_path):
    shutil.copy(single_dir / "G_1.pth", tmp_path / "G_1.pth")
    bare = from_pretrained(tmp_path / "G_1.pth").report
    for name, value in (("flow_dilation_rate", 1), ("posterior_dilation_rate", 1), ("sdp_tail_bound", 5.0)):
        assert bare.assumed[name].startswith(f"{value!r}: ") and "no config confirms it" in bare.assumed[name], name
        assert bare.hparams_provenance[name] == "assumed"
    confirmed = from_pretrained(single_dir).report
    assert not {"flow_dilation_rate", "posterior_dilation_rate", "sdp_tail_bound"} & set(confirmed.assumed)
    assert confirmed.hparams_provenance["flow_dilation_rate"] == "format"


def test_a_bare_coqui_state_dict_takes_coquis_layer_norm_eps_and_says_so(tmp_path):
    case = COQUI_CASES["nosdp"]
    state = coqui_checkpoint(build_coqui(case, seed=0), case)["model"]
    torch.save(state, tmp_path / "model.pth")
    voice = from_pretrained(tmp_path / "model.pth")
    assert voice.report.format == "coqui" and voice.config.dp_layer_norm_eps == 1e-4
    assert re.match(r"0\.0001: Coqui's deterministic duration predictor normalises with eps 1e-4 \(the layout was "
                    r"recognised from its key names; no config confirms it\)$", voice.report.assumed["dp_layer_norm_eps"])


def test_the_config_is_chosen_after_the_format_is_known(original_dirs, tmp_path):
    """A Piper checkpoint beside its voice config and a different trainer config.json: ambiguous, so refused."""
    from_pretrained(original_dirs["single"], weight_norm="keep").save_pretrained(tmp_path, format="piper")
    (tmp_path / "generator.ckpt.onnx.json").write_bytes((tmp_path / "config.json").read_bytes())
    (tmp_path / "config.json").write_bytes((original_dirs["single"] / "config.json").read_bytes())
    with pytest.raises(AmbiguousConfigError, match=re.escape(
        "several config files could belong to this piper checkpoint and they differ:\n"
        "  generator.ckpt.onnx.json\n  config.json\nPass the right one with config=..., or remove the others."
    )):
        from_pretrained(tmp_path)
    (tmp_path / "config.json").unlink()
    voice = from_pretrained(tmp_path)
    assert voice.report.format == "piper" and voice.report.files[-1].endswith("generator.ckpt.onnx.json")


def test_a_container_entry_holding_tensors_is_reported_not_silently_skipped(single_dir, tmp_path):
    checkpoint = torch.load(single_dir / "G_1.pth", weights_only=True)
    checkpoint["model_ema"] = {key: tensor.clone() for key, tensor in checkpoint["model"].items()}
    torch.save(checkpoint, tmp_path / "G_1.pth")
    shutil.copy(single_dir / "config.json", tmp_path / "config.json")
    report = from_pretrained(tmp_path).report
    count = len(checkpoint["model"])
    assert report.ignored_entries["model_ema"] == f"holds {count} tensor(s) this layout does not name; NOT loaded"
    assert report.assumed["container entry 'model_ema'"].startswith("not the generator: its weights were taken from 'model'")
    assert "ASSUMED container entry 'model_ema'" in report.summary()
