"""Read one checkpoint file (safetensors or torch pickle) into Python objects without executing pickled code."""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import pathlib
import pickle
import pickletools
import struct
import zipfile
from _compat_pickle import IMPORT_MAPPING, NAME_MAPPING
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file as _load_safetensors
from torch import Tensor

from .errors import CheckpointNotFoundError, CheckpointReadError, format_keys
from .page_release import storage_ranges
from .safetensors_map import map_safetensors

logger = logging.getLogger(__name__)

SAFETENSORS_SUFFIXES = (".safetensors",)
PICKLE_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin", ".tar")

_ZIP_MAGIC = b"PK\x03\x04"
_EMPTY_ZIP_MAGIC = b"PK\x05\x06"
_SNIFF_BYTES = 4096
# safetensors refuses headers above 100 MB; anything larger is not a safetensors length prefix.
_MAX_SAFETENSORS_HEADER = 100_000_000
# A legacy torch.save file is five pickles back to back (magic, protocol, sys info, object, storage keys),
# followed by raw storage bytes that must not be parsed as pickle.
_LEGACY_PICKLES = 5
_LIST_LIMIT = 20
# A conservative stand-in for torch's default allowlist, used only if its private helper moves.
_FALLBACK_TORCH_ALLOWED = frozenset(
    {"collections.OrderedDict", "collections.Counter", "_codecs.encode", "builtins.set", "torch.Size"}
)

_SAFETENSORS_DTYPE_BITS = {
    "BOOL": 8,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "C64": 64,
    "F64": 64,
    "I64": 64,
    "U64": 64,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
}

_TORCH_LOAD_ERRORS = (
    pickle.UnpicklingError,
    RuntimeError,
    EOFError,
    ValueError,
    OSError,
    KeyError,
    TypeError,
    AttributeError,
    IndexError,
    struct.error,
    zipfile.BadZipFile,
)
_SCAN_ERRORS = (ValueError, EOFError, KeyError, OSError, struct.error, zipfile.BadZipFile, UnicodeDecodeError)

# numpy dtype classes a pickled scalar's dtype is rebuilt into; torch checks BUILD against these types,
# so they are allowed together with "numpy.dtype" although no pickle names them as a global.
_NUMPY_DTYPE_CLASSES = (
    "BoolDType",
    "Int8DType",
    "Int16DType",
    "Int32DType",
    "Int64DType",
    "UInt8DType",
    "UInt16DType",
    "UInt32DType",
    "UInt64DType",
    "Float16DType",
    "Float32DType",
    "Float64DType",
    "Complex64DType",
    "Complex128DType",
)


def _build_allowlist() -> tuple[dict[str, object], dict[str, tuple[str, ...]]]:
    """The harmless globals ``trust_pickle`` may allow, and the extra names each one implies."""
    allowed: dict[str, object] = {}
    for cls in (pathlib.PosixPath, pathlib.WindowsPath, pathlib.PurePosixPath, pathlib.PureWindowsPath):
        allowed[f"pathlib.{cls.__name__}"] = cls
        # Python 3.13+ pickles name the private module pathlib._local.
        allowed[f"pathlib._local.{cls.__name__}"] = cls
    allowed["argparse.Namespace"] = argparse.Namespace
    # collections.defaultdict is left out: torch's weights-only unpickler cannot fill one (SETITEM is
    # restricted to dict, OrderedDict and Counter), so allowing it would never help.
    implied: dict[str, tuple[str, ...]] = {}
    try:
        import numpy
    except ImportError:  # numpy is optional for reading; without it numpy scalars cannot be rebuilt.
        return allowed, implied
    try:
        from numpy._core.multiarray import scalar
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import scalar
    # numpy 1.x pickles name numpy.core, numpy 2.x numpy._core; both rebuild with the same function.
    allowed["numpy.core.multiarray.scalar"] = scalar
    allowed["numpy._core.multiarray.scalar"] = scalar
    allowed["numpy.dtype"] = numpy.dtype
    dtypes = getattr(numpy, "dtypes", None)
    dtype_names = []
    for name in _NUMPY_DTYPE_CLASSES:
        cls = getattr(dtypes, name, None)
        if cls is not None:
            allowed[f"numpy.dtypes.{name}"] = cls
            dtype_names.append(f"numpy.dtypes.{name}")
    implied["numpy.dtype"] = tuple(dtype_names)
    return allowed, implied


