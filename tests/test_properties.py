"""Property-based tests: the weight-norm engine against torch's own weight norm, and the key-mapping engine."""

from __future__ import annotations

import itertools
import re
from functools import lru_cache

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor, nn
from torch.nn.utils.parametrizations import weight_norm as torch_weight_norm

from vits_adapters.mapping.convert import rename_state_dict
from vits_adapters.errors import KeyMappingError
from vits_adapters.formats.writer import generator_state_dict, to_layout_keys
from vits_adapters.mapping.keymap import invert_rule, map_keys
from vits_adapters.arch.vits.hparams import VitsHParams
from vits_adapters.arch.vits.generator import VitsGenerator
from vits_adapters.mapping.registry import get_format
from vits_adapters.mapping.spec import DropRule, RenameRule
from vits_adapters.weightnorm.tensors import (
    FORMS,
    convert_weight_norm,
    fold_weight_norm,
    parse_weight_key,
    unfold_weight_norm,
    weight_keys,
)

PROPERTY = settings(max_examples=60, deadline=None)
DIRECTIONS = list(itertools.permutations(FORMS, 2))
# Relative tolerance per dtype: float32/float64 compute exactly as torch; half types round their result once.
RTOL = {torch.float64: 1e-12, torch.float32: 2e-6, torch.bfloat16: 1.6e-2, torch.float16: 2e-3}


@st.composite
def weights(draw: st.DrawFn, dtypes=(torch.float32, torch.float64)) -> tuple[Tensor, int | None]:
    shape = tuple(draw(st.lists(st.integers(1, 6), min_size=1, max_size=4)))
    dim = draw(st.sampled_from([*range(len(shape)), None]))
    dtype = draw(st.sampled_from(dtypes))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**32 - 1)))
    # Entries away from zero keep every slice's norm well conditioned in half precision.
    magnitude = torch.rand(shape, generator=gen, dtype=torch.float64) + 0.5
    sign = torch.where(torch.rand(shape, generator=gen) < 0.5, -1.0, 1.0).double()
    return (magnitude * sign).to(dtype), dim


def _close(actual: Tensor, expected: Tensor, dtype: torch.dtype) -> None:
    torch.testing.assert_close(actual.double(), expected.double(), rtol=RTOL[dtype], atol=RTOL[dtype])


def _torch_layer(weight: Tensor, dim: int | None) -> nn.Module:
    """A module holding ``weight`` under torch's own parametrized weight norm (dim None = one norm overall)."""
    module = nn.Module()
    module.weight = nn.Parameter(weight.clone())
    return torch_weight_norm(module, dim=dim)


@PROPERTY
@given(weights(dtypes=(torch.float32, torch.float64)))
def test_unfold_agrees_with_torchs_weight_norm(case: tuple[Tensor, int | None]) -> None:
    weight, dim = case
    layer = _torch_layer(weight, dim)
    g, v = unfold_weight_norm(weight, dim, key="k")
    torch_g = layer.parametrizations.weight.original0.detach()
    torch_v = layer.parametrizations.weight.original1.detach()
    assert torch.equal(v, torch_v)
    assert g.dtype == torch_g.dtype == weight.dtype
    _close(g.reshape(torch_g.shape), torch_g, weight.dtype)


