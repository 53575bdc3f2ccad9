"""The fast load paths keep their guarantees: finite-weight check exact, no random init, mmap-backed weights."""

from __future__ import annotations

import pytest
import torch

from vits_adapters import CheckpointReadError, from_pretrained
from vits_adapters.demo import DEMO_HPARAMS, _in_memory_voice, build_random_generator
from vits_adapters.load import refuse_non_finite


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


def test_plain_weights_are_taken_from_the_file_without_a_copy(folder):
    # safetensors maps the file: a tensor loaded under its own name keeps the mapped storage, which a copy would not.
    from safetensors import safe_open

    voice = from_pretrained(folder)
    weight = voice.generator.decoder.conv_pre.weight
    with safe_open(str(folder / "model.safetensors"), framework="pt") as handle:
        torch.testing.assert_close(weight, handle.get_tensor("decoder.conv_pre.weight"), atol=0, rtol=0)
    assert not weight.untyped_storage().resizable()  # storage borrowed from the mapping, not allocated by torch
