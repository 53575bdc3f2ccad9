"""Publish files into a local Hugging Face Hub cache layout so a repo id resolves offline."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from ..io.atomic import atomic_write

logger = logging.getLogger(__name__)

_COMMIT_HASH = re.compile(r"[0-9a-f]{40}")
# Suffixes the Hub's default .gitattributes stores with LFS; their blobs are named by sha256, others by git sha1.
_LFS_SUFFIXES = frozenset({".pth", ".pt", ".ckpt", ".bin", ".safetensors", ".onnx", ".h5", ".msgpack", ".npz"})


def publish_to_local_cache(
    cache_dir: str | os.PathLike[str],
    repo_id: str,
    files: Mapping[str, bytes | str | os.PathLike[str]],
    *,
    revision: str | None = None,
    ref: str = "main",
) -> Path:
    """Add one snapshot of a model repo to ``cache_dir`` and point ``refs/<ref>`` at it.

    The layout is the one huggingface_hub writes and reads: ``models--<org>--<name>/blobs/<etag>``,
    ``snapshots/<revision>/<file>`` (a relative symlink to the blob, or a copy where symlinks fail) and
    ``refs/<ref>`` holding the bare revision. Blobs and refs are written atomically. Calling again adds another
    snapshot beside the first.

    Args:
        cache_dir: the Hub cache folder (what ``cache_dir=`` of ``from_pretrained`` receives).
        repo_id: ``org/name`` (or ``name``).
        files: repo-relative file name -> its bytes, or the path of a file to copy.
        revision: a 40-hex commit hash; defaults to a sha1 of the file names and contents.
        ref: the branch or tag name that points at the snapshot.

    Returns:
        The snapshot folder.

    Raises:
        ValueError: no files, a file name escaping the repo, or a revision that is not a commit hash.

    Example:
        >>> publish_to_local_cache(tmp / "hub", "org/voice", {"G_0.pth": path})  # doctest: +SKIP
    """
    if not files:
        raise ValueError("files must name at least one file")
    contents = {_repo_path(name): _read(data) for name, data in files.items()}
    if revision is None:
        revision = _default_revision(contents)
    if not _COMMIT_HASH.fullmatch(revision):
        raise ValueError(f"revision must be 40 lowercase hex digits, got {revision!r}")

    repo_folder = Path(cache_dir) / "--".join(["models", *repo_id.split("/")])
    blobs = repo_folder / "blobs"
    snapshot = repo_folder / "snapshots" / revision
    blobs.mkdir(parents=True, exist_ok=True)
    snapshot.mkdir(parents=True, exist_ok=True)

    for name, data in contents.items():
        blob = blobs / _etag(name, data)
        if not blob.exists():  # blobs are content-addressed, and written atomically, so an existing one is whole
            with atomic_write(blob) as temp:
                temp.write_bytes(data)
        pointer = snapshot.joinpath(*PurePosixPath(name).parts)
        pointer.parent.mkdir(parents=True, exist_ok=True)
        if pointer.is_symlink() or pointer.exists():
            pointer.unlink()
        try:
            os.symlink(os.path.relpath(blob, pointer.parent), pointer)
        except OSError as err:  # e.g. Windows without developer mode
            logger.debug("symlinks unavailable (%s); copying %s", err, name)
            shutil.copyfile(blob, pointer)

    ref_file = repo_folder / "refs" / ref
    with atomic_write(ref_file) as temp:
        temp.write_text(revision, encoding="utf-8")  # no newline: huggingface_hub reads the file verbatim
    logger.info("published %d file(s) to %s@%s", len(contents), repo_id, revision[:8])
    return snapshot


def _repo_path(name: str) -> str:
    """A normalized repo-relative POSIX path, refusing anything that escapes the snapshot."""
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or not path.parts or ".." in path.parts:
        raise ValueError(f"file names must be relative paths inside the repo, got {name!r}")
    return path.as_posix()


def _read(data: bytes | str | os.PathLike[str]) -> bytes:
    """The bytes of an in-memory blob or of a file on disk."""
    return bytes(data) if isinstance(data, (bytes, bytearray)) else Path(data).read_bytes()


def _etag(name: str, data: bytes) -> str:
    """The blob name the Hub would give: sha256 for LFS files, the git blob sha1 for the rest."""
    if PurePosixPath(name).suffix.lower() in _LFS_SUFFIXES:
        return hashlib.sha256(data).hexdigest()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _default_revision(contents: Mapping[str, bytes]) -> str:
    """A stable fake commit hash derived from the file names and contents."""
    digest = hashlib.sha1()
    for name in sorted(contents):
        digest.update(name.encode("utf-8") + b"\0" + hashlib.sha256(contents[name]).digest())
    return digest.hexdigest()
