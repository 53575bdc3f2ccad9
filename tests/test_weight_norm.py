"""Tests for converting weight-norm layers between plain, legacy and parametrized forms."""

from __future__ import annotations

import ast
import inspect
import itertools
import re
import warnings
from collections.abc import Callable

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor, nn
from torch.nn.utils import parametrizations

import vits_adapters.weightnorm.tensors as weight_norm_module
from vits_adapters.errors import KeyMappingError
from vits_adapters.weightnorm.tensors import (
    FORMS,
    check_weight_norm_dim,
    convert_weight_norm,
    fold_weight_norm,
    group_weight_keys,
    parse_weight_key,
    unfold_weight_norm,
    weight_keys,
)

PREFIX = "dec.ups.0"
SPLIT_FORMS = ("legacy", "parametrized")
DIRECTIONS = [(src, tgt) for src, tgt in itertools.permutations(FORMS, 2)]

# --- references independent of the module under test ----------------------------------------------


def apply_weight_norm(module: nn.Module, form: str, dim: int | None) -> nn.Module:
    """Apply torch's own weight norm in ``form`` (the legacy API is the reference here)."""
    if form == "legacy":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            return nn.utils.weight_norm(module, dim=dim)
    return parametrizations.weight_norm(module, dim=dim)


def effective_weight(module: nn.Module, form: str) -> Tensor:
    """The weight torch itself would use in forward for a weight-normed ``module``."""
    if form == "legacy":
        with torch.no_grad():
            module(torch.zeros(1, *_input_shape(module)))  # the pre-hook recomputes .weight
    return module.weight.detach().clone()


def _input_shape(module: nn.Module) -> tuple[int, ...]:
    if isinstance(module, nn.Linear):
        return (module.in_features,)
    return (module.in_channels, 20)


def ref_norm(v: Tensor, dim: int | None) -> Tensor:
    """Float64 2-norm over every dim but ``dim`` in broadcast shape, written out longhand."""
    v = v.double()
    if dim is None:
        return v.pow(2).sum().sqrt()
    others = [axis for axis in range(v.ndim) if axis != dim]
    return v.pow(2).sum(dim=others, keepdim=True).sqrt()


def ref_fold(g: Tensor, v: Tensor, dim: int | None) -> Tensor:
    return g.double() * v.double() / ref_norm(v, dim)


def broadcast_shape(shape: tuple[int, ...], dim: int | None) -> tuple[int, ...]:
    if dim is None:
        return ()
    return tuple(size if axis == dim else 1 for axis, size in enumerate(shape))


def effective_of(tensors: dict[str, Tensor], prefix: str, form: str, dim: int | None) -> Tensor:
    """Float64 effective weight of one layer in ``form``, via the reference fold."""
    keys = weight_keys(prefix, form)
    if form == "plain":
        return tensors[keys[0]].double()
    return ref_fold(tensors[keys[0]], tensors[keys[1]], dim)


def close(actual: Tensor, expected: Tensor, tol: float = 1e-6) -> None:
    """Within ``tol``, relative for large entries (a float32 ulp of 33.0 is already 4e-6)."""
    torch.testing.assert_close(actual.double(), expected.double(), rtol=tol, atol=tol)


# --- torch layers used as ground truth ------------------------------------------------------------

LAYERS: dict[str, Callable[[], nn.Module]] = {
    "conv1d": lambda: nn.Conv1d(4, 6, 3),
    "dilated_conv1d": lambda: nn.Conv1d(6, 6, 3, dilation=3, padding=3),
    "conv_transpose1d": lambda: nn.ConvTranspose1d(8, 4, 16, stride=8, padding=4),
    "linear": lambda: nn.Linear(5, 7),
}
LAYER_DIMS = [
    (name, dim)
    for name in LAYERS
    for dim in ((0, 1, None) if name == "linear" else (0, 1, 2, None))
]


def torch_weight_normed(name: str, form: str, dim: int | None, seed: int) -> nn.Module:
    """A layer with torch's weight norm applied and a random g (so g is not just ||v||)."""
    torch.manual_seed(seed)
    module = apply_weight_norm(LAYERS[name](), form, dim)
    g_key, _ = weight_keys("", form)
    with torch.no_grad():
        g = module.get_parameter(g_key)
        g.copy_(torch.randn_like(g) * 2)
    return module


