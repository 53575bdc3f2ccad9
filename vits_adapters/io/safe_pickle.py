"""Load a torch.save file with torch's weights-only unpickler, widened by ``trust_pickle`` only to a fixed allowlist.

A refused file is explained: its pickle globals are listed (found by ``pickle_scan``, nothing imported) with
what the caller can do about each.
"""

from __future__ import annotations

import argparse
import logging
import pathlib
import pickle
import struct
import zipfile
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointReadError, format_keys
from .nested_tensors import iter_tensors
from .page_release import storage_ranges
from .pickle_scan import SCAN_ERRORS, ZIP_MAGICS, scan_pickle_globals

logger = logging.getLogger(__name__)

_LIST_LIMIT = 20
# A conservative stand-in for torch's default allowlist, used only if its private helper moves.
_FALLBACK_TORCH_ALLOWED = frozenset(
    {"collections.OrderedDict", "collections.Counter", "_codecs.encode", "builtins.set", "torch.Size"}
)
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


def read_pickle(file: Path, *, trust_pickle: bool) -> tuple[Any, tuple[tuple[int, int], ...], tuple[str, ...]]:
    """Load ``file`` with ``weights_only=True``; ``trust_pickle`` adds only ``ALLOWED_PICKLE_GLOBALS``.

    Returns:
        ``(content, mapped_ranges, allowed_globals)``: the unpickled objects, the address ranges of the
        copy-on-write mappings its tensors view (empty for the legacy format), and the allowlisted globals
        the file needed (empty unless ``trust_pickle`` had to widen the loader).

    Raises:
        CheckpointReadError: the file is corrupt or truncated, or needs globals the loader refuses; the
            message lists them and says whether ``trust_pickle=True`` would help.
    """
    try:
        content, mapped = _torch_load(file)
    except _TORCH_LOAD_ERRORS as exc:
        failure = exc
    else:
        return content, mapped, ()

    try:
        needed = scan_pickle_globals(file)
    except SCAN_ERRORS as exc:
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
    return content, mapped, tuple(unsupported)


def _torch_load(file: Path) -> tuple[Any, tuple[tuple[int, int], ...]]:
    """The content and the address ranges it is mapped at.

    Zip checkpoints are memory-mapped copy-on-write (see safetensors_map.py: ~2x faster than reading each record
    into new memory); the legacy pre-zip format cannot be mapped and is read into memory.
    """
    with file.open("rb") as handle:
        is_zip = handle.read(4) in ZIP_MAGICS
    content = torch.load(str(file), map_location="cpu", weights_only=True, mmap=is_zip)
    return content, storage_ranges(t for _, t in iter_tensors(content)) if is_zip else ()


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