ALLOWED_PICKLE_GLOBALS, _IMPLIED_GLOBALS = _build_allowlist()


@dataclass(frozen=True)
class RawCheckpoint:
    """The Python objects read from one checkpoint file, with how they were read."""

    path: Path
    container: str
    content: Any
    metadata: dict[str, str] = field(default_factory=dict)
    allowed_globals: tuple[str, ...] = ()
    # Address ranges of the copy-on-write file mappings the tensors are views of (empty when read into memory).
    mapped_ranges: tuple[tuple[int, int], ...] = ()


def read_checkpoint(path: str | os.PathLike, *, trust_pickle: bool = False) -> RawCheckpoint:
    """Read a safetensors or torch.save file; pickles load with ``weights_only=True`` only.

    ``trust_pickle=True`` additionally allows the harmless types in ``ALLOWED_PICKLE_GLOBALS``; any other
    global a pickle needs is refused, never imported or called.
    """
    file = Path(path).expanduser()
    if not file.exists():
        raise CheckpointNotFoundError(f"checkpoint not found: {file}")
    if file.is_dir():
        raise CheckpointReadError(_folder_message(file))
    try:
        size = file.stat().st_size
        with file.open("rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError as exc:
        raise CheckpointReadError(f"{file}: cannot read: {exc}") from exc
    if size == 0:
        raise CheckpointReadError(f"{file}: empty file (0 bytes); the download or copy probably failed")
    container = _sniff(file, head, size)
    _warn_on_suffix_mismatch(file, container)
    logger.debug("reading %s as %s (%d bytes)", file, container, size)
    if container == "safetensors":
        return _read_safetensors(file, size)
    return _read_pickle(file, trust_pickle=trust_pickle)


def iter_tensors(obj: Any, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
    """Yield ``(dotted_key, tensor)`` for every tensor in nested mappings, skipping everything else."""
    if isinstance(obj, Tensor):
        yield prefix, obj
    elif isinstance(obj, Mapping):
        for key, value in obj.items():
            yield from iter_tensors(value, f"{prefix}.{key}" if prefix else str(key))


# --- sniffing -------------------------------------------------------------------------------------------


def _folder_message(folder: Path) -> str:
    suffixes = SAFETENSORS_SUFFIXES + PICKLE_SUFFIXES
    try:
        candidates = sorted(p.name for p in folder.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
    except OSError:
        candidates = []
    message = f"{folder} is a folder; pass a file (the weights file inside it)"
    if candidates:
        shown = ", ".join(candidates[:5]) + (f" (+{len(candidates) - 5} more)" if len(candidates) > 5 else "")
        message += f"; checkpoint-like files there: {shown}"
    return message


def _safetensors_header_length(head: bytes) -> int | None:
    """The header length if ``head`` starts like a safetensors file, else None."""
    if len(head) < 9 or head[8:9] != b"{":
        return None
    (length,) = struct.unpack("<Q", head[:8])
    return length if 2 <= length <= _MAX_SAFETENSORS_HEADER else None


def _sniff(file: Path, head: bytes, size: int) -> str:
    """Decide the container from the first bytes; raise a descriptive error for anything else."""
    if head.startswith((_ZIP_MAGIC, _EMPTY_ZIP_MAGIC)):
        return "pickle"
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "pickle"
    length = _safetensors_header_length(head)
    if length is not None:
        if 8 + length > size:
            raise CheckpointReadError(
                f"{file}: truncated safetensors file: the header alone needs {8 + length} bytes "
                f"but the file has {size}"
            )
        return "safetensors"
    if len(head) > 262 and head[257:262] == b"ustar":
        raise CheckpointReadError(
            f"{file}: looks like a tar archive, not a checkpoint: extract it and pass the weights file inside"
        )
    text = _as_text(head)
    if text is not None:
        raise CheckpointReadError(f"{file}: {_describe_text(text)}")
    hint = " (an ONNX export is a traced graph, not a checkpoint)" if file.suffix.lower() == ".onnx" else ""
    raise CheckpointReadError(
        f"{file}: unrecognised binary content (starts with {head[:8].hex(' ')}){hint}: expected a safetensors "
        "file (8-byte little-endian header length, then '{') or a torch.save file (zip 'PK\\x03\\x04' or "
        "pickle '\\x80')"
    )


def _as_text(head: bytes) -> str | None:
    """``head`` decoded when it is printable UTF-8 text, else None."""
    for cut in range(4):  # the sniff window may split a multi-byte character
        try:
            text = head[: len(head) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        if all(ch.isprintable() or ch in "\t\n\r\f\ufeff" for ch in text):
            return text
        return None
    return None


def _describe_text(text: str) -> str:
    stripped = text.lstrip("\ufeff \t\r\n")
    config_hint = "not a checkpoint: pass the weights file, and the config with config="
    if stripped.startswith(("{", "[")):
        return f"looks like a JSON file, {config_hint}"
    if stripped.startswith("version https://git-lfs"):
        return "is a Git LFS pointer, not the weights: fetch the real file (git lfs pull)"
    if stripped.lower().startswith(("<!doctype html", "<html", "<?xml", "<")):
        return "looks like an HTML/XML page (a failed download?), not a checkpoint"
    lines = [line.strip() for line in stripped.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if stripped.startswith("---") or (lines and all(":" in line or line.startswith("- ") for line in lines[:5])):
        return f"looks like a YAML file, {config_hint}"
    return (
        "looks like a text file, not a checkpoint: expected a safetensors file or a torch.save file "
        f"({', '.join(PICKLE_SUFFIXES)})"
    )


def _warn_on_suffix_mismatch(file: Path, container: str) -> None:
    suffix = file.suffix.lower()
    expected = (
        "safetensors" if suffix in SAFETENSORS_SUFFIXES else "pickle" if suffix in PICKLE_SUFFIXES else None
    )
    if expected is not None and expected != container:
        logger.warning("%s has suffix %s but its content is a %s file; reading it as such", file, suffix, container)


# --- safetensors ----------------------------------------------------------------------------------------


def _read_safetensors(file: Path, size: int) -> RawCheckpoint:
    metadata = _validate_safetensors_header(file, size)
    mapped = map_safetensors(file)
    if mapped is not None:
        return RawCheckpoint(path=file, container="safetensors", content=mapped, metadata=metadata,
                             mapped_ranges=storage_ranges(mapped.values()))
    try:
        tensors = _load_safetensors(file, device="cpu")
    except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
        raise CheckpointReadError(f"{file}: safetensors could not load it: {exc}") from exc
    return RawCheckpoint(path=file, container="safetensors", content=tensors, metadata=metadata)


def _validate_safetensors_header(file: Path, size: int) -> dict[str, str]:
    """Check the header against the file before safetensors maps it; return ``__metadata__``."""
    with file.open("rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        raw = handle.read(length)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointReadError(f"{file}: safetensors header is not valid JSON: {exc}") from exc
    if not isinstance(header, dict):
        raise CheckpointReadError(f"{file}: safetensors header is a JSON {type(header).__name__}, not an object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise CheckpointReadError(f"{file}: safetensors __metadata__ must map strings to strings")
    data_size = size - 8 - length
    spans = sorted((_tensor_span(file, name, info), name) for name, info in header.items())
    last_end, last_name = 0, None
    for (begin, end), name in spans:
        if end > data_size:
            raise CheckpointReadError(
                f"{file}: truncated safetensors file: tensor {name!r} ends at byte {end} of the data section "
                f"but only {data_size} bytes are present"
            )
        if begin != last_end:
            after = f"after tensor {last_name!r} (ends at {last_end})" if last_name else "at the data start (0)"
            kind = "overlaps" if begin < last_end else "leaves a gap"
            raise CheckpointReadError(
                f"{file}: safetensors header lies about offsets: tensor {name!r} starts at {begin}, which "
                f"{kind} {after}"
            )
        last_end, last_name = end, name
    if last_end != data_size:
        raise CheckpointReadError(
            f"{file}: safetensors header covers {last_end} data bytes but the file holds {data_size}; "
            "the header does not describe this file"
        )
    return dict(metadata)


def _tensor_span(file: Path, name: str, info: Any) -> tuple[int, int]:
    """Validate one header entry and return its ``(begin, end)`` data offsets."""

    def bad(reason: str) -> CheckpointReadError:
        return CheckpointReadError(f"{file}: safetensors header entry for tensor {name!r} {reason}")

    if not isinstance(info, dict):
        raise bad(f"is a JSON {type(info).__name__}, not an object")
    dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
    bits = _SAFETENSORS_DTYPE_BITS.get(dtype) if isinstance(dtype, str) else None
    if bits is None:
        raise bad(f"has unknown dtype {dtype!r}")
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise bad(f"has an invalid shape {shape!r}")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(type(o) is int and o >= 0 for o in offsets)
        or offsets[0] > offsets[1]
    ):
        raise bad(f"has invalid data_offsets {offsets!r}")
    numel = 1
    for dim in shape:
        numel *= dim
    nbytes, remainder = divmod(numel * bits, 8)
    begin, end = offsets
    if remainder or end - begin != nbytes:
        raise bad(
            f"lies about its size: dtype {dtype} shape {shape} needs {numel * bits / 8:g} bytes but "
            f"data_offsets {offsets} span {end - begin}"
        )
    return begin, end


# --- pickle ---------------------------------------------------------------------------------------------


def _torch_load(file: Path) -> tuple[Any, tuple[tuple[int, int], ...]]:
    """The content and the address ranges it is mapped at.

    Zip checkpoints are memory-mapped copy-on-write (see safetensors_map.py: ~2x faster than reading each record
    into new memory); the legacy pre-zip format cannot be mapped and is read into memory.
    """
    with file.open("rb") as handle:
        is_zip = handle.read(len(_ZIP_MAGIC)) in (_ZIP_MAGIC, _EMPTY_ZIP_MAGIC)
    content = torch.load(str(file), map_location="cpu", weights_only=True, mmap=is_zip)
    return content, storage_ranges(t for _, t in iter_tensors(content)) if is_zip else ()


def _read_pickle(file: Path, *, trust_pickle: bool) -> RawCheckpoint:
    try:
        content, mapped = _torch_load(file)
    except _TORCH_LOAD_ERRORS as exc:
        failure = exc
    else:
        return RawCheckpoint(path=file, container="pickle", content=content, metadata={}, mapped_ranges=mapped)

    try:
        needed = _scan_pickle_globals(file)
    except _SCAN_ERRORS as exc:
        raise CheckpointReadError(
            f"{file}: corrupt or truncated torch checkpoint: {_torch_reason(failure)}"
        ) from exc
    unsupported = sorted(needed - _torch_allowed_globals())
    if not unsupported:
        raise CheckpointReadError(_plain_failure_message(file, failure)) from failure

    outside = [name for name in unsupported if name not in ALLOWED_PICKLE_GLOBALS]
    if not trust_pickle or outside:
        raise CheckpointReadError(_globals_message(file, unsupported, outside, trust_pickle)) from failure

    # numpy.dtype also needs its dtype classes: torch checks BUILD against the rebuilt object's type.
    names = sorted({implied for name in unsupported for implied in (name, *_IMPLIED_GLOBALS.get(name, ()))})
    logger.info("%s: trust_pickle allows %s", file, ", ".join(unsupported))
    extra = [(ALLOWED_PICKLE_GLOBALS[name], name) for name in names]
    try:
        with torch.serialization.safe_globals(extra):
            content, mapped = _torch_load(file)
    except _TORCH_LOAD_ERRORS as exc:
        raise CheckpointReadError(
            f"{file}: could not be read even with the trust_pickle allowlist ({', '.join(unsupported)}): "
            f"{_torch_reason(exc)}"
        ) from exc
    return RawCheckpoint(
        path=file, container="pickle", content=content, metadata={}, allowed_globals=tuple(unsupported),
        mapped_ranges=mapped,
    )


def _torch_reason(exc: BaseException) -> str:
    """The informative part of a torch.load error, without its long weights_only preamble."""
    message = str(exc)
    marker = "WeightsUnpickler error:"
    if marker in message:
        message = message.split(marker, 1)[1].split("Check the documentation of torch.load", 1)[0]
    message = " ".join(message.split())
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _plain_failure_message(file: Path, failure: BaseException) -> str:
    if isinstance(failure, pickle.UnpicklingError):
        return (
            f"{file}: torch's weights-only unpickler cannot read this pickle (all its globals are allowed; "
            f"unusual pickle protocol or object layout?): {_torch_reason(failure)}"
        )
    return f"{file}: corrupt or truncated torch checkpoint: {_torch_reason(failure)}"


def _allowlist_summary() -> str:
    primary = [
        name
        for name in ALLOWED_PICKLE_GLOBALS
        if not name.startswith(("pathlib._local.", "numpy.dtypes.", "numpy.core."))
    ]
    return ", ".join(primary) + " (plus numpy.dtypes.* scalar dtype classes and pathlib._local aliases)"


def _globals_message(file: Path, unsupported: list[str], outside: list[str], trust_pickle: bool) -> str:
    conversion = (
        "To convert once to safetensors: in a throwaway environment you trust, load the file with full "
        "unpickling, then save its tensors with safetensors.torch.save_file({name: tensor.contiguous()}, "
        "'model.safetensors') and pass that file instead."
    )
    allowlist = f"trust_pickle=True allows only these harmless types: {_allowlist_summary()}."
    if trust_pickle:
        return (
            f"{file}: refused even with trust_pickle=True (nothing was imported or executed); it needs "
            f"pickle globals outside the allowlist:\n{format_keys(outside, _LIST_LIMIT)}\n{allowlist}\n{conversion}"
        )
    if outside:
        verdict = (
            f"Not on the trust_pickle allowlist, so trust_pickle=True will not help:\n"
            f"{format_keys(outside, _LIST_LIMIT)}"
        )
    else:
        verdict = "All of them are on the trust_pickle allowlist: pass trust_pickle=True if you trust the file."
    return (
        f"{file}: needs pickle globals that torch's weights-only loader does not allow (nothing was imported "
        f"or executed):\n{format_keys(unsupported, _LIST_LIMIT)}\n{verdict}\n{allowlist}\n{conversion}"
    )


def _torch_allowed_globals() -> set[str]:
    """Names torch's weights-only unpickler accepts right now (its defaults plus user additions)."""
    # torch exposes these only privately; fall back to its public view if the helpers move.
    from torch import _weights_only_unpickler as unpickler

    defaults = getattr(unpickler, "_get_allowed_globals", None)
    users = getattr(unpickler, "_get_user_allowed_globals", None)
    if defaults is not None and users is not None:
        return set(defaults()) | set(users())
    allowed = set(_FALLBACK_TORCH_ALLOWED)
    for entry in torch.serialization.get_safe_globals():
        if isinstance(entry, tuple):
            allowed.add(entry[1])
        else:
            allowed.add(f"{entry.__module__}.{entry.__qualname__}")
    return allowed


# --- opcode scan ----------------------------------------------------------------------------------------

_STRING_OPS = frozenset(
    {"STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8"}
)
_GET_OPS = frozenset({"GET", "BINGET", "LONG_BINGET"})
_PUT_OPS = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})


def _scan_pickle_globals(path: str | os.PathLike) -> set[str]:
    """Every global a torch.save file's pickle references, found from its opcodes without unpickling.

    Names are normalised like torch does (Python 2 names such as ``__builtin__`` map to ``builtins``).
    ``STACK_GLOBAL`` operands are resolved from the preceding string pushes; this is a report, the
    weights-only unpickler remains the enforcement.
    """
    file = Path(path)
    with file.open("rb") as handle:
        magic = handle.read(4)
        handle.seek(0)
        if magic in (_ZIP_MAGIC, _EMPTY_ZIP_MAGIC):
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
