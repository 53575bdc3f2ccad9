"""Errors and the report name each tensor as the user's file stores it; weight-norm layers come from the YAML alone."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file, save_file

from tests.checkpoint_edits import load_original, save_original

from vits_adapters import KeyMappingError, StateDictMismatchError, from_pretrained
from vits_adapters.io.checkpoint import read_checkpoint
from vits_adapters.cli.demo import _in_memory_voice
from vits_adapters.arch.vits.generator import VitsGenerator
from vits_adapters.mapping.registry import get_format
from vits_adapters.weightnorm.tensors import fold_weight_norm, unfold_weight_norm


def test_incomplete_pair_is_named_as_stored(single_dir, tmp_path):
    checkpoint = load_original(single_dir)
    del checkpoint["model"]["dec.ups.0.weight_g"]
    with pytest.raises(KeyMappingError) as caught:
        from_pretrained(save_original(tmp_path, checkpoint, single_dir))
    message = str(caught.value)
    assert "missing:\n  dec.ups.0.weight_g (reference: decoder.upsampler.0.weight_g)" in message
    assert "found:\n  dec.ups.0.weight_v (reference: decoder.upsampler.0.weight_v)" in message


def test_mis_shaped_tensor_is_named_as_stored(single_dir, tmp_path):
    checkpoint = load_original(single_dir)
    bias = checkpoint["model"]["enc_p.proj.bias"]
    checkpoint["model"]["enc_p.proj.bias"] = torch.zeros(bias.numel() + 2)
    with pytest.raises(StateDictMismatchError) as caught:
        from_pretrained(save_original(tmp_path, checkpoint, single_dir))
    assert caught.value.mismatched == [
        f"enc_p.proj.bias (reference: text_encoder.project.bias): source ({bias.numel() + 2},) vs model ({bias.numel()},)"
    ]


def test_missing_weight_norm_layer_is_named_in_the_form_the_file_stores_pairs(single_dir, tmp_path):
    checkpoint = load_original(single_dir)
    for suffix in ("weight_g", "weight_v"):
        del checkpoint["model"][f"dec.resblocks.0.convs2.1.{suffix}"]
    with pytest.raises(StateDictMismatchError) as caught:
        from_pretrained(save_original(tmp_path, checkpoint, single_dir))
    assert caught.value.missing == [
        "dec.resblocks.0.convs2.1.weight_g and dec.resblocks.0.convs2.1.weight_v "
        "(reference: decoder.resblocks.0.convs2.1.weight)"
    ]


def test_tensor_shape_inference_needs_is_named_as_stored(single_dir, tmp_path):
    checkpoint = load_original(single_dir)
    del checkpoint["model"]["enc_p.proj.weight"]
    with pytest.raises(StateDictMismatchError) as caught:
        from_pretrained(save_original(tmp_path, checkpoint, single_dir))
    assert caught.value.missing == ["enc_p.proj.weight (reference: text_encoder.project.weight)"]


def test_piper_missing_tensor_carries_the_lightning_prefix(original_dirs, tmp_path):
    from_pretrained(original_dirs["single"], weight_norm="keep").save_pretrained(tmp_path / "piper", format="piper")
    content = torch.load(tmp_path / "piper" / "generator.ckpt", weights_only=True)
    del content["state_dict"]["model_g.dp.proj.bias"]
    torch.save(content, tmp_path / "piper" / "generator.ckpt")
    voice = from_pretrained(tmp_path / "piper", strict=False)
    assert voice.report.missing == ("model_g.dp.proj.bias (reference: duration_predictor.conv_proj.bias)",)


def test_pair_of_an_undeclared_layer_is_refused(single_dir, tmp_path):
    """The text encoder's projection is not weight-normed in any layout: a (g, v) pair there has no known dim."""
    from_pretrained(single_dir).save_pretrained(tmp_path, format="vits-adapters")
    state = load_file(tmp_path / "model.safetensors")
    g, v = unfold_weight_norm(state.pop("text_encoder.project.weight"), 0, key="text_encoder.project.weight")
    save_file({**state, "text_encoder.project.weight_g": g, "text_encoder.project.weight_v": v},
              tmp_path / "model.safetensors", metadata={"format": "vits-adapters", "weight_norm": "plain"})
    with pytest.raises(KeyMappingError, match=re.escape(
        "text_encoder.project.weight_g and text_encoder.project.weight_v: the file stores this layer as a "
        "weight-norm pair, but the format's YAML declares no weight norm for it"
    )):
        from_pretrained(tmp_path)


