"""Helpers for tests that edit saved checkpoints: read and re-save an original VITS folder, fold every pair."""

from __future__ import annotations

from pathlib import Path

import torch

from vits_adapters.weightnorm.tensors import fold_weight_norm, group_weight_keys, weight_keys


def load_original(folder: Path) -> dict:
    """The ``G_1.pth`` trainer checkpoint object in ``folder``."""
    return torch.load(folder / "G_1.pth", weights_only=True)


def save_original(tmp_path: Path, checkpoint: dict, config_dir: Path) -> Path:
    """Write ``checkpoint`` as ``tmp_path/G_1.pth`` beside a copy of ``config_dir``'s config.json."""
    (tmp_path / "config.json").write_bytes((config_dir / "config.json").read_bytes())
    torch.save(checkpoint, tmp_path / "G_1.pth")
    return tmp_path


def effective_weights(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Every weight-norm pair folded (dim 0) to its weight; everything else as stored."""
    out = dict(state)
    for prefix, form in group_weight_keys(state).items():
        if form != "plain":
            g_key, v_key = weight_keys(prefix, form)
            out[weight_keys(prefix, "plain")[0]] = fold_weight_norm(out.pop(g_key), out.pop(v_key), 0, key=g_key)
    return out
