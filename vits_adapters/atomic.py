"""Write files atomically: a temporary sibling file is renamed onto the target only on success."""

from __future__ import annotations

import os
import secrets
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
