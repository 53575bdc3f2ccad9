"""Hub faults through from_pretrained and the CLI: offline, incomplete snapshots, bad revisions, and no token leaks."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest

from vits_adapters import CheckpointNotFoundError, InvalidInputError, from_pretrained
from vits_adapters.cli.entry import main
from vits_adapters.hub.local_cache import publish_to_local_cache

pytestmark = pytest.mark.usefixtures("hub_online")

REPO = "org/voice"
TOKEN = "hf_SECRETtoken123"


@pytest.fixture()
def cache(single_dir: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "hub-cache"
    publish_to_local_cache(folder, REPO, {p.name: p for p in single_dir.iterdir()})
    return folder


def test_not_cached_and_offline_fails_at_once_saying_how_to_fetch(tmp_path: Path, no_network: list[str]) -> None:
    start = time.monotonic()
    with pytest.raises(CheckpointNotFoundError) as caught:
        from_pretrained("nobody/absent-voice", cache_dir=tmp_path, local_files_only=True)
    assert time.monotonic() - start < 5
    message = str(caught.value)
    assert "'nobody/absent-voice' at revision 'main' is not in the Hugging Face cache" in message
    assert "downloads are disabled (local_files_only=True)" in message
    assert f"`hf download nobody/absent-voice --cache-dir {tmp_path}`" in message


def test_cached_snapshot_without_the_weights_names_what_is_missing(
    single_dir: Path, tmp_path: Path, no_network: list[str]
) -> None:
    cache = tmp_path / "hub-cache"
    publish_to_local_cache(cache, REPO, {"config.json": single_dir / "config.json"})
    with pytest.raises(CheckpointNotFoundError) as caught:
        from_pretrained(REPO, cache_dir=cache, local_files_only=True)
    message = str(caught.value)
    assert "models--org--voice/snapshots/" in message
    assert "no checkpoint file found (files: config.json); looked for" in message
    assert "G_*.pth" in message and "model.safetensors" in message


def test_cached_snapshot_without_the_vocabulary_names_vocab_json(
    single_dir: Path, tmp_path: Path, no_network: list[str]
) -> None:
    hf = tmp_path / "hf"
    from_pretrained(single_dir).save_pretrained(hf, format="transformers")
    cache = tmp_path / "hub-cache"
    publish_to_local_cache(cache, REPO, {p.name: p for p in hf.iterdir()})
    voice = from_pretrained(REPO, cache_dir=cache, local_files_only=True)
    with pytest.raises(InvalidInputError) as caught:
        voice.synthesize("hello")
    assert type(caught.value) is InvalidInputError
    assert "this layout keeps it in vocab.json (and tokenizer_config.json) beside the weights, which was not found" in str(
        caught.value
    )


@pytest.mark.parametrize("revision", ["v9.9", "0123456789abcdef0123456789abcdef01234567"])
def test_a_revision_that_does_not_exist_is_a_clear_error(cache: Path, revision: str, no_network: list[str]) -> None:
    with pytest.raises(CheckpointNotFoundError) as caught:
        from_pretrained(REPO, revision=revision, cache_dir=cache, local_files_only=True)
    message = str(caught.value)
    assert f"Hub repo '{REPO}' at revision '{revision}' is not in the Hugging Face cache" in message
    assert "Cached for this repo: refs [main -> " in message
    assert f"--revision {revision}" in message


def _no_token_anywhere(*texts: str) -> None:
    for text in texts:
        assert TOKEN not in text
        assert TOKEN[3:] not in text  # not even without its prefix


@pytest.mark.parametrize("cached", [True, False], ids=["cached", "not-cached"])
def test_the_token_never_appears_through_from_pretrained(
    cache: Path, cached: bool, tmp_path: Path, caplog: pytest.LogCaptureFixture, no_network: list[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    cache_dir = cache if cached else tmp_path / "empty-cache"
    if cached:
        voice = from_pretrained(REPO, cache_dir=cache_dir, local_files_only=True, token=TOKEN)
        report = voice.report
        _no_token_anywhere(report.summary(), json.dumps(report.to_dict(), default=str), repr(voice), repr(report))
    else:
        with pytest.raises(CheckpointNotFoundError) as caught:
            from_pretrained(REPO, cache_dir=cache_dir, local_files_only=True, token=TOKEN)
        chain: BaseException | None = caught.value
        while chain is not None:
            _no_token_anywhere(str(chain), repr(chain))
            chain = chain.__cause__ or chain.__context__
    assert caplog.records
    _no_token_anywhere(caplog.text)


@pytest.mark.parametrize("cached", [True, False], ids=["cached", "not-cached"])
@pytest.mark.parametrize("flags", [["--json"], ["--debug"]])
@pytest.mark.parametrize("command", ["inspect", "synth", "convert"])
def test_the_token_never_appears_through_the_cli(
    cache: Path,
    cached: bool,
    flags: list[str],
    command: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    no_network: list[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    cache_dir = cache if cached else tmp_path / "empty-cache"
    hub = [REPO, "--cache-dir", str(cache_dir), "--local-files-only", "--token", TOKEN]
    extra = {
        "inspect": [],
        "synth": ["--tokens", "1,2,3,4", "--seed", "0", "-o", str(tmp_path / "out.wav")],
        "convert": [str(tmp_path / "out")],
    }[command]
    code = main([command, *hub, *extra, *flags])
    assert code == (0 if cached else 4)
    out, err = capsys.readouterr()
    _no_token_anywhere(out, err, caplog.text)
    if "--json" in flags:
        json.loads(out)
    if "--debug" in flags and not cached:
        assert "Traceback" in err