@pytest.mark.parametrize("form", SPLIT_FORMS)
@pytest.mark.parametrize(("name", "dim"), LAYER_DIMS)
def test_fold_matches_torch_effective_weight(name: str, dim: int | None, form: str) -> None:
    module = torch_weight_normed(name, form, dim, seed=1)
    state = module.state_dict()
    g_key, v_key = weight_keys("", form)  # also proves our key names are torch's
    g, v = state[g_key], state[v_key]
    assert tuple(g.shape) == broadcast_shape(tuple(v.shape), dim)
    expected = effective_weight(module, form)
    assert not torch.allclose(expected, v), "g must be randomised for a meaningful test"

    folded = fold_weight_norm(g, v, dim, key=g_key)

    assert folded.dtype == v.dtype
    assert folded.shape == v.shape
    close(folded, expected)


@pytest.mark.parametrize("form", SPLIT_FORMS)
@pytest.mark.parametrize(("name", "dim"), LAYER_DIMS)
def test_unfold_matches_torch_decomposition(name: str, dim: int | None, form: str) -> None:
    torch.manual_seed(2)
    module = LAYERS[name]()
    weight = torch.randn_like(module.weight) * 3
    with torch.no_grad():
        module.weight.copy_(weight)
    state = apply_weight_norm(module, form, dim).state_dict()
    torch_g, torch_v = (state[key] for key in weight_keys("", form))

    g, v = unfold_weight_norm(weight, dim, key="w")

    assert g.shape == torch_g.shape
    assert v.shape == torch_v.shape
    close(g, torch_g)
    close(v, torch_v)


def test_conv_transpose_dim0_normalises_input_channels() -> None:
    module = torch_weight_normed("conv_transpose1d", "parametrized", 0, seed=3)
    state = module.state_dict()
    g_key, v_key = weight_keys("", "parametrized")
    g, v = state[g_key], state[v_key]
    assert v.shape == (8, 4, 16)  # (in, out, k)
    assert g.shape == (8, 1, 1)  # one entry per input channel
    expected = effective_weight(module, "parametrized")

    # Normalising per output channel (the conv-style intuition) is a different weight.
    per_output = v * g / v.pow(2).sum(dim=(0, 2), keepdim=True).sqrt()
    assert not torch.allclose(per_output, expected, atol=1e-3)

    close(fold_weight_norm(g, v, 0, key=g_key), expected)
    assert unfold_weight_norm(expected, 0, key="w")[0].shape == (8, 1, 1)
    with pytest.raises(KeyMappingError, match=re.escape(g_key)):
        check_weight_norm_dim(g, v, 1, key=g_key)


# --- key naming -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "form", "expected"),
    [
        ("dec.ups.0", "plain", ("dec.ups.0.weight",)),
        ("dec.ups.0", "legacy", ("dec.ups.0.weight_g", "dec.ups.0.weight_v")),
        (
            "dec.ups.0",
            "parametrized",
            (
                "dec.ups.0.parametrizations.weight.original0",
                "dec.ups.0.parametrizations.weight.original1",
            ),
        ),
        ("", "plain", ("weight",)),
        ("", "legacy", ("weight_g", "weight_v")),
        (
            "",
            "parametrized",
            ("parametrizations.weight.original0", "parametrizations.weight.original1"),
        ),
    ],
)
def test_weight_keys(prefix: str, form: str, expected: tuple[str, ...]) -> None:
    assert weight_keys(prefix, form) == expected
    for key in expected:
        assert parse_weight_key(key) == (prefix, form)


def test_weight_keys_rejects_unknown_form() -> None:
    with pytest.raises(ValueError, match="weightnorm"):
        weight_keys("a", "weightnorm")


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("a.weight", ("a", "plain")),
        ("a.b.weight_g", ("a.b", "legacy")),
        ("a.weight_v", ("a", "legacy")),
        ("a.parametrizations.weight.original0", ("a", "parametrized")),
        ("a.parametrizations.weight.original1", ("a", "parametrized")),
        ("weight", ("", "plain")),
        ("weight_g", ("", "legacy")),
        ("parametrizations.weight.original1", ("", "parametrized")),
        ("emb_g.weight", ("emb_g", "plain")),
        ("a.bias", None),
        ("a.my_weight", None),
        ("a.my_weight_g", None),
        ("a.weight.extra", None),
        ("a.weights", None),
        ("a.parametrizations.weight.original2", None),
        ("a.parametrizations.bias.original0", None),
    ],
)
def test_parse_weight_key(key: str, expected: tuple[str, str] | None) -> None:
    assert parse_weight_key(key) == expected


def test_group_weight_keys_on_a_real_model() -> None:
    model = nn.Module()
    model.pre = nn.Conv1d(2, 4, 3)
    upsample = apply_weight_norm(nn.ConvTranspose1d(4, 2, 4, stride=2), "legacy", 0)
    model.ups = nn.ModuleList([upsample])
    model.post = apply_weight_norm(nn.Conv1d(2, 1, 3, bias=False), "parametrized", None)
    model.emb = nn.Embedding(3, 4)
    model.norm = nn.LayerNorm(4)

    assert group_weight_keys(model.state_dict()) == {
        "pre": "plain",
        "ups.0": "legacy",
        "post": "parametrized",
        "emb": "plain",
        "norm": "plain",
    }


