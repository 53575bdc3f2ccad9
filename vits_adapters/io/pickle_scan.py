"""List the globals a torch.save file's pickle references, from its opcodes, without unpickling anything."""

from __future__ import annotations

import io
import os
import pickletools
import struct
import zipfile
from _compat_pickle import IMPORT_MAPPING, NAME_MAPPING
from pathlib import Path
from typing import IO, Any

from ..errors import CheckpointReadError

# A torch.save zip starts with a local file header, or with the end-of-central-directory record when empty.
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
# What the scan raises on a corrupt or truncated file.
SCAN_ERRORS = (ValueError, EOFError, KeyError, OSError, struct.error, zipfile.BadZipFile, UnicodeDecodeError)

# A legacy torch.save file is five pickles back to back (magic, protocol, sys info, object, storage keys),
# followed by raw storage bytes that must not be parsed as pickle.
_LEGACY_PICKLES = 5
_STRING_OPS = frozenset(
    {"STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8"}
)
_GET_OPS = frozenset({"GET", "BINGET", "LONG_BINGET"})
_PUT_OPS = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})


def scan_pickle_globals(path: str | os.PathLike) -> set[str]:
    """Every global a torch.save file's pickle references, found from its opcodes without unpickling.

    Names are normalised like torch does (Python 2 names such as ``__builtin__`` map to ``builtins``).
    ``STACK_GLOBAL`` operands are resolved from the preceding string pushes; this is a report, the
    weights-only unpickler remains the enforcement.

    Raises:
        CheckpointReadError: a zip archive without ``data.pkl``.
        One of SCAN_ERRORS: the file is corrupt or truncated.
    """
    file = Path(path)
    with file.open("rb") as handle:
        magic = handle.read(4)
        handle.seek(0)
        if magic in ZIP_MAGICS:
            return _scan_stream(io.BytesIO(_zip_data_pkl(file, handle)), max_pickles=1)
        return _scan_stream(handle, max_pickles=_LEGACY_PICKLES)


def _zip_data_pkl(file: Path, handle: IO[bytes]) -> bytes:
    with zipfile.ZipFile(handle) as archive:
        members = [name for name in archive.namelist() if name == "data.pkl" or name.endswith("/data.pkl")]
        if not members:
            raise CheckpointReadError(
                f"{file}: a zip archive without data.pkl, so not a torch.save checkpoint; if it is an archive "
                "of files, extract it and pass the weights file"
            )
        return archive.read(min(members, key=len))


def _scan_stream(stream: IO[bytes], max_pickles: int) -> set[str]:
    found: set[str] = set()
    for index in range(max_pickles):
        if index and not stream.read(1):
            break
        if index:
            stream.seek(-1, io.SEEK_CUR)
        found |= _scan_one_pickle(stream)
    return found


def _scan_one_pickle(stream: IO[bytes]) -> set[str]:
    found: set[str] = set()
    memo: dict[int, Any] = {}
    strings: list[str] = []
    top: Any = None
    for opcode, arg, _pos in pickletools.genops(stream):
        name = opcode.name
        pushed: Any = None
        if name in _STRING_OPS:
            pushed = arg.decode("latin-1") if isinstance(arg, bytes) else arg
            strings.append(pushed)
        elif name in _GET_OPS:
            pushed = memo.get(arg)
            if isinstance(pushed, str):
                strings.append(pushed)
        elif name in _PUT_OPS:
            memo[arg] = top
            continue
        elif name == "MEMOIZE":
            memo[len(memo)] = top
            continue
        elif name == "GLOBAL":
            module, _, qualname = arg.partition(" ")
            found.add(_normalise_global(module, qualname))
        elif name == "STACK_GLOBAL":
            if len(strings) >= 2:
                module, qualname = strings[-2], strings[-1]
                del strings[-2:]
                found.add(_normalise_global(module, qualname))
            else:
                found.add("<unresolved STACK_GLOBAL>")
        top = pushed
    return found


def _normalise_global(module: str, name: str) -> str:
    if (module, name) in NAME_MAPPING:
        module, name = NAME_MAPPING[(module, name)]
    elif module in IMPORT_MAPPING:
        module = IMPORT_MAPPING[module]
    return f"{module}.{name}"
