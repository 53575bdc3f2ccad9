"""Pages of a mapped checkpoint are handed back once converted, and a release never changes a value."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from vits_adapters import from_pretrained
from vits_adapters.io.checkpoint import read_checkpoint
from vits_adapters.mapping.convert import reconcile_forms, rename_state_dict
from vits_adapters.cli.demo import DEMO_HPARAMS, _in_memory_voice, build_random_generator
from vits_adapters.formats.writer import export_voice
from vits_adapters.io.page_release import release_pages, storage_ranges
from vits_adapters.mapping.registry import get_format

def _rss_file_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssFile:"):
            return int(line.split()[1])
    raise AssertionError("RssFile not in /proc/self/status")


@pytest.fixture()
def big_file(tmp_path):
    path = tmp_path / "big.safetensors"
    save_file({"a": torch.randn(4 << 20, generator=torch.Generator().manual_seed(0)), "b": torch.arange(7.0)}, path)
    return path


def test_released_pages_leave_memory_and_read_back_unchanged(big_file):
    raw = read_checkpoint(big_file)
    tensor = raw.content["a"]
    expected = torch.randn(4 << 20, generator=torch.Generator().manual_seed(0))
    assert torch.equal(tensor, expected)  # touches all 16 MB
    before = _rss_file_kb()
    release_pages(tensor, raw.mapped_ranges)
    assert before - _rss_file_kb() > 15 * 1024  # nearly all of the 16 MB left memory
    assert torch.equal(tensor, expected)  # and comes back from the file as it was
    assert torch.equal(raw.content["b"], torch.arange(7.0))


def test_memory_outside_the_mapped_ranges_is_never_released(big_file):
    raw = read_checkpoint(big_file)
    own = torch.randn(1 << 20)
    kept = own.clone()
    release_pages(own, raw.mapped_ranges)  # not a mapped tensor: on anonymous memory DONTNEED would zero it
    release_pages(kept, ())
    assert torch.equal(own, kept) and kept.abs().sum() > 0


def test_only_mapped_reads_report_ranges(tmp_path, big_file):
    legacy = tmp_path / "legacy.pth"
    torch.save({"w": torch.ones(3)}, legacy, _use_new_zipfile_serialization=False)
    zipped = tmp_path / "zipped.pth"
    torch.save({"w": torch.ones(3), "nested": {"v": torch.zeros(5)}}, zipped)
    assert read_checkpoint(legacy).mapped_ranges == ()
    raw = read_checkpoint(zipped)
    assert raw.mapped_ranges == storage_ranges([raw.content["w"], raw.content["nested"]["v"]])
    assert len(read_checkpoint(big_file).mapped_ranges) == 1  # one mapping behind every safetensors tensor


@pytest.fixture(scope="module")
def legacy_pth(tmp_path_factory):
    voice = _in_memory_voice(build_random_generator(DEMO_HPARAMS, seed=11), 11)
    written = export_voice(voice, tmp_path_factory.mktemp("legacy-wn"), format="vits", weight_norm="legacy",
                           overwrite=False)
    return next(p for p in written if p.suffix == ".pth")


def test_reconcile_releases_exactly_the_folded_pairs(legacy_pth):
    spec = get_format("vits-original")
    raw = read_checkpoint(legacy_pth)
    renamed = rename_state_dict(raw.content["model"], spec)
    voice = from_pretrained(legacy_pth)
    released: list[int] = []
    reconcile_forms(renamed, voice.generator.state_dict().keys(), rules=spec.weight_norm_rules,
                    target_dim=voice.generator.weight_norm_dim, release=lambda t: released.append(id(t)))
    folded = [key for key in renamed.tensors if key.endswith(("weight_g", "weight_v"))]
    assert folded and sorted(released) == sorted(id(renamed.tensors[key]) for key in folded)


def test_a_load_that_releases_pages_equals_one_that_does_not(legacy_pth, monkeypatch):
    released = from_pretrained(legacy_pth)
    monkeypatch.setattr("vits_adapters.pretrained.release_pages", lambda tensor, mapped: None)
    kept = from_pretrained(legacy_pth)
    for key, tensor in kept.generator.state_dict().items():
        assert torch.equal(released.generator.state_dict()[key], tensor), key