def test_group_weight_keys_ignores_other_keys_and_duplicates() -> None:
    keys = iter(
        ["weight_g", "weight_v", "weight_v", "bias", "a.bias", "a.running_mean", "a.my_weight_g"]
    )
    assert group_weight_keys(keys) == {"": "legacy"}
    assert group_weight_keys([]) == {}


def _listed(message: str, key: str) -> bool:
    """Whether ``key`` appears in ``message`` as a whole key, not as the prefix of another."""
    return re.search(rf"(?<![\w.]){re.escape(key)}(?![\w.])", message) is not None


@pytest.mark.parametrize(
    "keys",
    [
        ["x.weight", "x.weight_g", "x.weight_v"],
        ["x.weight", "x.parametrizations.weight.original0", "x.parametrizations.weight.original1"],
        [
            "x.weight_g",
            "x.weight_v",
            "x.parametrizations.weight.original0",
            "x.parametrizations.weight.original1",
        ],
        ["x.weight", "x.weight_g"],
    ],
)
def test_group_weight_keys_rejects_mixed_forms(keys: list[str]) -> None:
    with pytest.raises(KeyMappingError) as info:
        group_weight_keys([*keys, "x.bias", "ok.weight"])
    message = str(info.value)
    assert "'x'" in message
    for key in keys:
        assert _listed(message, key), key
    assert not _listed(message, "ok.weight")


@pytest.mark.parametrize(
    ("present", "absent"),
    [
        ("x.weight_g", "x.weight_v"),
        ("x.weight_v", "x.weight_g"),
        ("x.parametrizations.weight.original0", "x.parametrizations.weight.original1"),
        ("x.parametrizations.weight.original1", "x.parametrizations.weight.original0"),
    ],
)
def test_group_weight_keys_rejects_incomplete_pairs(present: str, absent: str) -> None:
    with pytest.raises(KeyMappingError) as info:
        group_weight_keys([present, "x.bias", "y.weight"])
    message = str(info.value)
    assert _listed(message, present)
    assert _listed(message, absent)
    assert "expected" in message and "found" in message and "missing" in message


def test_group_weight_keys_reports_every_bad_layer() -> None:
    with pytest.raises(KeyMappingError) as info:
        group_weight_keys(["a.weight_g", "b.weight", "b.weight_v", "b.weight_g", "c.weight"])
    message = str(info.value)
    for key in ("a.weight_g", "a.weight_v", "b.weight", "b.weight_g", "b.weight_v"):
        assert _listed(message, key), key


# --- dim validation -------------------------------------------------------------------------------

V_SHAPE = (6, 4, 3)


@pytest.mark.parametrize(
    ("g_shape", "dim"),
    [((6, 1, 1), 0), ((1, 4, 1), 1), ((1, 1, 3), 2), ((), None)],
)
def test_check_weight_norm_dim_accepts_broadcast_shapes(
    g_shape: tuple[int, ...], dim: int | None
) -> None:
    check_weight_norm_dim(torch.ones(g_shape), torch.ones(V_SHAPE), dim, key="k")


@pytest.mark.parametrize(
    ("g_shape", "dim"),
    [
        ((6, 1, 1), 1),  # dim 0's g declared as dim 1
        ((6, 1, 1), 5),  # dim out of range
        ((6, 1, 1), 3),
        ((6, 1, 1), -1),  # negative dims are not part of the API
        ((1, 1, 3), -1),
        ((6, 1, 1), True),
        ((6, 1, 3), 0),  # extra elements
        ((7, 1, 1), 0),
        ((6, 4, 3), 0),
        ((6,), 0),  # not in broadcast shape
        ((6, 1, 1, 1), 0),
        ((1, 1, 1), None),  # only a 0-dim g is valid for dim None
        ((1,), None),
        ((), 0),
    ],
)
def test_bad_dims_raise_naming_the_key(g_shape: tuple[int, ...], dim: object) -> None:
    key = "enc.convs.3.weight_g"
    g, v = torch.ones(g_shape), torch.ones(V_SHAPE)
    with pytest.raises(KeyMappingError, match=re.escape(key)):
        check_weight_norm_dim(g, v, dim, key=key)  # type: ignore[arg-type]
    with pytest.raises(KeyMappingError, match=re.escape(key)):
        fold_weight_norm(g, v, dim, key=key)  # type: ignore[arg-type]