@PROPERTY
@given(weights(dtypes=tuple(RTOL)), st.integers(0, 2**32 - 1))
def test_fold_agrees_with_torchs_weight_norm(case: tuple[Tensor, int | None], seed: int) -> None:
    v, dim = case
    layer = _torch_layer(v, dim)
    original0 = layer.parametrizations.weight.original0
    g = (torch.rand(original0.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 2 - 1)
    with torch.no_grad():
        original0.copy_(g.to(v.dtype))
    expected = layer.weight.detach().double()  # torch's forward, in v's dtype
    ours = fold_weight_norm(g.to(v.dtype).reshape(_g_shape(v, dim)), v, dim, key="k")
    assert ours.dtype == v.dtype
    _close(ours, expected, v.dtype)


def _g_shape(v: Tensor, dim: int | None) -> tuple[int, ...]:
    return () if dim is None else tuple(n if axis == dim else 1 for axis, n in enumerate(v.shape))


@PROPERTY
@given(weights(dtypes=tuple(RTOL)), st.sampled_from(DIRECTIONS), st.data())
def test_every_direction_round_trips_in_every_dtype(
    case: tuple[Tensor, int | None], forms: tuple[str, str], data: st.DataObject
) -> None:
    weight, dim = case
    src, tgt = forms
    target_dim = data.draw(st.sampled_from([*range(weight.ndim), None]), label="target_dim")
    prefix = "decoder.upsampler.0"
    source = convert_weight_norm({f"{prefix}.weight": weight}, prefix, source_form="plain", target_form=src, dim=dim)
    there = convert_weight_norm(source, prefix, source_form=src, target_form=tgt, dim=dim, target_dim=target_dim)
    back = convert_weight_norm(there, prefix, source_form=tgt, target_form=src, dim=target_dim, target_dim=dim)
    assert tuple(there) == weight_keys(prefix, tgt) and tuple(back) == weight_keys(prefix, src)
    assert all(t.dtype == weight.dtype for t in (*there.values(), *back.values()))
    for tensors, form, d in ((there, tgt, target_dim), (back, src, dim)):
        effective = tensors[f"{prefix}.weight"] if form == "plain" else _torch_effective(tensors, prefix, form, d)
        # Low-precision paths round at most twice (split, then refold): twice the single-rounding tolerance.
        torch.testing.assert_close(
            effective.double(), weight.double(), rtol=2 * RTOL[weight.dtype], atol=2 * RTOL[weight.dtype]
        )


def _torch_effective(tensors: dict[str, Tensor], prefix: str, form: str, dim: int | None) -> Tensor:
    """The effective weight torch's parametrized weight norm computes from a (g, v) pair, in float64."""
    g, v = (tensors[key].double() for key in weight_keys(prefix, form))
    layer = _torch_layer(v, dim)
    with torch.no_grad():
        layer.parametrizations.weight.original0.copy_(g.reshape(layer.parametrizations.weight.original0.shape))
    return layer.weight.detach()


@PROPERTY
@given(weights(), st.integers(-4, -1))
def test_negative_dims_are_refused_naming_the_key(case: tuple[Tensor, int | None], dim: int) -> None:
    weight, _ = case
    with pytest.raises(KeyMappingError, match=r"weight-norm dim for 'dec\.ups\.0' must be a non-negative int or None"):
        unfold_weight_norm(weight, dim, key="dec.ups.0")
    g, v = unfold_weight_norm(weight, None, key="dec.ups.0")
    with pytest.raises(KeyMappingError, match="non-negative"):
        fold_weight_norm(g, v, dim, key="dec.ups.0")


# --- key mapping ------------------------------------------------------------------------------------------------

_SMALL = VitsHParams(
    n_vocab=12, spec_channels=9, inter_channels=4, hidden_channels=4, filter_channels=8, n_heads=2, n_layers=2,
    upsample_initial_channel=8, n_speakers=3, gin_channels=4, resblock_kernel_sizes=(3,),
    resblock_dilation_sizes=((1, 3, 5),), upsample_rates=(2, 2), upsample_kernel_sizes=(4, 4), posterior_n_layers=2,
)
_DROPPED_EXAMPLES = {"coqui": ["disc.nets.0.convs.0.weight"], "piper": ["model_d.discriminators.0.convs.0.weight"]}


@lru_cache(maxsize=None)
def _layout(fmt: str, use_sdp: bool, form: str) -> tuple[dict[str, Tensor], dict[str, str]]:
    """A full source state dict of ``fmt`` (meta tensors), and the reference-model key each source key holds."""
    with torch.device("meta"):
        generator = VitsGenerator(VitsHParams(**{**_SMALL.to_dict(), "use_sdp": use_sdp}), weight_norm="keep",
                                  weight_norm_dims=get_format(fmt).weight_norm_dims)
    state = generator_state_dict(generator, form, rules=get_format(fmt).weight_norm_rules, plain_layers=r"decoder\..+" if fmt == "transformers" else None)
    spec = get_format(fmt)
    inverse = map_keys(state, [invert_rule(rule) for rule in spec.rename_rules]) if fmt != "vits-adapters" else None
    reference = {key: key for key in state} if inverse is None else {s: t for t, (s, _) in inverse.renamed.items()}
    tensors = state if inverse is None else to_layout_keys(state, fmt)  # in the layout's own shapes
    prefix = spec.container.strip_prefix or ""
    return {f"{prefix}{k}": tensors[k] for k in reference}, {f"{prefix}{k}": t for k, t in reference.items()}


@PROPERTY
@given(
    st.sampled_from(["vits-original", "transformers", "piper", "coqui", "vits-adapters"]),
    st.booleans(),
    st.sampled_from(FORMS),
    st.data(),
)
def test_every_source_key_lands_in_exactly_one_place(fmt: str, use_sdp: bool, form: str, data: st.DataObject) -> None:
    full, reference = _layout(fmt, use_sdp, form)
    units: dict[str, list[str]] = {}  # a g/v pair is drawn whole: half a pair is its own (tested) error
    for key in sorted(full):
        parsed = parse_weight_key(key)
        units.setdefault(parsed[0] if parsed and parsed[1] != "plain" else key, []).append(key)
    chosen = data.draw(st.lists(st.sampled_from(sorted(units)), unique=True, max_size=len(units)), label="units")
    # Keys that decide a conditional ("when") rule always come along: without them that rule rightly stays off.
    spec = get_format(fmt)
    witnesses = [k for k in full if any(rule.when is not None and rule.when.fullmatch(k) for rule in spec.rename_rules)]
    keys = sorted({key for unit in chosen for key in units[unit]} | set(witnesses))
    junk = data.draw(st.lists(st.from_regex(r"junk_[a-z]{1,4}(\.[0-9a-z_]{1,5}){0,3}", fullmatch=True), unique=True, max_size=5))
    dropped = data.draw(st.lists(st.sampled_from(_DROPPED_EXAMPLES.get(fmt, ["x"])), unique=True)) if fmt in _DROPPED_EXAMPLES else []
    meta = torch.empty(1, device="meta")
    source = {**{k: full[k] for k in keys}, **{k: meta for k in [*junk, *dropped]}}

    renamed = rename_state_dict(source, spec)

    placed = [renamed.origins[t][0] for t in renamed.tensors] + [r.source[0] for r in renamed.dropped] + list(renamed.unmapped)
    assert sorted(placed) == sorted(source)  # each source key exactly once: renamed, dropped or unmapped
    assert len(set(renamed.tensors)) == len(renamed.tensors) == len({renamed.origins[t][0] for t in renamed.tensors})
    assert all(record.detail for record in renamed.dropped)  # every drop carries its reason
    assert set(renamed.unmapped) == set(junk)
    for target, (source_key, _) in renamed.origins.items():
        if source_key in reference:
            assert target == reference[source_key]  # the key the layout writer wrote it from
    assert {r.source[0] for r in renamed.dropped} == set(dropped)


@st.composite
def rule_sets(draw: st.DrawFn) -> tuple[list[RenameRule], list[DropRule], list[str]]:
    """Rules with distinct literal source prefixes whose targets may share a prefix, and keys for them."""
    n = draw(st.integers(1, 4))
    sources = [f"src{i}" for i in range(n)]
    targets = [f"dst{draw(st.integers(0, n - 1))}" for _ in range(n)]
    rules = [
        RenameRule(re.compile(rf"{s}\.(\d+)\.(weight|bias)"), rf"{t}.\1.\2", (), f"rule {i}")
        for i, (s, t) in enumerate(zip(sources, targets))
    ]
    drops = [DropRule(re.compile(r"drop\..+"), "training only", "drop 0")]
    names = st.one_of(
        st.builds(lambda s, i, p: f"{s}.{i}.{p}", st.sampled_from(sources), st.integers(0, 3), st.sampled_from(["weight", "bias"])),
        st.builds(lambda i: f"drop.{i}", st.integers(0, 3)),
        st.builds(lambda i: f"other.{i}", st.integers(0, 3)),
    )
    keys = draw(st.lists(names, unique=True, max_size=12))
    return rules, drops, keys


def _expected_target(key: str, rules: list[RenameRule]) -> str | None:
    """The target a key maps to, computed without the engine: swap the literal prefix."""
    head, _, rest = key.partition(".")
    for rule in rules:
        if rule.pattern.pattern.startswith(head + "\\."):
            return f"{rule.template.split('.', 1)[0]}.{rest}"
    return None


@PROPERTY
@given(rule_sets())
def test_map_keys_places_each_key_once_or_refuses_a_collision(case) -> None:
    rules, drops, keys = case
    expected = {key: target for key in keys if (target := _expected_target(key, rules)) is not None}
    collide = len(set(expected.values())) < len(expected)
    if collide:
        with pytest.raises(KeyMappingError, match=r"target key\(s\) would be written by more than one source key"):
            map_keys(keys, rules, drops)
        return
    mapping = map_keys(keys, rules, drops)
    assert {key: target for key, (target, _) in mapping.renamed.items()} == expected
    assert set(mapping.dropped) == {k for k in keys if k.startswith("drop.")}
    assert all(reason == "training only" for reason in mapping.dropped.values())
    assert set(mapping.unmapped) == {k for k in keys if k.startswith("other.")}
    assert len(mapping.renamed) + len(mapping.dropped) + len(mapping.unmapped) == len(keys)
