"""load_state_dict / fold_weight_norm / apply_weight_norm on WaveNet- and HiFi-GAN-style models."""

from __future__ import annotations

import itertools
import re
import warnings

import pytest
import torch
from torch import nn

import vits_adapters
from vits_adapters import (
    InvalidInputError,
    KeyMappingError,
    SpecError,
    StateDictMismatchError,
    apply_weight_norm,
    fold_weight_norm,
    load_state_dict,
    weight_layouts,
)
from vits_adapters.weightnorm.modules import WeightLayout

from .weight_norm_models import DIMS, MODELS, build, normed_layers, run

TOLERANCE = 1e-6
# Every (form, dim) a layer can have: plain has no dim.
LAYOUTS = [("plain", None)] + [(form, dim) for form in ("legacy", "parametrized") for dim in DIMS]


def _label(layout: tuple[str, int | None]) -> str:
    form, dim = layout
    return form if form == "plain" else f"{form}-dim{dim}"


@pytest.mark.parametrize("kind", sorted(MODELS))
@pytest.mark.parametrize(
    ("source_layout", "target_layout"),
    list(itertools.product(LAYOUTS, LAYOUTS)),
    ids=[f"{_label(s)}->{_label(t)}" for s, t in itertools.product(LAYOUTS, LAYOUTS)],
)
def test_every_form_and_dim_pair_loads_to_the_source_output(kind, source_layout, target_layout):
    source = build(kind, *source_layout, seed=1)
    target = build(kind, *target_layout, seed=2)
    expected = run(source, kind)
    assert (run(target, kind) - expected).abs().max() > 1e-2  # the target starts out different

    report = load_state_dict(target, source.state_dict())

    assert (run(target, kind) - expected).abs().max() <= TOLERANCE
    assert report.complete and report.strict
    assert sum(report.counts().values()) == len(source.state_dict())
    assert {layout for name, layout in weight_layouts(target).items() if name} == {WeightLayout(*target_layout)}
    converted = [r for r in report.records if r.action == "converted"]
    assert len(converted) == (0 if source_layout == target_layout else len(normed_layers(target)))


@pytest.mark.parametrize("kind", sorted(MODELS))
@pytest.mark.parametrize(
    ("source_layout", "target_layout", "torch_error"),
    [
        (("parametrized", 0), ("legacy", 0), "Missing key"),
        # torch's compatibility hook renames the legacy pair but cannot change its dim.
        (("legacy", 0), ("parametrized", 1), "size mismatch"),
    ],
)
def test_checkpoints_torch_rejects_load_here(kind, source_layout, target_layout, torch_error):
    source = build(kind, *source_layout, seed=1)
    target = build(kind, *target_layout, seed=2)
    with pytest.raises(RuntimeError, match=torch_error):
        target.load_state_dict(source.state_dict())
    load_state_dict(target, source.state_dict())
    assert (run(target, kind) - run(source, kind)).abs().max() <= TOLERANCE


def test_the_seed_problem_strict_false_succeeds_silently_and_changes_the_output():
    source = build("wavenet", "plain", None, seed=1)
    expected = run(source, "wavenet")

    naive = build("wavenet", "parametrized", 0, seed=2)
    result = naive.load_state_dict(source.state_dict(), strict=False)
    assert result.missing_keys and result.unexpected_keys  # torch only lists them...
    assert (run(naive, "wavenet") - expected).abs().max() > 1e-2  # ...and the model computes something else

    fixed = build("wavenet", "parametrized", 0, seed=2)
    report = load_state_dict(fixed, source.state_dict())
    assert report.complete
    assert (run(fixed, "wavenet") - expected).abs().max() <= TOLERANCE


def test_a_missing_tensor_is_refused_by_name_and_nothing_is_loaded():
    source = build("hifigan", "legacy", 0, seed=1).state_dict()
    del source["ups.1.weight_v"]
    target = build("hifigan", "parametrized", 0, seed=2)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(KeyMappingError, match=r"layer 'ups\.1' has an incomplete legacy weight pair"):
        load_state_dict(target, source)
    source = build("hifigan", "legacy", 0, seed=1).state_dict()
    del source["ups.1.bias"]
    with pytest.raises(StateDictMismatchError, match=r"ups\.1\.bias") as caught:
        load_state_dict(target, source)
    assert caught.value.missing == ["ups.1.bias"]
    assert all(torch.equal(before[k], v) for k, v in target.state_dict().items())