def test_bad_dim_message_says_expected_and_found() -> None:
    with pytest.raises(KeyMappingError) as info:
        check_weight_norm_dim(torch.ones(6, 1, 1), torch.ones(V_SHAPE), 1, key="k.weight_g")
    message = str(info.value)
    assert "expected shape (1, 4, 1)" in message
    assert "found (6, 1, 1)" in message
    assert "dim 0" in message  # points at the dim the g would fit


@pytest.mark.parametrize("dim", [3, 7, -1, -3])
def test_unfold_rejects_bad_dims(dim: int) -> None:
    with pytest.raises(KeyMappingError, match=re.escape("a.weight")):
        unfold_weight_norm(torch.ones(V_SHAPE), dim, key="a.weight")


def test_convert_validates_dims_and_shapes() -> None:
    g_key, v_key = weight_keys(PREFIX, "legacy")
    bad = {g_key: torch.ones(6, 1, 1), v_key: torch.ones(V_SHAPE)}
    for target in FORMS:  # including the pure-rename path
        with pytest.raises(KeyMappingError, match=re.escape(g_key)):
            convert_weight_norm(bad, PREFIX, source_form="legacy", target_form=target, dim=1)
        with pytest.raises(KeyMappingError, match=re.escape(g_key)):
            convert_weight_norm(bad, PREFIX, source_form="legacy", target_form=target, dim=-1)
    plain = {f"{PREFIX}.weight": torch.ones(V_SHAPE)}
    for dim in (3, -1):
        with pytest.raises(KeyMappingError, match=re.escape(f"{PREFIX}.weight")):
            convert_weight_norm(plain, PREFIX, source_form="plain", target_form="legacy", dim=dim)
    good = {g_key: torch.ones(6, 1, 1), v_key: torch.ones(V_SHAPE)}
    with pytest.raises(KeyMappingError, match=re.escape(g_key)):
        convert_weight_norm(
            good, PREFIX, source_form="legacy", target_form="parametrized", dim=0, target_dim=4
        )


def test_non_float_tensors_are_rejected() -> None:
    with pytest.raises(KeyMappingError, match="w.weight"):
        unfold_weight_norm(torch.ones(3, 2, dtype=torch.int64), 0, key="w.weight")
    with pytest.raises(KeyMappingError, match="w.weight_g"):
        fold_weight_norm(torch.ones(3, 1), torch.ones(3, 2, dtype=torch.int32), 0, key="w.weight_g")


# --- convert_weight_norm --------------------------------------------------------------------------


def layer_forms(
    dim: int | None = 0, seed: int = 4
) -> tuple[dict[str, dict[str, Tensor]], Tensor]:
    """One Conv1d(4->6, k3) layer in every form (built by torch), plus its effective weight."""
    torch.manual_seed(seed)
    module = apply_weight_norm(nn.Conv1d(4, 6, 3), "parametrized", dim)
    with torch.no_grad():
        g = module.parametrizations.weight.original0
        g.copy_(torch.rand_like(g) + 0.5)  # positive, so g survives a trip through plain
    state = module.state_dict()
    g_t, v_t = (state[key].clone() for key in weight_keys("", "parametrized"))
    weight = module.weight.detach().clone()
    others = {f"{PREFIX}.bias": torch.zeros(6), "dec.ups.1.weight": torch.ones(2, 2)}
    forms = {
        "plain": {f"{PREFIX}.weight": weight, **others},
        "legacy": {f"{PREFIX}.weight_g": g_t, f"{PREFIX}.weight_v": v_t, **others},
        "parametrized": {
            f"{PREFIX}.parametrizations.weight.original0": g_t.clone(),
            f"{PREFIX}.parametrizations.weight.original1": v_t.clone(),
            **others,
        },
    }
    return forms, weight


def direction(v: Tensor, dim: int | None) -> Tensor:
    return v.double() / ref_norm(v, dim)


@pytest.mark.parametrize(("src", "tgt"), list(itertools.product(FORMS, FORMS)))
def test_convert_every_direction_and_back(src: str, tgt: str) -> None:
    forms, weight = layer_forms(dim=0)
    source = forms[src]

    out = convert_weight_norm(source, PREFIX, source_form=src, target_form=tgt, dim=0)

    assert tuple(out) == weight_keys(PREFIX, tgt)  # only this layer's weight keys, in (g, v) order
    if tgt != "plain":
        assert out[weight_keys(PREFIX, tgt)[0]].shape == (6, 1, 1)
    close(effective_of(out, PREFIX, tgt, 0), weight)

    back = convert_weight_norm(out, PREFIX, source_form=tgt, target_form=src, dim=0)
    assert tuple(back) == weight_keys(PREFIX, src)
    if src == "plain":
        close(back[f"{PREFIX}.weight"], weight)
    else:
        g_key, v_key = weight_keys(PREFIX, src)
        g0, v0, g1, v1 = source[g_key], source[v_key], back[g_key], back[v_key]
        close(g1, g0)
        close(direction(v1, 0), direction(v0, 0))
        if tgt != "plain":
            assert torch.equal(v1, v0)


