"""Offline tests of vits_adapters.hub.fetch against local Hub caches built by vits_adapters.hub.local_cache."""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path

import httpx2
import pytest
from huggingface_hub import constants as hf_constants
from huggingface_hub import hf_hub_download, scan_cache_dir, try_to_load_from_cache
from huggingface_hub.utils import (
    EntryNotFoundError,
    GatedRepoError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from vits_adapters.hub import fetch as hub
from vits_adapters.errors import CheckpointNotFoundError, VitsAdapterError
from vits_adapters.hub.fetch import fetch_snapshot, is_repo_id, revision_of
from vits_adapters.hub.local_cache import publish_to_local_cache

try:  # huggingface_hub >= 1.x detects AI agents from a registry it fetches from the Hub
    from huggingface_hub.utils import _detect_agent
except ImportError:  # pragma: no cover - older huggingface_hub
    _detect_agent = None

REPO = "org/voice"
PATTERNS = ["*.pth", "config.json"]
WEIGHTS = b"\x80\x02fake-pth-bytes" * 8
CONFIG = b'{"model": {"hidden_channels": 192}}'
TOKEN = "hf_secretTOKEN123"


pytestmark = pytest.mark.usefixtures("hub_online")


@pytest.fixture()
def cache(tmp_path: Path) -> Path:
    """An empty Hub cache folder."""
    folder = tmp_path / "hub-cache"
    folder.mkdir()
    return folder


@pytest.fixture()
def snapshot(cache: Path) -> Path:
    """A cache holding org/voice with a G_1.pth and a config.json."""
    return publish_to_local_cache(cache, REPO, {"G_1.pth": WEIGHTS, "config.json": CONFIG})


def _assert_voice(folder: Path, expected: Path) -> None:
    assert folder == expected
    assert (folder / "G_1.pth").read_bytes() == WEIGHTS
    assert (folder / "config.json").read_bytes() == CONFIG


# --- publish_to_local_cache -----------------------------------------------------------------------------------------


def test_publish_to_local_cache_layout(cache: Path, snapshot: Path) -> None:
    repo_folder = cache / "models--org--voice"
    revision = snapshot.name
    assert snapshot == repo_folder / "snapshots" / revision
    assert len(revision) == 40 and int(revision, 16) >= 0
    assert (repo_folder / "refs" / "main").read_text() == revision
    weights_blob = repo_folder / "blobs" / hashlib.sha256(WEIGHTS).hexdigest()
    config_blob = repo_folder / "blobs" / hashlib.sha1(b"blob %d\0" % len(CONFIG) + CONFIG).hexdigest()
    assert weights_blob.read_bytes() == WEIGHTS
    assert config_blob.read_bytes() == CONFIG
    pointer = snapshot / "G_1.pth"
    if pointer.is_symlink():
        assert pointer.resolve() == weights_blob.resolve()


def test_publish_to_local_cache_is_read_by_huggingface_hub(
    cache: Path, snapshot: Path, monkeypatch: pytest.MonkeyPatch, no_network: list[str]
) -> None:
    # hf_hub_download builds a user agent even with local_files_only=True, and that fetches the Hub's agent
    # registry unless huggingface_hub's (import-time) offline flag is set: set it, and restore the registry after.
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    if _detect_agent is not None:
        monkeypatch.setattr(_detect_agent, "_registry", None)
    info = scan_cache_dir(cache)
    assert not info.warnings
    (repo,) = info.repos
    assert repo.repo_id == REPO and repo.repo_type == "model"
    (rev,) = repo.revisions
    assert rev.commit_hash == snapshot.name
    assert rev.refs == frozenset({"main"})
    assert {f.file_name for f in rev.files} == {"G_1.pth", "config.json"}
    cached = try_to_load_from_cache(REPO, "config.json", cache_dir=cache)
    assert isinstance(cached, str) and Path(cached).read_bytes() == CONFIG
    path = hf_hub_download(REPO, "G_1.pth", cache_dir=cache, local_files_only=True)
    assert Path(path).read_bytes() == WEIGHTS


def test_publish_to_local_cache_revision_is_stable_and_content_addressed(tmp_path: Path) -> None:
    first = publish_to_local_cache(tmp_path / "a", REPO, {"G_1.pth": WEIGHTS})
    again = publish_to_local_cache(tmp_path / "b", REPO, {"G_1.pth": WEIGHTS})
    other = publish_to_local_cache(tmp_path / "c", REPO, {"G_1.pth": WEIGHTS + b"!"})
    assert first.name == again.name != other.name


def test_publish_to_local_cache_accepts_paths_nested_names_and_refs(cache: Path, tmp_path: Path) -> None:
    source = tmp_path / "config.json"
    source.write_bytes(CONFIG)
    revision = "a" * 40
    folder = publish_to_local_cache(cache, "voice", {"sub/config.json": source}, revision=revision, ref="v1")
    assert folder == cache / "models--voice" / "snapshots" / revision
    assert (folder / "sub" / "config.json").read_bytes() == CONFIG
    assert (cache / "models--voice" / "refs" / "v1").read_text() == revision


@pytest.mark.parametrize("revision", ["main", "A" * 40, "abc"])
def test_publish_to_local_cache_rejects_non_hash_revision(cache: Path, revision: str) -> None:
    with pytest.raises(ValueError, match="40 lowercase hex"):
        publish_to_local_cache(cache, REPO, {"a.json": b"{}"}, revision=revision)


# --- fetch_snapshot: success ----------------------------------------------------------------------------------------


def test_fetch_local_files_only(cache: Path, snapshot: Path, no_network: list[str]) -> None:
    folder = fetch_snapshot(REPO, allow_patterns=PATTERNS, cache_dir=cache, local_files_only=True)
    _assert_voice(folder, snapshot)


def test_fetch_by_commit_hash(cache: Path, snapshot: Path, no_network: list[str]) -> None:
    folder = fetch_snapshot(
        REPO, allow_patterns=PATTERNS, revision=snapshot.name, cache_dir=cache, local_files_only=True
    )
    _assert_voice(folder, snapshot)


def test_fetch_by_other_ref(cache: Path, no_network: list[str]) -> None:
    publish_to_local_cache(cache, REPO, {"G_1.pth": WEIGHTS, "config.json": CONFIG})
    tagged = publish_to_local_cache(cache, REPO, {"G_2.pth": WEIGHTS}, ref="v2")
    folder = fetch_snapshot(REPO, allow_patterns=PATTERNS, revision="v2", cache_dir=cache, local_files_only=True)
    assert folder == tagged and (folder / "G_2.pth").is_file()


def test_fetch_respects_hf_hub_offline_set_after_import(
    cache: Path, snapshot: Path, monkeypatch: pytest.MonkeyPatch, no_network: list[str]
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hf_constants.HF_HUB_OFFLINE is False  # huggingface_hub froze the value at import time
    folder = fetch_snapshot(REPO, allow_patterns=PATTERNS, cache_dir=cache, local_files_only=False)
    _assert_voice(folder, snapshot)


def test_fetch_respects_huggingface_hub_offline_constant(
    cache: Path, snapshot: Path, monkeypatch: pytest.MonkeyPatch, no_network: list[str]
) -> None:
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    folder = fetch_snapshot(REPO, allow_patterns=PATTERNS, cache_dir=cache)
    _assert_voice(folder, snapshot)


def test_fetch_uses_hf_hub_cache_when_no_cache_dir(
    cache: Path, snapshot: Path, monkeypatch: pytest.MonkeyPatch, no_network: list[str]
) -> None:
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(cache))
    folder = fetch_snapshot(REPO, allow_patterns=PATTERNS, local_files_only=True)
    _assert_voice(folder, snapshot)


def test_fetch_logs_the_snapshot(
    cache: Path, snapshot: Path, caplog: pytest.LogCaptureFixture, no_network: list[str]
) -> None:
    caplog.set_level(logging.INFO, logger="vits_adapters.hub.fetch")
    fetch_snapshot(REPO, allow_patterns=PATTERNS, cache_dir=cache, local_files_only=True)
    assert f"{REPO}@{snapshot.name[:8]}" in caplog.text
    assert "2 matching file(s)" in caplog.text


# --- fetch_snapshot: failures ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["local_files_only", "HF_HUB_OFFLINE"])
def test_not_cached_fails_at_once(
    cache: Path, how: str, monkeypatch: pytest.MonkeyPatch, no_network: list[str]
) -> None:
    if how == "HF_HUB_OFFLINE":
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.monotonic()
    with pytest.raises(CheckpointNotFoundError) as info:
        fetch_snapshot(REPO, allow_patterns=PATTERNS, cache_dir=cache, local_files_only=how == "local_files_only")
    assert time.monotonic() - start < 5
    err = info.value
    assert isinstance(err, FileNotFoundError) and isinstance(err, VitsAdapterError)
    assert isinstance(err.__cause__, LocalEntryNotFoundError)
    message = str(err)
    assert f"'{REPO}'" in message and "'main'" in message
    assert str(cache) in message
    assert f"hf download {REPO}" in message and "huggingface-cli download" in message
    assert "network access" in message and "local folder" in message
    assert ("local_files_only=True" if how == "local_files_only" else "HF_HUB_OFFLINE=1") in message
    assert "Nothing is cached" in message


@pytest.mark.parametrize("revision", ["v9", "f" * 40])
def test_unknown_revision_offline(
    cache: Path, snapshot: Path, revision: str, monkeypatch: pytest.MonkeyPatch, no_network: list[str]
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CheckpointNotFoundError) as info:
        fetch_snapshot(REPO, allow_patterns=PATTERNS, revision=revision, cache_dir=cache)
    message = str(info.value)
    assert f"revision '{revision}'" in message
    assert f"--revision {revision}" in message
    assert f"main -> {snapshot.name[:8]}" in message  # what *is* cached


def test_no_file_matches_patterns(cache: Path, no_network: list[str]) -> None:
    publish_to_local_cache(cache, REPO, {"README.md": b"# voice", "model.onnx": b"onnx"})
    with pytest.raises(CheckpointNotFoundError) as info:
        fetch_snapshot(REPO, allow_patterns=PATTERNS, cache_dir=cache, local_files_only=True)
    message = str(info.value)
    assert "['*.pth', 'config.json']" in message
    assert "  README.md" in message and "  model.onnx" in message


def test_invalid_repo_id(cache: Path, no_network: list[str]) -> None:
    with pytest.raises(CheckpointNotFoundError, match="valid Hugging Face repo id"):
        fetch_snapshot("bad--name", allow_patterns=PATTERNS, cache_dir=cache, local_files_only=True)


def test_empty_patterns_rejected(cache: Path) -> None:
    with pytest.raises(ValueError, match="allow_patterns"):
        fetch_snapshot(REPO, allow_patterns=[], cache_dir=cache, local_files_only=True)


def _http_error(cls: type[Exception], status: int) -> Exception:
    """A huggingface_hub HTTP error as the Hub client raises it, with the token in its text."""
    request = httpx2.Request("GET", f"https://huggingface.co/api/models/{REPO}", headers={"authorization": TOKEN})
    response = httpx2.Response(status, request=request)
    return cls(f"{status} Client Error for token {TOKEN}", response=response)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (lambda: _http_error(GatedRepoError, 403), "is gated"),
        (lambda: _http_error(RepositoryNotFoundError, 401), "does not exist"),
        (lambda: _http_error(RevisionNotFoundError, 404), "has no revision 'v3'"),
        (lambda: EntryNotFoundError(f"missing, token {TOKEN}"), "is missing on the Hub"),
    ],
    ids=["gated", "repo", "revision", "entry"],
)
def test_hub_errors_are_mapped(
    error, expected: str, cache: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def fake_snapshot_download(*args: object, **kwargs: object) -> str:
        raise error()

    monkeypatch.setattr(hub.huggingface_hub, "snapshot_download", fake_snapshot_download)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(CheckpointNotFoundError, match=expected) as info:
        fetch_snapshot(REPO, allow_patterns=PATTERNS, revision="v3", cache_dir=cache, token=TOKEN)
    assert REPO in str(info.value)
    assert info.value.__cause__ is not None
    assert TOKEN not in str(info.value)
    assert TOKEN not in caplog.text
    assert "***" in caplog.text  # the cause was logged, masked


@pytest.mark.parametrize("cached", [True, False], ids=["cached", "missing"])
def test_token_never_leaks(
    cache: Path, cached: bool, caplog: pytest.LogCaptureFixture, no_network: list[str]
) -> None:
    if cached:
        publish_to_local_cache(cache, REPO, {"G_1.pth": WEIGHTS, "config.json": CONFIG})
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="huggingface_hub")
    try:
        fetch_snapshot(REPO, allow_patterns=PATTERNS, cache_dir=cache, local_files_only=True, token=TOKEN)
    except CheckpointNotFoundError as err:
        assert not cached
        chain: BaseException | None = err
        assert TOKEN not in str(err)
        while chain is not None:
            assert TOKEN not in str(chain)
            chain = chain.__cause__
    else:
        assert cached
    assert caplog.records, "expected debug logging to inspect"
    assert TOKEN not in caplog.text
    assert "token=set" in caplog.text


