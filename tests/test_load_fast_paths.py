"""The fast load paths keep their guarantees: finite-weight check exact, no random init, weights not copied."""

from __future__ import annotations

import pytest
import torch

from vits_adapters import CheckpointReadError, from_pretrained
from vits_adapters.cli.demo import DEMO_HPARAMS, _in_memory_voice, build_random_generator
from vits_adapters.mapping.load import refuse_non_finite
from vits_adapters.mapping.registry import get_format

DIMS = get_format("vits-adapters").weight_norm_dims


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("fast-load-voice")
    _in_memory_voice(build_random_generator(DEMO_HPARAMS, seed=6), 6).save_pretrained(path)
    return path


def test_finite_weights_whose_sum_overflows_are_accepted():
    huge = torch.full((4, 4), 3e38)
    assert not torch.isfinite(huge.sum())  # the fast path's sum overflows, so the exact check must decide
    refuse_non_finite({"a": huge, "b": torch.full((3,), -3e38, dtype=torch.bfloat16)}, source="x")


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_one_non_finite_value_is_refused_even_among_huge_ones(bad):
    tensor = torch.full((4, 4), 3e38)
    tensor[2, 1] = bad
    with pytest.raises(CheckpointReadError, match="'t'|t\\b"):
        refuse_non_finite({"ok": torch.zeros(3), "t": tensor}, source="x")


def test_opposite_infinities_are_refused():
    with pytest.raises(CheckpointReadError):
        refuse_non_finite({"t": torch.tensor([float("inf"), float("-inf")])}, source="x")


def test_strict_load_draws_no_random_initialisation(folder):
    state = torch.random.get_rng_state()
    from_pretrained(folder)
    assert torch.equal(state, torch.random.get_rng_state())


def test_plain_weights_are_views_of_one_mapping(folder):
    # The file is mapped once; weights loaded under their own names stay views of the mapping, not copies.
    from safetensors import safe_open

    voice = from_pretrained(folder)
    decoder = voice.generator.decoder
    with safe_open(str(folder / "model.safetensors"), framework="pt") as handle:
        torch.testing.assert_close(decoder.conv_pre.weight, handle.get_tensor("decoder.conv_pre.weight"), atol=0, rtol=0)
    storage = decoder.conv_pre.weight.untyped_storage().data_ptr()
    assert decoder.conv_post.weight.untyped_storage().data_ptr() == storage
    assert voice.generator.text_encoder.embed_tokens.weight.untyped_storage().data_ptr() == storage


def test_mapped_safetensors_equal_safetensors_own(tmp_path):
    from safetensors.torch import load_file, save_file

    from vits_adapters.io.safetensors_map import map_safetensors

    tensors = {
        "f32": torch.randn(3, 5),
        "bf16": torch.randn(7).bfloat16(),
        "f16": torch.randn(2, 2).half(),
        "i64": torch.arange(6).view(2, 3),
        "u8": torch.arange(5, dtype=torch.uint8),
        "flag": torch.tensor([True, False, True]),
        "empty": torch.zeros(0, 4),
        "scalar": torch.tensor(2.5),
    }
    path = tmp_path / "mixed.safetensors"
    save_file(tensors, str(path))
    ours, theirs = map_safetensors(path), load_file(str(path))
    assert ours is not None and set(ours) == set(theirs)
    for key, tensor in theirs.items():
        assert ours[key].dtype == tensor.dtype and torch.equal(ours[key], tensor), key


def test_checkpoint_with_a_dtype_torch_cannot_view_falls_back_to_safetensors(tmp_path):
    from safetensors.torch import save_file

    from vits_adapters.io.safetensors_map import map_safetensors

    path = tmp_path / "fp8.safetensors"
    save_file({"w": torch.randn(4).to(torch.float8_e4m3fn)}, str(path))
    assert map_safetensors(path) is None


def test_meta_build_without_init_has_the_same_tensors_as_a_normal_build():
    from vits_adapters.arch.meta_build import meta_device_without_init
    from vits_adapters.arch.vits.generator import VitsGenerator

    with meta_device_without_init():
        meta = VitsGenerator(DEMO_HPARAMS, weight_norm="keep", weight_norm_dims=DIMS)
    normal = VitsGenerator(DEMO_HPARAMS, weight_norm="keep", weight_norm_dims=DIMS)
    shapes = {key: (tuple(t.shape), t.dtype) for key, t in normal.state_dict().items()}
    assert {key: (tuple(t.shape), t.dtype) for key, t in meta.state_dict().items()} == shapes
    assert all(t.is_meta for t in meta.state_dict().values())
    with meta_device_without_init():
        assert torch.ones(2).add(1).is_meta


def _sha256(path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def pth_file(tmp_path_factory):
    from vits_adapters.formats.writer import export_voice

    voice = _in_memory_voice(build_random_generator(DEMO_HPARAMS, seed=7), 7)
    (written,) = [p for p in export_voice(voice, tmp_path_factory.mktemp("fast-load-pth"), format="vits",
                                         weight_norm=None, overwrite=False) if p.suffix == ".pth"]
    return written


@pytest.mark.parametrize("kind", ["safetensors", "pth"])
def test_writing_a_loaded_weight_never_changes_the_file(kind, folder, pth_file):
    # Mappings are copy-on-write: in-place edits (fine-tuning) stay in this process.
    file = folder / "model.safetensors" if kind == "safetensors" else pth_file
    before = _sha256(file)
    voice = from_pretrained(folder if kind == "safetensors" else file, weight_norm="keep")
    with torch.no_grad():
        for parameter in voice.generator.parameters():
            parameter.mul_(-2.0)
    assert _sha256(file) == before


def test_replacing_the_file_by_rename_leaves_a_loaded_voice_intact(tmp_path):
    import os
    import shutil

    source = tmp_path / "voice"
    _in_memory_voice(build_random_generator(DEMO_HPARAMS, seed=8), 8).save_pretrained(source)
    voice = from_pretrained(source)
    kept = {key: t.clone() for key, t in voice.generator.state_dict().items()}
    other = tmp_path / "other"
    _in_memory_voice(build_random_generator(DEMO_HPARAMS, seed=9), 9).save_pretrained(other)
    os.replace(other / "model.safetensors", source / "model.safetensors")
    shutil.rmtree(other)
    for key, tensor in voice.generator.state_dict().items():
        assert torch.equal(tensor, kept[key]), key


def test_legacy_pre_zip_torch_files_still_load(tmp_path, pth_file):
    content = torch.load(pth_file, weights_only=True)
    legacy = tmp_path / "G_2.pth"
    torch.save(content, legacy, _use_new_zipfile_serialization=False)
    assert not legacy.read_bytes().startswith(b"PK")
    ours, reference = from_pretrained(legacy), from_pretrained(pth_file)
    for key, tensor in reference.generator.state_dict().items():
        assert torch.equal(ours.generator.state_dict()[key], tensor), key