@pytest.mark.parametrize(("src", "tgt"), list(itertools.product(SPLIT_FORMS, SPLIT_FORMS)))
@pytest.mark.parametrize("dim", [0, 2, None])
def test_same_dim_split_conversion_is_a_pure_rename(src: str, tgt: str, dim: int | None) -> None:
    forms, _ = layer_forms(dim=dim)
    source = forms[src]
    out = convert_weight_norm(source, PREFIX, source_form=src, target_form=tgt, dim=dim)
    for src_key, tgt_key in zip(weight_keys(PREFIX, src), weight_keys(PREFIX, tgt)):
        assert out[tgt_key] is source[src_key]
        assert torch.equal(out[tgt_key], source[src_key])
    explicit = convert_weight_norm(
        source, PREFIX, source_form=src, target_form=tgt, dim=dim, target_dim=dim
    )
    assert all(a is b for a, b in zip(explicit.values(), out.values()))


def test_plain_to_plain_returns_the_same_object() -> None:
    forms, _ = layer_forms()
    source = forms["plain"]
    out = convert_weight_norm(source, PREFIX, source_form="plain", target_form="plain", dim=None)
    assert out[f"{PREFIX}.weight"] is source[f"{PREFIX}.weight"]


@pytest.mark.parametrize("tgt", SPLIT_FORMS)
@pytest.mark.parametrize("src", SPLIT_FORMS)
@pytest.mark.parametrize(("target_dim", "g_shape"), [(1, (1, 4, 1)), (2, (1, 1, 3)), (None, ())])
def test_changing_dim_keeps_the_effective_weight(
    src: str, tgt: str, target_dim: int | None, g_shape: tuple[int, ...]
) -> None:
    forms, weight = layer_forms(dim=0)
    out = convert_weight_norm(
        forms[src], PREFIX, source_form=src, target_form=tgt, dim=0, target_dim=target_dim
    )
    g, v = (out[key] for key in weight_keys(PREFIX, tgt))
    assert g.shape == g_shape
    close(effective_of(out, PREFIX, tgt, target_dim), weight)
    close(g, ref_norm(weight, target_dim))  # the new g is the norm of the weight along the new dim


def test_plain_source_ignores_dim_but_uses_target_dim() -> None:
    forms, weight = layer_forms()
    out = convert_weight_norm(
        forms["plain"], PREFIX, source_form="plain", target_form="legacy", dim=None, target_dim=2
    )
    assert out[f"{PREFIX}.weight_g"].shape == (1, 1, 3)
    close(effective_of(out, PREFIX, "legacy", 2), weight)


@pytest.mark.parametrize(("src", "tgt"), list(itertools.product(FORMS, FORMS)))
@pytest.mark.parametrize("target_dim", [0, 1])
def test_convert_never_mutates_its_input(src: str, tgt: str, target_dim: int) -> None:
    forms, _ = layer_forms()
    source = forms[src]
    snapshot = {key: (id(value), value.clone()) for key, value in source.items()}

    out = convert_weight_norm(
        source, PREFIX, source_form=src, target_form=tgt, dim=0, target_dim=target_dim
    )

    assert list(source) == list(snapshot)
    for key, (ident, value) in snapshot.items():
        assert id(source[key]) == ident
        assert torch.equal(source[key], value)
    assert out is not source
    # Freshly computed outputs share no memory with the input.
    inputs = [value for key, value in source.items() if key.startswith(PREFIX)]
    for value in out.values():
        if all(value is not original for original in inputs):
            value.add_(1.0)
    for key, (_, value) in snapshot.items():
        assert torch.equal(source[key], value)


def test_convert_names_missing_keys() -> None:
    forms, _ = layer_forms()
    partial = {k: v for k, v in forms["legacy"].items() if not k.endswith("weight_v")}
    with pytest.raises(KeyMappingError) as info:
        convert_weight_norm(partial, PREFIX, source_form="legacy", target_form="plain", dim=0)
    message = str(info.value)
    assert _listed(message, f"{PREFIX}.weight_v")
    assert "found" in message and _listed(message, f"{PREFIX}.weight_g")

    with pytest.raises(KeyMappingError) as info:
        convert_weight_norm(
            forms["legacy"], PREFIX, source_form="parametrized", target_form="plain", dim=0
        )
    message = str(info.value)
    for key in weight_keys(PREFIX, "parametrized") + weight_keys(PREFIX, "legacy"):
        assert _listed(message, key), key

    with pytest.raises(KeyMappingError, match=re.escape("other.weight")):
        convert_weight_norm(
            forms["plain"], "other", source_form="plain", target_form="legacy", dim=0
        )