def test_writer_splits_pairs_with_the_target_formats_declared_dim(original_dirs, tmp_path):
    """A voice held with one norm per layer (dim None) is written to the original layout with its dim 0."""
    source = from_pretrained(original_dirs["single"])
    one_norm = {pattern: None for pattern in get_format("vits-original").weight_norm_dims}
    held = VitsGenerator(source.config, weight_norm="keep", weight_norm_dims=one_norm)
    state = source.generator.state_dict()
    for name in held.weight_norm_layer_names():
        g, v = unfold_weight_norm(state.pop(f"{name}.weight"), None, key=name)
        state.update({f"{name}.parametrizations.weight.original0": g, f"{name}.parametrizations.weight.original1": v})
    held.load_state_dict(state)
    voice = _in_memory_voice(held.eval(), 0)
    voice.save_pretrained(tmp_path / "orig", format="vits-original", weight_norm="legacy")
    written = read_checkpoint(tmp_path / "orig" / "G_0.pth").content["model"]
    g, v = written["dec.ups.0.weight_g"], written["dec.ups.0.weight_v"]
    assert g.shape == (v.shape[0], 1, 1)  # vits-original.yaml declares dim 0, whatever the voice held
    effective = source.generator.decoder.upsampler[0].weight
    torch.testing.assert_close(fold_weight_norm(g, v, 0, key="g"), effective, atol=1e-6, rtol=1e-6)


def test_generator_has_no_weight_norm_layers_of_its_own():
    """Without declared patterns there is nothing to keep: the layer set is the YAML's, not the model's."""
    from vits_adapters.cli.demo import DEMO_HPARAMS

    assert VitsGenerator(DEMO_HPARAMS).weight_norm_layer_names() == []
    with pytest.raises(ValueError, match="needs weight_norm_dims"):
        VitsGenerator(DEMO_HPARAMS, weight_norm="keep")


def test_rename_rule_errors_name_keys_with_the_files_container_prefix():
    """Piper's keys carry Lightning's 'model_g.' prefix; a rule error names them with it, as the file does."""
    from vits_adapters.mapping.convert import rename_state_dict

    spec = get_format("piper")
    rule = next(r for r in spec.rename_rules if r.pattern.fullmatch("dec.conv_pre.bias"))
    twice = replace(spec, components=(replace(spec.components[0], rename=(rule, rule)),))
    with pytest.raises(KeyMappingError, match=r"\n  model_g\.dec\.conv_pre\.bias \(matches "):
        rename_state_dict({"model_g.dec.conv_pre.bias": torch.zeros(1)}, twice)


def test_a_tensor_no_rule_can_name_is_marked_as_a_reference_name():
    """When the format's rules cannot be inverted, an absent tensor is not passed off as the file's own name."""
    from vits_adapters.mapping.spec import parse_rename_rules
    from vits_adapters.mapping.stored_names import StoredNames

    spec = get_format("piper")
    opaque = parse_rename_rules({r"dec\.conv_pre\..+": "decoder.conv_pre.bias"})  # '.+' outside a group: not invertible
    names = StoredNames({}, replace(spec, components=(replace(spec.components[0], rename=opaque),)))
    assert names("decoder.conv_pre.bias") == (
        "decoder.conv_pre.bias (reference name: no rule of format 'piper' names it in the file)"
    )
    assert StoredNames({}, spec)("decoder.conv_pre.bias") == "model_g.dec.conv_pre.bias (reference: decoder.conv_pre.bias)"