# --- is_repo_id and revision_of -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("org/voice", True),
        ("facebook/mms-tts-eng", True),
        ("rhasspy/piper-voices", True),
        ("voice", True),
        ("Org_1/v.o-ice", True),
        ("./x", False),
        ("../x", False),
        ("/abs", False),
        ("/abs/path/G_1.pth", False),
        ("~/voices", False),
        ("a/b/c", False),
        ("G_1.pth", False),
        ("org/model.safetensors", False),
        ("bad--name", False),
        ("org/name.git", False),
        ("-org/name", False),
        ("org/", False),
        ("", False),
        ("x" * 97, False),
        ("with space/name", False),
    ],
)
def test_is_repo_id(source: str, expected: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert is_repo_id(source) is expected


def test_is_repo_id_existing_local_folder_is_a_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert is_repo_id("org/name")
    (tmp_path / "org" / "name").mkdir(parents=True)
    assert not is_repo_id("org/name")
    (tmp_path / "voice").write_bytes(b"")
    assert not is_repo_id("voice")


def test_revision_of(snapshot: Path, tmp_path: Path) -> None:
    assert revision_of(snapshot) == snapshot.name
    assert revision_of(snapshot / "G_1.pth") == snapshot.name
    assert revision_of(str(snapshot / "G_1.pth")) == snapshot.name
    assert revision_of(tmp_path) is None
    assert revision_of(tmp_path / "snapshots" / snapshot.name) is None  # not inside a models--* folder
    assert revision_of(snapshot.parent / "not-a-hash") is None