def test_convert_rejects_unknown_forms() -> None:
    forms, _ = layer_forms()
    plain = forms["plain"]
    with pytest.raises(ValueError, match="weightnorm"):
        convert_weight_norm(plain, PREFIX, source_form="plain", target_form="weightnorm", dim=0)
    with pytest.raises(ValueError, match="fused"):
        convert_weight_norm(plain, PREFIX, source_form="fused", target_form="plain", dim=0)


def _build(form: str, dim: int | None) -> nn.Module:
    model = nn.Sequential(
        nn.ConvTranspose1d(8, 4, 16, stride=8, padding=4), nn.Conv1d(4, 3, 5, dilation=2)
    )
    if form != "plain":
        for layer in model:
            apply_weight_norm(layer, form, dim)
    return model


@pytest.mark.parametrize(("src", "tgt"), DIRECTIONS)
@pytest.mark.parametrize(("dim", "target_dim"), [(0, 0), (None, 1)])
def test_converted_state_dict_loads_into_torch_and_computes_the_same(
    src: str, tgt: str, dim: int | None, target_dim: int | None
) -> None:
    torch.manual_seed(5)
    source_model = _build(src, dim)
    if src != "plain":
        with torch.no_grad():
            for layer in source_model:
                g = layer.get_parameter(weight_keys("", src)[0])
                g.copy_(torch.rand_like(g) + 0.5)
    state = source_model.state_dict()
    converted = {key: value for key, value in state.items() if parse_weight_key(key) is None}
    for prefix, form in group_weight_keys(state).items():
        assert form == src
        converted.update(
            convert_weight_norm(
                state, prefix, source_form=src, target_form=tgt, dim=dim, target_dim=target_dim
            )
        )
    target_model = _build(tgt, target_dim)
    target_model.load_state_dict(converted, strict=True)

    x = torch.randn(2, 8, 7)
    with torch.no_grad():
        torch.testing.assert_close(target_model(x), source_model(x), rtol=1e-5, atol=1e-5)


# --- dtypes ---------------------------------------------------------------------------------------

LOW = [(torch.float16, 2.0**-10), (torch.bfloat16, 2.0**-7)]


def _low_precision_pair(
    dtype: torch.dtype, shape: tuple[int, ...] = V_SHAPE
) -> tuple[Tensor, Tensor]:
    gen = torch.Generator().manual_seed(6)
    g = (torch.rand(shape[0], 1, 1, generator=gen, dtype=torch.float64) + 0.5).to(dtype)
    v = torch.randn(shape, generator=gen, dtype=torch.float64).to(dtype)
    return g, v


