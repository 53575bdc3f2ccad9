"""Shared fixtures: seeded Piper peers, the same peers saved in the original VITS layout, and network guards."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from huggingface_hub import constants as hf_constants

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


@pytest.fixture()
def hub_online(monkeypatch: pytest.MonkeyPatch) -> None:
    """Offline mode unset, whatever the calling shell exports (tests that need it offline say so)."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)


@pytest.fixture()
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Make every socket connection or DNS lookup fail, recording each attempt."""
    attempts: list[str] = []

    def refuse(name: str):
        def _refuse(*args: object, **kwargs: object) -> None:
            attempts.append(f"{name}{args[:2]!r}")
            raise OSError(f"network access attempted in an offline test: {name}")

        return _refuse

    monkeypatch.setattr(socket, "create_connection", refuse("create_connection"))
    monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
    monkeypatch.setattr(socket.socket, "connect", refuse("connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", refuse("connect_ex"))
    yield attempts
    assert not attempts, f"network was touched: {attempts}"
