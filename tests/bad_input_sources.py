"""Good inputs for the bad-input corpus: tiny seeded voices in every layout, and helpers that edit copies of them."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from tests.peers import coqui_reference as coqui
from tests.peers.piper_reference import CASES, build_peer, original_checkpoint, original_config

from vits_adapters import LoadReport, Voice, from_pretrained
from vits_adapters.io.checkpoint import read_checkpoint
from vits_adapters.cli.demo import TEXT_SETTINGS, build_random_generator
from vits_adapters.weightnorm.tensors import fold_weight_norm, parse_weight_key, unfold_weight_norm, weight_keys


FORMATS = ("vits-original", "transformers", "piper", "coqui", "vits-adapters")
WEIGHTS_FILE = {
    "vits-original": "G_1.pth",
    "transformers": "model.safetensors",
    "piper": "generator.ckpt",
    "coqui": "model.pth",
    "vits-adapters": "model.safetensors",
}
# Source-key prefix of the decoder's first convolution in each layout.
CONV_PRE = {
    "vits-original": "dec.conv_pre",
    "transformers": "decoder.conv_pre",
    "piper": "model_g.dec.conv_pre",
    "coqui": "waveform_decoder.conv_pre",
    "vits-adapters": "decoder.conv_pre",
}
# Where the flow's first WaveNet layer lives in each layout (a weight-norm layer in every one of them).
_FLOW_LAYER = re.compile(r"(model_g\.)?flow\.flows\.0\.(enc|wavenet)\.in_layers\.0\.(weight.*|parametrizations.*)")
MULTI_SPEAKERS = 3
MULTI_VOCAB = 42


@dataclass(frozen=True)
class Sources:
    """Good inputs the cases start from: a multi-speaker voice in every layout, and in-memory voices."""

    dirs: dict[str, Path]  # format -> folder (multi-speaker)
    single_dir: Path  # single-speaker vits-original folder
    multi_voice: Voice
    single_voice: Voice
    symbols_voice: Voice  # the original 178-symbol table with basic cleaners
    coqui_voice: Voice  # Coqui characters
    transformers_voice: Voice  # vocab.json frontend


def _transformers_vocab(folder: Path) -> None:
    symbols = ["_", " ", *"abcdefghijklmnopqrstuvwxyz", *".,!?'-:;\"()", "<unk>"]
    symbols += [f"x{i}" for i in range(MULTI_VOCAB - len(symbols))]
    (folder / "vocab.json").write_text(json.dumps({s: i for i, s in enumerate(symbols)}), encoding="utf-8")
    settings = {"normalize": True, "add_blank": True, "phonemize": False, "unk_token": "<unk>", "pad_token": "_"}
    (folder / "tokenizer_config.json").write_text(json.dumps(settings), encoding="utf-8")


def build_sources(root: Path) -> Sources:
    """Write the good checkpoints under ``root`` and load the voices the synthesis cases use."""
    dirs: dict[str, Path] = {}
    for name, folder_name in (("multi", "vits-original"), ("single", "single")):
        folder = root / folder_name
        folder.mkdir(parents=True)
        torch.save(original_checkpoint(build_peer(CASES[name], seed=0)), folder / WEIGHTS_FILE["vits-original"])
        (folder / "config.json").write_text(json.dumps(original_config(CASES[name])), encoding="utf-8")
        if name == "multi":
            dirs["vits-original"] = folder
    multi = from_pretrained(dirs["vits-original"], weight_norm="keep")
    for fmt in ("transformers", "piper", "vits-adapters"):
        multi.save_pretrained(root / fmt, format=fmt)
        dirs[fmt] = root / fmt
    case = coqui.CASES["multi"]
    dirs["coqui"] = root / "coqui"
    dirs["coqui"].mkdir()
    torch.save(coqui.coqui_checkpoint(coqui.build_coqui(case, seed=0), case), dirs["coqui"] / WEIGHTS_FILE["coqui"])
    (dirs["coqui"] / "config.json").write_text(json.dumps(coqui.coqui_config(case)), encoding="utf-8")
    with_vocab = root / "transformers-vocab"
    shutil.copytree(dirs["transformers"], with_vocab)
    _transformers_vocab(with_vocab)
    generator = build_random_generator()
    report = LoadReport(format="in-memory", source="random", records=(), target_count=0, weight_norm="fold")
    return Sources(
        dirs=dirs,
        single_dir=root / "single",
        multi_voice=from_pretrained(dirs["vits-original"]),
        single_voice=from_pretrained(root / "single"),
        symbols_voice=Voice(generator=generator, report=report, text_settings=dict(TEXT_SETTINGS)),
        coqui_voice=from_pretrained(dirs["coqui"]),
        transformers_voice=from_pretrained(with_vocab),
    )


# --- editing helpers ------------------------------------------------------------------------------------------


def copy_of(sources: Sources, fmt: str, tmp_path: Path) -> Path:
    """A private copy of the good ``fmt`` folder."""
    folder = tmp_path / fmt
    shutil.copytree(sources.dirs[fmt], folder)
    return folder


def _flat(content: dict[str, Any], fmt: str) -> dict[str, torch.Tensor]:
    """The flat tensor dict inside a checkpoint object (edited in place)."""
    if fmt == "piper":
        return content["state_dict"]
    if fmt in ("vits-original", "coqui"):
        return content["model"]
    return content


def edit_weights(folder: Path, fmt: str, edit: Callable[[dict[str, torch.Tensor]], None]) -> Path:
    """Apply ``edit`` to the flat state dict of ``folder``'s weights file and write it back in its container."""
    path = folder / WEIGHTS_FILE[fmt]
    if path.suffix == ".safetensors":
        content = load_file(path)
        edit(content)
        metadata = {"format": "vits-adapters", "weight_norm": "parametrized"} if fmt == "vits-adapters" else {"format": "pt"}
        save_file({k: v.contiguous() for k, v in content.items()}, str(path), metadata=metadata)
    else:
        content = read_checkpoint(path, trust_pickle=True).content
        edit(_flat(content, fmt))
        _replace_pickle(content, path)
    return folder


def _replace_pickle(content: Any, path: Path) -> None:
    # The content may be memory-mapped from ``path``: write a new file and rename it over the old one.
    fresh = path.with_name(path.name + ".new")
    torch.save(content, fresh)
    fresh.replace(path)


def edit_json(path: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """Apply ``edit`` to a JSON file in place."""
    data = json.loads(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def edit_embedded_config(folder: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """Apply ``edit`` to the config a Coqui checkpoint carries (it wins over config.json) and to config.json."""
    path = folder / WEIGHTS_FILE["coqui"]
    content = read_checkpoint(path).content
    edit(content["config"])
    _replace_pickle(content, path)
    edit_json(folder / "config.json", edit)
    return folder


def flow_layer(state: dict[str, torch.Tensor]) -> tuple[str, str]:
    """The prefix and weight-norm form of the flow's first WaveNet layer."""
    key = next(k for k in state if _FLOW_LAYER.fullmatch(k))
    prefix, form = parse_weight_key(key)
    return prefix, form


def add_second_form(state: dict[str, torch.Tensor]) -> None:
    """Store the flow's first WaveNet layer a second time in another weight-norm form."""
    prefix, form = flow_layer(state)
    if form == "plain":
        g, v = unfold_weight_norm(state[f"{prefix}.weight"], 0, key=prefix)
        state[f"{prefix}.weight_g"], state[f"{prefix}.weight_v"] = g, v
    else:
        g_key, v_key = weight_keys(prefix, form)
        state[f"{prefix}.weight"] = fold_weight_norm(state[g_key], state[v_key], 0, key=g_key)