def assert_rounded_once(actual: Tensor, exact: Tensor) -> None:
    """``actual`` is ``exact`` rounded once to its dtype, bar a rare near-midpoint tie.

    A float32 computation is within 1e-7 of exact, far below a float16/bfloat16 half-ulp, so it
    rounds like the exact value; computing in the low dtype (or rounding twice) does not.
    """
    mismatched = (actual != exact.to(actual.dtype)).sum().item()
    allowed = max(1, actual.numel() // 200)
    assert mismatched <= allowed, f"{mismatched} of {actual.numel()} entries not rounded once"


@pytest.mark.parametrize(("dtype", "eps"), LOW)
def test_low_precision_fold_and_unfold(dtype: torch.dtype, eps: float) -> None:
    g, v = _low_precision_pair(dtype)
    folded = fold_weight_norm(g, v, 0, key="k")
    assert folded.dtype == dtype
    torch.testing.assert_close(folded.double(), ref_fold(g, v, 0), rtol=eps, atol=1e-5)
    assert_rounded_once(folded, ref_fold(g, v, 0))

    g2, v2 = unfold_weight_norm(v, 0, key="k")
    assert g2.dtype == dtype and v2.dtype == dtype
    torch.testing.assert_close(g2.double(), ref_norm(v, 0), rtol=eps, atol=1e-5)
    assert_rounded_once(g2, ref_norm(v, 0))
    assert torch.equal(v2, v)


@pytest.mark.parametrize(("dtype", "eps"), LOW)
@pytest.mark.parametrize(
    ("src", "tgt", "target_dim"),
    [*((src, tgt, 0) for src, tgt in DIRECTIONS), ("legacy", "parametrized", 1)],
)
def test_low_precision_conversions_keep_dtype(
    dtype: torch.dtype, eps: float, src: str, tgt: str, target_dim: int
) -> None:
    g, v = _low_precision_pair(dtype)
    reference = ref_fold(g, v, 0)
    forms = {
        "plain": {f"{PREFIX}.weight": reference.to(dtype)},
        "legacy": dict(zip(weight_keys(PREFIX, "legacy"), (g, v))),
        "parametrized": dict(zip(weight_keys(PREFIX, "parametrized"), (g, v))),
    }
    out = convert_weight_norm(
        forms[src], PREFIX, source_form=src, target_form=tgt, dim=0, target_dim=target_dim
    )
    assert all(value.dtype == dtype for value in out.values())
    # Two roundings to the low dtype at most (source weight, then result).
    effective = effective_of(out, PREFIX, tgt, target_dim)
    torch.testing.assert_close(effective, reference, rtol=3 * eps, atol=1e-4)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_changing_dim_in_low_precision_rounds_once(dtype: torch.dtype) -> None:
    g, v = _low_precision_pair(dtype, shape=(4, 1024, 2))
    tensors = dict(zip(weight_keys(PREFIX, "legacy"), (g, v)))
    out = convert_weight_norm(
        tensors, PREFIX, source_form="legacy", target_form="parametrized", dim=0, target_dim=1
    )
    new_g, new_v = (out[key] for key in weight_keys(PREFIX, "parametrized"))
    exact_weight = ref_fold(g, v, 0)
    assert_rounded_once(new_v, exact_weight)
    assert_rounded_once(new_g, ref_norm(exact_weight, 1))  # not the norm of a rounded weight


def test_float16_norm_is_computed_without_overflow() -> None:
    v = torch.full((2, 64, 3), 100.0, dtype=torch.float16)  # sum of squares 1.9e6 > float16 max
    g = torch.ones(2, 1, 1, dtype=torch.float16)
    folded = fold_weight_norm(g, v, 0, key="k")
    assert torch.isfinite(folded).all()
    torch.testing.assert_close(folded.double(), ref_fold(g, v, 0), rtol=2.0**-10, atol=1e-6)
    g2, _ = unfold_weight_norm(v, 0, key="k")
    torch.testing.assert_close(g2.double(), ref_norm(v, 0), rtol=2.0**-10, atol=0)


def test_float64_stays_float64_at_full_precision() -> None:
    gen = torch.Generator().manual_seed(7)
    v = torch.randn(V_SHAPE, generator=gen, dtype=torch.float64)
    g = torch.rand(1, 4, 1, generator=gen, dtype=torch.float64) + 0.5
    folded = fold_weight_norm(g, v, 1, key="k")
    assert folded.dtype == torch.float64
    # A float32 computation would be off by ~1e-7.
    torch.testing.assert_close(folded, ref_fold(g, v, 1), rtol=1e-13, atol=1e-15)
    g2, v2 = unfold_weight_norm(folded, 1, key="k")
    assert g2.dtype == torch.float64 and v2.dtype == torch.float64
    torch.testing.assert_close(g2, g, rtol=1e-13, atol=1e-15)


def test_changing_dim_keeps_each_tensors_dtype() -> None:
    g, v = _low_precision_pair(torch.float16)
    tensors = dict(zip(weight_keys(PREFIX, "legacy"), (g.float(), v)))
    out = convert_weight_norm(
        tensors, PREFIX, source_form="legacy", target_form="legacy", dim=0, target_dim=None
    )
    new_g, new_v = (out[key] for key in weight_keys(PREFIX, "legacy"))
    assert new_g.dtype == torch.float32 and new_v.dtype == torch.float16
    assert fold_weight_norm(g.float(), v, 0, key="k").dtype == torch.float16


def test_zero_slices_fold_to_zero_not_nan() -> None:
    v = torch.randn(V_SHAPE)
    v[2] = 0.0
    folded = fold_weight_norm(torch.ones(6, 1, 1), v, 0, key="k")
    assert torch.isfinite(folded).all()
    assert torch.equal(folded[2], torch.zeros(4, 3))
    g, _ = unfold_weight_norm(v, 0, key="k")
    assert g[2].item() == 0.0


# --- property tests -------------------------------------------------------------------------------

TOL = {torch.float32: 2e-5, torch.float64: 1e-11}


@st.composite
def weights(draw: st.DrawFn) -> tuple[Tensor, int | None]:
    shape = tuple(draw(st.lists(st.integers(1, 6), min_size=2, max_size=4)))
    dim = draw(st.sampled_from([*range(len(shape)), None]))
    dtype = draw(st.sampled_from([torch.float32, torch.float64]))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**32 - 1)))
    return torch.randn(shape, generator=gen, dtype=dtype), dim


