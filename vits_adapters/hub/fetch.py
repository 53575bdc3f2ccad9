"""Fetch checkpoint snapshots from the Hugging Face Hub or its local cache, with clear errors."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import huggingface_hub
from huggingface_hub import constants as hf_constants
from huggingface_hub.utils import (
    EntryNotFoundError,
    GatedRepoError,
    HFValidationError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
    are_progress_bars_disabled,
    disable_progress_bars,
    enable_progress_bars,
    filter_repo_objects,
    validate_repo_id,
)

from ..errors import CheckpointNotFoundError, format_keys

try:  # Added in huggingface_hub 1.x; older releases never raise it.
    from huggingface_hub.errors import IncompleteSnapshotError
except ImportError:  # pragma: no cover - depends on the installed huggingface_hub
    IncompleteSnapshotError = None  # type: ignore[assignment,misc]

logger = logging.getLogger(__name__)

DEFAULT_REVISION = "main"
_TRUE_VALUES = frozenset({"1", "ON", "YES", "TRUE"})
_COMMIT_HASH = re.compile(r"[0-9a-f]{40}")
_REPO_FOLDER = re.compile(r"(?:models|datasets|spaces|kernels)--.+")
_PATH_PREFIXES = ("./", "../", ".\\", "..\\", "/", "\\", "~")
# A source ending like a weight or config file is a path, even when missing: a typo should read "file not found".
_FILE_SUFFIXES = frozenset({".pth", ".pt", ".ckpt", ".bin", ".safetensors", ".onnx", ".json", ".yaml", ".yml"})


def is_repo_id(source: str) -> bool:
    """Whether ``source`` is shaped like a Hub repo id ("org/name" or "name") and is not an existing local path."""
    if not isinstance(source, str) or not source:
        return False
    if source.startswith(_PATH_PREFIXES) or source.count("/") > 1:
        return False
    if Path(source).suffix.lower() in _FILE_SUFFIXES:
        return False
    try:
        validate_repo_id(source)
    except HFValidationError:
        return False
    try:
        exists = Path(source).expanduser().exists()
    except OSError:  # e.g. a name too long for the file system
        exists = False
    return not exists


def _snapshot_index(parts: tuple[str, ...]) -> int | None:
    """The index of the commit hash folder in ``parts`` (a path inside a Hub cache snapshot), else None."""
    for index in range(len(parts) - 2, 0, -1):
        if (
            parts[index] == "snapshots"
            and _COMMIT_HASH.fullmatch(parts[index + 1])
            and _REPO_FOLDER.fullmatch(parts[index - 1])
        ):
            return index + 1
    return None


def revision_of(snapshot: Path | str) -> str | None:
    """The commit hash folder name when ``snapshot`` lies inside a Hub cache snapshot, else None."""
    parts = Path(snapshot).expanduser().parts
    index = _snapshot_index(parts)
    return None if index is None else parts[index]


def path_in_snapshot(path: Path | str) -> str | None:
    """The repo-relative POSIX path of a file inside a Hub cache snapshot (``"en/voice.onnx"``), else None."""
    parts = Path(path).expanduser().parts
    index = _snapshot_index(parts)
    return None if index is None or index == len(parts) - 1 else "/".join(parts[index + 1 :])


def report_snapshot(repo_id: str, snapshot: Path, files: Sequence[str]) -> None:
    """Log which snapshot a repo resolved to; download progress bars stay huggingface_hub's own."""
    revision = revision_of(snapshot)
    label = f"{repo_id}@{revision[:8]}" if revision else repo_id
    logger.info("Using %s: %d matching file(s) in %s", label, len(files), snapshot)
    logger.debug("Files of %s:\n%s", label, format_keys(files))


