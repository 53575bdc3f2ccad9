"""README's documented call signatures and CLI flags agree with the code (a doc that overstates is a defect)."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest
import torch

from vits_adapters import Voice, from_pretrained
from vits_adapters.cli.entry import build_parser

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _documented(call: str) -> list[tuple[str, ast.expr | None]]:
    """The parameters README gives for ``call`` in backticks (the longest such signature), with default nodes."""
    found = re.findall(rf"`\.?{call}\((.*?)\)`", README, flags=re.DOTALL)
    assert found, f"README documents no signature for {call}"
    args = ast.parse(f"def f({max(found, key=len)}): pass").body[0].args
    positional = [None] * (len(args.args) - len(args.defaults)) + list(args.defaults)
    return [(a.arg, d) for a, d in zip(args.args, positional)] + [
        (a.arg, d) for a, d in zip(args.kwonlyargs, args.kw_defaults)
    ]


def _documented_values(node: ast.expr) -> list[object]:
    """A default README writes as a value, or as ``"a"|"b"`` alternatives (the documented choices)."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _documented_values(node.left) + _documented_values(node.right)
    if ast.unparse(node) == "torch.float32":
        return [torch.float32]
    return [ast.literal_eval(node)]


@pytest.mark.parametrize(
    ("call", "function"),
    [("from_pretrained", from_pretrained), ("synthesize", Voice.synthesize), ("save_pretrained", Voice.save_pretrained)],
)
def test_documented_signature_is_the_real_one(call: str, function) -> None:
    documented = _documented(call)
    actual = [(name, p.default) for name, p in inspect.signature(function).parameters.items() if name != "self"]
    assert [name for name, _ in documented[1:]] == [name for name, _ in actual[1:]], call
    for (name, node), (_, default) in zip(documented[1:], actual[1:]):
        if node is None:
            assert default is inspect.Parameter.empty, (call, name)
            continue
        values = _documented_values(node)
        # A list of choices documents what may be passed; the real default is one of them or None.
        assert default in values or (len(values) > 1 and default is None), (call, name, values, default)


def _subcommand_flags() -> dict[str, set[str]]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return {name: {s for a in p._actions for s in a.option_strings} for name, p in sub.choices.items()}


def test_documented_no_strict_commands_are_the_ones_that_take_it() -> None:
    flags = _subcommand_flags()
    taking = {name for name, options in flags.items() if "--no-strict" in options}
    sentence = re.search(r"`inspect` and `synth` also take `--no-strict`", README)
    assert sentence, "README must say which commands take --no-strict"
    assert taking == {"inspect", "synth"}
    assert "--no-strict" not in flags["convert"] and "--no-strict" not in flags["export-onnx"]
