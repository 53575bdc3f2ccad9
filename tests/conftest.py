"""Shared fixtures: seeded Piper peers saved in the original VITS layout, and a tiny reference model factory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.peers.piper_reference import CASES, build_peer, original_checkpoint, original_config

from vits_adapters.model.hparams import VitsHParams

TINY = dict(
    n_vocab=30,
    spec_channels=17,
    inter_channels=8,
    hidden_channels=16,
    filter_channels=32,
    n_heads=2,
    n_layers=1,
    resblock_kernel_sizes=(3, 5),
    resblock_dilation_sizes=((1, 3, 5), (1, 3, 5)),
    upsample_rates=(4, 4),
    upsample_initial_channel=16,
    upsample_kernel_sizes=(8, 8),
    flow_n_layers=2,
    posterior_n_layers=2,
)


def tiny_hparams(**overrides) -> VitsHParams:
    """A very small reference configuration (fast to build, all components present)."""
    return VitsHParams(**{**TINY, **overrides})


@pytest.fixture(scope="session")
def peers():
    """Seeded Piper peers by case name (built once per session)."""
    return {name: build_peer(case, seed=0) for name, case in CASES.items()}


@pytest.fixture(scope="session")
def original_dirs(peers, tmp_path_factory):
    """Each peer saved as an original VITS trainer checkpoint folder: G_1.pth + config.json."""
    dirs = {}
    for name, peer in peers.items():
        folder = tmp_path_factory.mktemp(f"orig-{name}")
        torch.save(original_checkpoint(peer), folder / "G_1.pth")
        (folder / "config.json").write_text(json.dumps(original_config(CASES[name])), encoding="utf-8")
        dirs[name] = folder
    return dirs


@pytest.fixture
def single_dir(original_dirs) -> Path:
    """The single-speaker original checkpoint folder."""
    return original_dirs["single"]