def test_an_extra_tensor_is_refused_by_name_and_nothing_is_loaded():
    source = build("wavenet", "plain", None, seed=1).state_dict()
    source["head.weight"] = torch.zeros(3, 3)
    source["step"] = torch.tensor(5)
    target = build("wavenet", "parametrized", 0, seed=2)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(StateDictMismatchError) as caught:
        load_state_dict(target, source)
    assert caught.value.unexpected == ["head.weight", "step"]
    assert "head.weight" in str(caught.value) and "step" in str(caught.value)
    assert all(torch.equal(before[k], v) for k, v in target.state_dict().items())


def test_a_mis_shaped_tensor_is_refused_by_name():
    source = build("wavenet", "plain", None, seed=1).state_dict()
    source["post.bias"] = torch.zeros(3)
    with pytest.raises(StateDictMismatchError, match=r"post\.bias: source \(3,\) vs model \(2,\)"):
        load_state_dict(build("wavenet", "legacy", 1, seed=2), source)


def test_non_strict_loads_what_fits_and_reports_the_gaps():
    source = build("wavenet", "legacy", 0, seed=1).state_dict()
    del source["post.bias"]
    source["extra.weight"] = torch.zeros(2)
    target = build("wavenet", "parametrized", 0, seed=2)
    report = load_state_dict(target, source, strict=False)
    assert not report.complete
    assert report.missing == ("post.bias",) and report.unexpected == ("extra.weight",)
    assert [r.source for r in report.records if r.action == "unexpected"] == [("extra.weight",)]
    assert "MISSING (1): post.bias" in report.summary()
    assert torch.equal(target.pre.parametrizations.weight.original1, source["pre.weight_v"])


def test_rename_rules_fix_a_prefix_and_report_the_rule():
    source = build("hifigan", "parametrized", None, seed=1)
    wrapped = {f"module.generator.{k}": v for k, v in source.state_dict().items()}
    target = build("hifigan", "legacy", None, seed=2)
    with pytest.raises(StateDictMismatchError, match=r"module\.generator\.conv_pre\.bias"):
        load_state_dict(target, wrapped)
    report = load_state_dict(target, wrapped, rename={r"module\.generator\.(.+)": r"\1"})
    assert (run(target, "hifigan") - run(source, "hifigan")).abs().max() <= TOLERANCE
    mapped = {r.source[0]: r.detail for r in report.records if r.action == "mapped"}
    assert mapped["module.generator.conv_pre.bias"] == "rename=: rename=[0]"
    # The same rule in the YAML adapter format.
    load_state_dict(target, wrapped, rename=[{"from": r"module\.generator\.(.+)", "to": r"\1"}])


def test_rename_rules_that_send_two_keys_to_one_target_are_refused():
    source = build("wavenet", "plain", None, seed=1).state_dict()
    source["old.post.bias"] = source["post.bias"]
    with pytest.raises(KeyMappingError, match=r"post\.bias <- post\.bias, old\.post\.bias"):
        load_state_dict(build("wavenet", "plain", None, seed=2), source, rename={r"old\.(.+)": r"\1"})
    with pytest.raises(SpecError, match=r"missing required field 'rename=\[0\]\.to'"):
        load_state_dict(build("wavenet", "plain", None, seed=2), source, rename=[{"from": "x"}])


def test_mixed_forms_in_one_layer_are_refused():
    source = build("wavenet", "legacy", 0, seed=1).state_dict()
    source["pre.weight"] = torch.zeros(8, 2, 1)
    with pytest.raises(KeyMappingError, match=r"layer 'pre' mixes weight forms \(plain, legacy\)"):
        load_state_dict(build("wavenet", "plain", None, seed=2), source)


def test_a_g_that_fits_no_dim_is_refused():
    source = build("wavenet", "legacy", 0, seed=1).state_dict()
    source["pre.weight_g"] = torch.ones(3, 1, 1)
    with pytest.raises(KeyMappingError, match=r"'pre\.weight_g' with shape \(3, 1, 1\) fits no dim"):
        load_state_dict(build("wavenet", "plain", None, seed=2), source)


