"""Write files atomically: a temporary sibling file is renamed onto the target only on success."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_MAX_NAME_ATTEMPTS = 100


def _create_temp(path: Path) -> Path:
    """Create an empty, hidden, uniquely named file next to ``path`` that keeps its suffix."""
    for _ in range(_MAX_NAME_ATTEMPTS):
        temp = path.with_name(f".{path.stem}.tmp-{secrets.token_hex(4)}{path.suffix}")
        try:
            # 0o666 lets the umask decide permissions, as for an ordinary new file.
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return temp
    raise FileExistsError(f"could not create a unique temporary file next to {path}")


def _fsync_file(path: Path) -> None:
    """Flush a file's contents to disk."""
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(folder: Path) -> None:
    """Flush a folder entry to disk where the platform allows it (POSIX only)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:
        pass  # Some filesystems refuse to fsync a directory; the rename itself already happened.
    finally:
        os.close(fd)


@contextmanager
def atomic_write(path: str | os.PathLike[str], *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it onto ``path``, on error delete it.

    The temporary name is hidden and keeps the suffix (``out.wav`` -> ``.out.tmp-1a2b3c4d.wav``)
    so writers that infer the format from the suffix work. Missing parent folders are created.
    With ``overwrite=False`` an existing ``path`` raises ``FileExistsError`` before anything is
    written. If the body raises, any previous file at ``path`` is left untouched.
    """
    target = Path(path)
    if not overwrite and target.exists():
        raise FileExistsError(f"refusing to overwrite existing file: {target}")
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = _create_temp(target)
    try:
        yield temp
        _fsync_file(temp)
        if not overwrite and target.exists():
            raise FileExistsError(f"refusing to overwrite file created while writing: {target}")
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


@contextmanager
def atomic_write_files(
    directory: str | os.PathLike[str], names: list[str], *, overwrite: bool = False
) -> Iterator[Path]:
    """Yield a hidden staging folder inside ``directory``; on success move ``names`` from it into ``directory``.

    Writers fill the staging folder (same file system, so each move is a rename). If the body raises, the
    staging folder is deleted and no file in ``directory`` has changed. With ``overwrite=False`` an existing
    target raises ``FileExistsError`` before anything is written.
    """
    folder = Path(directory)
    targets = [folder / name for name in names]
    existing = [target.name for target in targets if target.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{folder}: {', '.join(existing)} already exist; pass overwrite=True to replace them")
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=folder))
    try:
        yield staging
        for name in names:
            _fsync_file(staging / name)  # also proves every promised file was written
        if not overwrite and any(target.exists() for target in targets):
            raise FileExistsError(f"{folder}: an output appeared while writing; nothing was replaced")
        for target in targets:
            os.replace(staging / target.name, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _fsync_dir(folder)