def _assert_close(actual: Tensor, expected: Tensor, dtype: torch.dtype) -> None:
    torch.testing.assert_close(actual.double(), expected.double(), rtol=TOL[dtype], atol=TOL[dtype])


@settings(max_examples=60, deadline=None)
@given(weights())
def test_property_fold_inverts_unfold(case: tuple[Tensor, int | None]) -> None:
    weight, dim = case
    g, v = unfold_weight_norm(weight, dim, key="k")
    assert g.shape == broadcast_shape(tuple(weight.shape), dim)
    assert g.dtype == weight.dtype and v.dtype == weight.dtype
    assert v.data_ptr() != weight.data_ptr()
    _assert_close(g, ref_norm(weight, dim), weight.dtype)
    _assert_close(fold_weight_norm(g, v, dim, key="k"), weight, weight.dtype)


@settings(max_examples=60, deadline=None)
@given(weights(), st.integers(0, 2**32 - 1))
def test_property_unfold_recovers_g_and_direction(
    case: tuple[Tensor, int | None], seed: int
) -> None:
    v, dim = case
    gen = torch.Generator().manual_seed(seed)
    g_shape = broadcast_shape(tuple(v.shape), dim)
    magnitude = torch.rand(g_shape, generator=gen, dtype=v.dtype) * 3 + 0.1
    sign = torch.where(torch.rand(g_shape, generator=gen) < 0.5, -1.0, 1.0).to(v.dtype)
    g = magnitude * sign

    folded = fold_weight_norm(g, v, dim, key="k")
    _assert_close(folded, ref_fold(g, v, dim), v.dtype)
    g2, v2 = unfold_weight_norm(folded, dim, key="k")
    _assert_close(g2, magnitude, v.dtype)  # the norm cannot carry g's sign...
    _assert_close(direction(v2, dim), sign * direction(v, dim), v.dtype)  # ...the direction does


@settings(max_examples=60, deadline=None)
@given(weights(), st.sampled_from(DIRECTIONS), st.data())
def test_property_every_direction_round_trips(
    case: tuple[Tensor, int | None], forms: tuple[str, str], data: st.DataObject
) -> None:
    weight, dim = case
    src, tgt = forms
    target_dim = data.draw(st.sampled_from([*range(weight.ndim), None]), label="target_dim")
    prefix = data.draw(st.sampled_from(["", "flow.flows.0.enc.in_layers.1"]), label="prefix")
    plain = {weight_keys(prefix, "plain")[0]: weight}
    source = convert_weight_norm(plain, prefix, source_form="plain", target_form=src, dim=dim)

    out = convert_weight_norm(
        source, prefix, source_form=src, target_form=tgt, dim=dim, target_dim=target_dim
    )
    assert tuple(out) == weight_keys(prefix, tgt)
    assert all(value.dtype == weight.dtype for value in out.values())
    _assert_close(effective_of(out, prefix, tgt, target_dim), weight, weight.dtype)

    back = convert_weight_norm(
        out, prefix, source_form=tgt, target_form=src, dim=target_dim, target_dim=dim
    )
    assert tuple(back) == weight_keys(prefix, src)
    _assert_close(effective_of(back, prefix, src, dim), weight, weight.dtype)
    if src != "plain":
        g_key = weight_keys(prefix, src)[0]
        _assert_close(back[g_key], source[g_key], weight.dtype)  # g comes back too


# --- no deprecated API ----------------------------------------------------------------------------


def test_module_emits_no_warnings() -> None:
    forms, _ = layer_forms()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for src, tgt in itertools.product(FORMS, FORMS):
            for target_dim in (0, 1, None):
                source = forms[src]
                convert_weight_norm(
                    source, PREFIX, source_form=src, target_form=tgt, dim=0, target_dim=target_dim
                )
        g, v = unfold_weight_norm(torch.randn(V_SHAPE, dtype=torch.bfloat16), None, key="k")
        fold_weight_norm(g, v, None, key="k")
        group_weight_keys(forms["legacy"])


def test_module_does_not_reference_deprecated_weight_norm() -> None:
    tree = ast.parse(inspect.getsource(weight_norm_module))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("torch.nn.utils"):
            assert not any("weight_norm" in alias.name for alias in node.names)
        if isinstance(node, ast.Attribute) and node.attr in {"weight_norm", "remove_weight_norm"}:
            pytest.fail(f"deprecated API referenced at line {node.lineno}")
