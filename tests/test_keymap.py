"""Key mapping: full-match rules, no chaining, loud ambiguity and collisions, exact inversion."""

from __future__ import annotations

import re

import pytest

from tests.peers.piper_reference import state_dict_forms

from vits_adapters.errors import KeyMappingError
from vits_adapters.mapping.keymap import invert_rule, map_keys
from vits_adapters.mapping.registry import get_format
from vits_adapters.mapping.spec import DropRule, Reindex, RenameRule


def rule(pattern: str, template: str, *reindex: Reindex) -> RenameRule:
    return RenameRule(re.compile(pattern), template, tuple(reindex), f"test: {pattern}")


def test_patterns_match_the_whole_key_only():
    rules = [rule(r"dec\.ups\.1\.weight", "up1")]
    mapping = map_keys(["dec.ups.1.weight", "dec.ups.10.weight", "x.dec.ups.1.weight"], rules)
    assert mapping.renamed == {"dec.ups.1.weight": ("up1", "test: dec\\.ups\\.1\\.weight")}
    assert mapping.unmapped == ("dec.ups.10.weight", "x.dec.ups.1.weight")


def test_rules_never_chain():
    rules = [rule(r"a\.(.+)", r"b.\1"), rule(r"b\.(.+)", r"c.\1")]
    assert map_keys(["a.x"], rules).renamed["a.x"][0] == "b.x"


def test_a_key_matching_two_rules_is_ambiguous():
    rules = [rule(r"dec\.(.+)", r"decoder.\1"), rule(r"dec\.ups\.(.+)", r"decoder.upsampler.\1")]
    with pytest.raises(KeyMappingError, match="dec.ups.0.weight"):
        map_keys(["dec.ups.0.weight"], rules)


def test_a_key_matching_a_rule_and_a_drop_is_ambiguous():
    drops = [DropRule(re.compile(r"dec\..+"), "why", "test drop")]
    with pytest.raises(KeyMappingError, match="test drop"):
        map_keys(["dec.x"], [rule(r"dec\.(.+)", r"d.\1")], drops)


def test_two_sources_writing_one_target_collide():
    rules = [rule(r"(a|b)\.w", "t.w")]
    with pytest.raises(KeyMappingError, match=r"t\.w <- a\.w, b\.w"):
        map_keys(["a.w", "b.w"], rules)


def test_reindex_must_land_on_a_whole_index():
    rules = [rule(r"flow\.flows\.(\d+)\.pre", r"flow.flows.\1.conv_pre", Reindex(group=1, div=2))]
    assert map_keys(["flow.flows.6.pre"], rules).renamed["flow.flows.6.pre"][0] == "flow.flows.3.conv_pre"
    with pytest.raises(KeyMappingError, match="flow.flows.3.pre"):
        map_keys(["flow.flows.3.pre"], rules)


def test_drops_carry_their_reason():
    drops = [DropRule(re.compile(r"disc\..+"), "discriminator (training only)", "t")]
    mapping = map_keys(["disc.a", "disc.b"], [], drops)
    assert mapping.dropped == {"disc.a": "discriminator (training only)", "disc.b": "discriminator (training only)"}


@pytest.mark.parametrize("case_name", ["single", "nosdp", "multi", "resblock2"])
def test_original_rules_are_a_bijection_and_invert_exactly(case_name, peers):
    spec = get_format("vits-original")
    for form, state in state_dict_forms(peers[case_name]).items():
        forward = map_keys(state, spec.rename_rules)
        assert not forward.unmapped, (form, forward.unmapped[:3])
        targets = {target: source for source, (target, _) in forward.renamed.items()}
        backward = map_keys(targets, [invert_rule(r) for r in spec.rename_rules])
        assert not backward.unmapped
        assert {t: s for t, (s, _) in backward.renamed.items()} == targets


def test_rules_with_regex_outside_groups_cannot_be_inverted():
    with pytest.raises(KeyMappingError, match="cannot be inverted"):
        invert_rule(rule(r"a.*\.(\d+)", r"b.\1"))