def test_values_that_are_not_tensors_are_refused():
    with pytest.raises(InvalidInputError, match=r"step \(int\)"):
        load_state_dict(build("wavenet", "plain", None, seed=2), {"step": 3})


def test_a_float64_checkpoint_is_cast_and_reported():
    source = build("hifigan", "plain", None, seed=1).double()
    target = build("hifigan", "parametrized", 1, seed=2)
    report = load_state_dict(target, source.state_dict())
    assert report.casts == {"float64 -> float32": len(target.state_dict())}
    assert (run(target, "hifigan") - run(source.float(), "hifigan")).abs().max() <= TOLERANCE


@pytest.mark.parametrize("form", ["legacy", "parametrized"])
def test_loading_into_a_model_on_the_meta_device(form):
    source = build("hifigan", "plain", None, seed=1)
    with torch.device("meta"):
        target = build("hifigan", form, 0, seed=2)
    load_state_dict(target, source.state_dict())
    assert not any(p.is_meta for p in target.parameters())
    assert (run(target, "hifigan") - run(source, "hifigan")).abs().max() <= TOLERANCE


@pytest.mark.parametrize("form", ["legacy", "parametrized"])
@pytest.mark.parametrize("dim", DIMS)
def test_fold_weight_norm_keeps_the_output_and_names_every_layer(form, dim):
    model = build("hifigan", form, dim, seed=1)
    expected = run(model, "hifigan")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        folded = fold_weight_norm(model)
    assert folded == [name for name, m in model.named_modules() if m in normed_layers(model)]
    assert set(weight_layouts(model).values()) == {WeightLayout("plain")}
    assert (run(model, "hifigan") - expected).abs().max() <= TOLERANCE
    assert fold_weight_norm(model) == []


@pytest.mark.parametrize("start", ["plain", "legacy", "parametrized"])
@pytest.mark.parametrize("dim", DIMS)
def test_apply_weight_norm_keeps_the_output_from_any_start(start, dim):
    model = build("wavenet", start, 0, seed=1)
    expected = run(model, "wavenet")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        changed = apply_weight_norm(model, dim=dim)
    unchanged = start == "parametrized" and dim == 0
    assert changed == ([] if unchanged else [n for n, m in model.named_modules() if m in normed_layers(model)])
    assert {layout for name, layout in weight_layouts(model).items()} == {WeightLayout("parametrized", dim)}
    assert (run(model, "wavenet") - expected).abs().max() <= TOLERANCE


def test_apply_weight_norm_selects_modules_by_pattern_names_or_type():
    model = build("hifigan", "plain", None, seed=1)
    assert apply_weight_norm(model, r"ups\.\d+") == ["ups.0", "ups.1"]
    assert apply_weight_norm(model, ["conv_post"], dim=None) == ["conv_post"]
    assert apply_weight_norm(model, nn.Linear, dim=1) == ["cond"]
    layouts = weight_layouts(model)
    assert layouts["ups.1"] == WeightLayout("parametrized", 0)
    assert layouts["conv_post"] == WeightLayout("parametrized", None)
    assert layouts["cond"] == WeightLayout("parametrized", 1)
    assert layouts["conv_pre"] == WeightLayout("plain")


def test_apply_weight_norm_refuses_unknown_modules_and_bad_dims():
    model = build("hifigan", "plain", None, seed=1)
    pattern = r"upsamplers\.\d+"
    with pytest.raises(InvalidInputError, match=re.escape(f"no module name fully matches {pattern!r}")):
        apply_weight_norm(model, pattern)
    with pytest.raises(InvalidInputError, match=r"no module\(s\) named:\n  ups\.7"):
        apply_weight_norm(model, ["ups.0", "ups.7"])
    with pytest.raises(InvalidInputError, match=r"no plain or weight-normed 'weight'.*\n  resblocks"):
        apply_weight_norm(model, ["resblocks"])
    with pytest.raises(InvalidInputError, match=re.escape("int in [0, 3) for its 3-d weight, got 3")):
        apply_weight_norm(model, ["conv_pre"], dim=3)
    assert set(weight_layouts(model).values()) == {WeightLayout("plain")}


def test_the_public_api_is_exported():
    for name in ("load_state_dict", "fold_weight_norm", "apply_weight_norm", "weight_layouts"):
        assert name in vits_adapters.__all__
