"""A speaker-conditioned voice without a speaker table needs an external embedding (d-vector): refused without one."""

from __future__ import annotations

import json
import re

import pytest
import torch

from tests.peers.piper_reference import CASES, typical_token_ids

from vits_adapters import InvalidInputError, SpeakerEmbeddingRequiredError, from_pretrained


@pytest.fixture
def tableless(original_dirs, tmp_path):
    """The multi-speaker checkpoint with its speaker table removed (as a d-vector model stores it)."""
    source = original_dirs["multi"]
    checkpoint = torch.load(source / "G_1.pth", weights_only=True)
    table = checkpoint["model"].pop("emb_g.weight")
    config = json.loads((source / "config.json").read_text(encoding="utf-8"))
    config["data"]["n_speakers"] = 0
    torch.save(checkpoint, tmp_path / "G_1.pth")
    (tmp_path / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return from_pretrained(tmp_path), table


def test_report_says_the_voice_needs_an_external_embedding(tableless):
    voice, table = tableless
    gin = table.shape[1]
    assert voice.report.complete and voice.report.speaker_embedding_size == gin
    assert f"NEEDS an external {gin}-dim speaker embedding" in voice.report.summary()
    assert voice.report.to_dict()["speaker_embedding_size"] == gin


def test_synthesis_without_an_embedding_is_refused(tableless):
    voice, table = tableless
    ids = typical_token_ids(CASES["multi"], 0)
    gin = table.shape[1]
    with pytest.raises(SpeakerEmbeddingRequiredError, match=re.escape(
        f"this voice is conditioned on a {gin}-dim speaker embedding (gin_channels={gin}) but the checkpoint has no "
        "speaker table: it expects an external speaker embedding"
    )):
        voice.synthesize(token_ids=ids, seed=0)
    with pytest.raises(SpeakerEmbeddingRequiredError):
        voice.synthesize_stream(token_ids=ids, seed=0)
    with pytest.raises(InvalidInputError, match=f"must hold {gin} finite floats, got 3 values"):
        voice.synthesize(token_ids=ids, speaker_embedding=[0.1, 0.2, 0.3])


def test_an_embedding_conditions_exactly_as_the_table_row_did(tableless, original_dirs):
    voice, table = tableless
    with_table = from_pretrained(original_dirs["multi"])
    ids = typical_token_ids(CASES["multi"], 1)
    expected = with_table.synthesize(token_ids=ids, speaker_id=1, seed=0).waveform
    got = voice.synthesize(token_ids=ids, speaker_embedding=table[1], seed=0).waveform
    assert expected.shape == got.shape
    assert abs(got - expected).max() <= 1e-6
    other = voice.synthesize(token_ids=ids, speaker_embedding=table[0], seed=0).waveform
    assert other.shape != got.shape or abs(other - got).max() > 1e-3  # the embedding really conditions the output
    streamed = [c.waveform for c in voice.synthesize_stream(token_ids=ids, speaker_embedding=table[1], seed=0)]
    assert abs(torch.cat([torch.from_numpy(c) for c in streamed]).numpy() - expected).max() <= 1e-5


def test_an_embedding_is_refused_where_the_voice_has_a_table(original_dirs):
    voice = from_pretrained(original_dirs["multi"])
    with pytest.raises(InvalidInputError, match="takes no external speaker embedding .*pass speaker_id"):
        voice.synthesize(token_ids=[1, 2, 3], speaker_id=0, speaker_embedding=[0.0] * voice.config.gin_channels)
