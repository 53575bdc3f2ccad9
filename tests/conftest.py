"""Shared fixtures: seeded Piper peers, and the same peers saved in the original VITS layout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.peers.piper_reference import CASES, build_peer, original_checkpoint, original_config


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