@contextmanager
def download_progress_bars(show: bool) -> Iterator[None]:
    """Show or hide huggingface_hub's own download bars inside the block, then restore the previous setting.

    Hiding always wins: when the bars are already disabled (``HF_HUB_DISABLE_PROGRESS_BARS=1``), ``show=True``
    leaves them off.
    """
    was_disabled = are_progress_bars_disabled()
    if not show:
        disable_progress_bars()
    try:
        yield
    finally:
        if not show and not was_disabled:
            enable_progress_bars()


def fetch_snapshot(
    repo_id: str,
    *,
    allow_patterns: Sequence[str],
    revision: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    local_files_only: bool = False,
    token: str | bool | None = None,
    force_download: bool = False,
) -> Path:
    """Download (or find in the cache) the files of ``repo_id`` matching ``allow_patterns``; return the snapshot.

    ``HF_HUB_OFFLINE=1`` is read when called, so it works even when set after huggingface_hub was imported. Every
    failure becomes a :class:`CheckpointNotFoundError` that never contains the token.
    """
    patterns = [allow_patterns] if isinstance(allow_patterns, str) else list(allow_patterns)
    if not patterns:
        raise ValueError("allow_patterns must hold at least one glob pattern")
    offline_reason = _offline_reason(local_files_only)
    offline = offline_reason is not None
    rev_label = revision or DEFAULT_REVISION
    cache = _cache_root(cache_dir)
    logger.debug(
        "fetch_snapshot repo=%s revision=%s patterns=%s cache=%s offline=%s token=%s",
        repo_id,
        rev_label,
        patterns,
        cache,
        offline_reason or "no",
        "set" if token else "unset",
    )
    if offline and force_download:
        logger.warning("force_download is ignored for %s: downloads are disabled (%s)", repo_id, offline_reason)
    try:
        folder = huggingface_hub.snapshot_download(
            repo_id,
            allow_patterns=patterns,
            revision=revision,
            cache_dir=cache_dir,
            local_files_only=offline,
            token=token,
            force_download=force_download and not offline,
        )
    except HFValidationError as err:
        raise CheckpointNotFoundError(
            f"{repo_id!r} is neither an existing local path nor a valid Hugging Face repo id "
            "('name' or 'org/name' of letters, digits, '-', '_' and '.')."
        ) from err
    except (LocalEntryNotFoundError, OfflineModeIsEnabled) as err:
        _log_cause(err, token)
        message = _not_cached_message(repo_id, revision, cache, offline_reason, err, cache_dir is not None)
        raise CheckpointNotFoundError(message) from err
    except GatedRepoError as err:
        _log_cause(err, token)
        raise CheckpointNotFoundError(
            f"Hub repo {repo_id!r} is gated: accept its conditions at https://huggingface.co/{repo_id}, "
            "then log in with `hf auth login` or pass a token that has access."
        ) from err
    except RepositoryNotFoundError as err:
        _log_cause(err, token)
        raise CheckpointNotFoundError(
            f"Hub repo {repo_id!r} does not exist, or it is private and the token in use has no access. "
            "Check the spelling, log in with `hf auth login`, or pass a local path instead."
        ) from err
    except RevisionNotFoundError as err:
        _log_cause(err, token)
        raise CheckpointNotFoundError(
            f"Hub repo {repo_id!r} has no revision {rev_label!r} (branch, tag or commit hash)."
        ) from err
    except EntryNotFoundError as err:
        _log_cause(err, token)
        raise CheckpointNotFoundError(
            f"A file of Hub repo {repo_id!r} at revision {rev_label!r} matching {patterns} is missing on the Hub."
        ) from err

    snapshot = Path(folder)
    present = _files_in(snapshot)
    matched = list(filter_repo_objects(present, allow_patterns=patterns))
    if not matched:
        listing = format_keys(present) if present else "  (no files)"
        raise CheckpointNotFoundError(
            f"Hub repo {repo_id!r} at revision {revision_of(snapshot) or rev_label!r} has no file matching "
            f"{patterns}. Files in {snapshot}:\n{listing}"
        )
    report_snapshot(repo_id, snapshot, matched)
    return snapshot


