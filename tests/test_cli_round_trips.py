"""`vits-adapters convert` A -> B -> A through the command line: every stored (g, v) pair comes back bit-identical.

Each source has every ``weight_v`` / ``original1`` doubled (its ``g`` unchanged): the same weights, but a split no
re-computation would produce, so a conversion that re-splits a pair instead of copying it is caught.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from tests.checkpoint_edits import effective_weights
from tests.peers.coqui_reference import CASES as COQUI_CASES
from tests.peers.coqui_reference import build_coqui, coqui_checkpoint, coqui_config

from vits_adapters import from_pretrained
from vits_adapters.io.checkpoint import read_checkpoint
from vits_adapters.cli.entry import main
from vits_adapters.weightnorm.tensors import group_weight_keys, weight_keys

FORMATS = ["vits-original", "transformers", "piper", "coqui", "vits-adapters"]
WEIGHTS = {"vits-original": "G_0.pth", "transformers": "model.safetensors", "piper": "generator.ckpt",
           "coqui": "model.pth", "vits-adapters": "model.safetensors"}
# Coqui's vocabulary lives in the `characters` config only a Coqui voice carries, and a Coqui voice has
# hyperparameters (sdp width 192, dp eps 1e-4) the original and transformers layouts cannot hold.
REFUSED = {(a, "coqui") for a in FORMATS if a != "coqui"} | {("coqui", "vits-original"), ("coqui", "transformers"),
                                                              ("coqui", "piper")}


def _state(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        return load_file(path)
    content = read_checkpoint(path).content
    for key in ("model", "state_dict"):
        if key in content:
            return dict(content[key])
    return dict(content)


def _double_every_v(folder: Path, name: str) -> int:
    """Double each pair's v in place in the file; returns how many pairs there are."""
    path = folder / name
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(path, "pt") as handle:
            metadata = handle.metadata()
        state = load_file(path)
        pairs = _double(state)
        save_file(state, path, metadata=metadata)
        return pairs
    content = torch.load(path, weights_only=False)  # our own file, written by this test
    inner = content["model"] if "model" in content else content["state_dict"]
    pairs = _double(inner)
    torch.save(content, path)
    return pairs


def _double(state: dict[str, torch.Tensor]) -> int:
    pairs = 0
    for prefix, form in group_weight_keys(state).items():
        if form != "plain":
            v_key = weight_keys(prefix, form)[1]
            state[v_key] = state[v_key] * 2
            pairs += 1
    return pairs


@pytest.fixture(scope="module")
def sources(original_dirs, tmp_path_factory) -> dict[str, Path]:
    """One checkpoint folder per format, every stored pair's v doubled."""
    root = tmp_path_factory.mktemp("cli-round-trips")
    voice = from_pretrained(original_dirs["multi"], weight_norm="keep")
    folders = {}
    for fmt in FORMATS:
        folder = root / fmt
        if fmt == "coqui":
            case = COQUI_CASES["single"]
            folder.mkdir()
            torch.save(coqui_checkpoint(build_coqui(case, seed=3), case, form="parametrized"), folder / "model.pth")
            (folder / "config.json").write_text(json.dumps(coqui_config(case, "current")), encoding="utf-8")
        else:
            voice.save_pretrained(folder, format=fmt)
        assert _double_every_v(folder, WEIGHTS[fmt]) > 0
        folders[fmt] = folder
    return folders


PAIRS = list(itertools.permutations(FORMATS, 2))


@pytest.mark.parametrize("source, middle", PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
def test_cli_round_trip_keeps_every_stored_pair(source, middle, sources, tmp_path, capsys):
    there, back = tmp_path / "there", tmp_path / "back"
    code = main(["convert", str(sources[source]), str(there), "--to", middle, "--quiet"])
    if (source, middle) in REFUSED:
        err = capsys.readouterr().err
        assert code != 0 and err.startswith("error: ") and ("cannot represent" in err or "needs Coqui" in err), err
        assert not there.exists(), "a refused conversion must write nothing"
        return
    assert code == 0, capsys.readouterr().err
    assert main(["convert", str(there), str(back), "--to", source, "--quiet"]) == 0, capsys.readouterr().err
    before, after = _state(sources[source] / WEIGHTS[source]), _state(back / WEIGHTS[source])
    before = {k: t for k, t in before.items() if not k.startswith("disc.")}  # conversions carry the generator only
    # transformers stores the decoder plain: a pair that passes through it comes back as a new split of its weight
    # (or, in our own layout, which writes what it holds, as that plain weight).
    resplit = middle == "transformers"
    decoder = ("dec.", "model_g.dec.", "decoder.", "waveform_decoder.")
    kept = {key for key in before if not (resplit and key.startswith(decoder))}
    assert kept <= set(after) and (resplit or set(after) == set(before))
    for key in kept:
        assert torch.equal(after[key], before[key]), key
    if resplit:
        expected, returned = effective_weights(before), effective_weights(after)
        for key, tensor in expected.items():
            torch.testing.assert_close(returned[key], tensor, atol=1e-6, rtol=1e-6)
