"""YAML specs: every shipped spec validates; malformed ones fail naming the file and the field."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from vits_adapters.errors import SpecError, UnknownNameError
from vits_adapters.mapping.registry import all_formats, configs_dir, get_format, list_formats
from vits_adapters.mapping.spec import COMPONENTS, parse_adapter, parse_format


def test_every_shipped_spec_validates_and_covers_all_components():
    assert {"vits-original", "vits-adapters"} <= set(list_formats())
    for spec in all_formats():
        assert spec.name == spec.path.stem
        assert {a.component for a in spec.components} == set(COMPONENTS)
        assert spec.rename_rules and spec.detect.require


def test_unknown_format_name_lists_close_names():
    with pytest.raises(UnknownNameError, match="vits-original"):
        get_format("vits-orignal")


@pytest.fixture
def config_copy(tmp_path) -> Path:
    root = tmp_path / "configs"
    shutil.copytree(configs_dir(), root)
    return root


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize(
    "file, old, new, expected",
    [
        ("formats/vits-original.yaml", "config_reader:", "colour: red\nconfig_reader:", "unknown field(s) colour"),
        ("formats/vits-original.yaml", "  bare_allowed: true", "  bare_allowed: true\n  wrapper: x", "container.wrapper"),
        ("formats/vits-original.yaml", "name: vits-original", "name: other", "must equal the file name"),
        ("formats/vits-original.yaml", "require: [", "require: ['enc_p\\.(emb', ", "detect.require[0]"),
        ("formats/vits-original.yaml", "  text_encoder: vits-original", "  text_encoder: nowhere", "components.text_encoder"),
        ("formats/vits-original.yaml", "  speaker_embedding: vits-original", "  speaker_thing: vits-original", "components.speaker_thing"),
        ("adapters/hifigan_decoder/vits-original.yaml", "dim: 0}", "dim: -1}", "weight_norm[0].dim"),
        ("adapters/hifigan_decoder/vits-original.yaml", "dim: 0}", "dim: zero}", "weight_norm[0].dim"),
        ("adapters/hifigan_decoder/vits-original.yaml", "to: 'decoder.conv_pre.\\1'", "to: 'decoder.conv_pre.\\2'", "rename[0].to"),
        ("adapters/hifigan_decoder/vits-original.yaml", "{from: 'dec\\.conv_post", "{form: 'dec\\.conv_post", "rename[3]"),
        ("adapters/wavenet_flow/vits-original.yaml", "reindex: {group: 1, div: 2}", "reindex: {group: 7, div: 2}", "rename[0].reindex"),
        ("adapters/wavenet_flow/vits-original.yaml", "reindex: {group: 1, div: 2}", "reindex: {group: 1, divide: 2}", "reindex[0].divide"),
        ("adapters/speaker_embedding/vits-original.yaml", "component: speaker_embedding", "component: speakers", "field 'component'"),
    ],
)
def test_malformed_spec_names_file_and_field(config_copy, file, old, new, expected):
    path = config_copy / file
    _edit(path, old, new)
    with pytest.raises(SpecError) as caught:
        parse_format(config_copy / "formats" / "vits-original.yaml", config_copy / "adapters")
    message = str(caught.value)
    assert expected in message
    assert path.name in message


def test_adapter_yaml_that_is_not_a_mapping_is_refused(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(SpecError, match="broken.yaml"):
        parse_adapter(path)