def _offline_reason(local_files_only: bool) -> str | None:
    """Why downloads are disabled right now, or None when they are allowed."""
    if local_files_only:
        return "local_files_only=True"
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(name, "").upper() in _TRUE_VALUES:
            return f"{name}=1"
    if getattr(hf_constants, "HF_HUB_OFFLINE", False):
        return "HF_HUB_OFFLINE=1"
    return None


def _cache_root(cache_dir: str | os.PathLike[str] | None) -> Path:
    """The Hub cache folder in use, read from huggingface_hub's constants at call time."""
    root = cache_dir if cache_dir is not None else hf_constants.HF_HUB_CACHE
    return Path(root).expanduser()


def _repo_folder(cache: Path, repo_id: str) -> Path:
    """Where the cache keeps a model repo: ``models--org--name``."""
    return cache / "--".join(["models", *repo_id.split("/")])


def _cached_summary(folder: Path) -> str:
    """One sentence naming the refs and snapshots cached for a repo folder."""
    refs: list[str] = []
    refs_dir = folder / "refs"
    if refs_dir.is_dir():
        for path in sorted(refs_dir.rglob("*")):
            if path.is_file():
                try:
                    target = path.read_text(encoding="utf-8").strip()[:8]
                except OSError:
                    target = "?"
                refs.append(f"{path.relative_to(refs_dir).as_posix()} -> {target}")
    snapshots_dir = folder / "snapshots"
    snapshots = sorted(p.name[:8] for p in snapshots_dir.iterdir() if p.is_dir()) if snapshots_dir.is_dir() else []
    if not refs and not snapshots:
        return "Nothing is cached for this repo."
    return f"Cached for this repo: refs [{', '.join(refs) or 'none'}], snapshots [{', '.join(snapshots) or 'none'}]."


def _not_cached_message(
    repo_id: str,
    revision: str | None,
    cache: Path,
    offline_reason: str | None,
    err: BaseException,
    custom_cache: bool,
) -> str:
    """Explain that a repo revision is not (fully) cached and how to fetch it."""
    rev_label = revision or DEFAULT_REVISION
    if IncompleteSnapshotError is not None and isinstance(err, IncompleteSnapshotError):
        what = f"The cached snapshot of Hub repo {repo_id!r} at revision {rev_label!r} in {cache} is incomplete"
    else:
        what = f"Hub repo {repo_id!r} at revision {rev_label!r} is not in the Hugging Face cache at {cache}"
    why = f"downloads are disabled ({offline_reason})" if offline_reason else "the Hub could not be reached"
    command = f"hf download {repo_id}"
    if revision:
        command += f" --revision {revision}"
    if custom_cache:
        command += f" --cache-dir {cache}"
    return (
        f"{what}, and {why}. {_cached_summary(_repo_folder(cache, repo_id))}\n"
        "To fetch it: run once with network access (without HF_HUB_OFFLINE=1 or local_files_only), "
        f"or download it ahead with `{command}` (`huggingface-cli download` on older huggingface_hub), "
        "or pass a local folder or checkpoint file instead."
    )


def _files_in(snapshot: Path) -> list[str]:
    """Repo-relative POSIX paths of the readable files under a snapshot folder."""
    if not snapshot.is_dir():
        return []
    return sorted(path.relative_to(snapshot).as_posix() for path in snapshot.rglob("*") if path.is_file())


def _log_cause(err: BaseException, token: str | bool | None) -> None:
    """Log a huggingface_hub error at DEBUG, with the token masked."""
    logger.debug("huggingface_hub raised %s: %s", type(err).__name__, _redact(str(err), token))


def _redact(text: str, token: str | bool | None) -> str:
    """``text`` with every occurrence of a string token replaced by a mask."""
    if isinstance(token, str) and token:
        return text.replace(token, "***")
    return text
