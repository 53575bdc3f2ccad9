"""Read one checkpoint file (safetensors or torch pickle) into Python objects without executing pickled code.

The container is sniffed from the first bytes, never trusted from the suffix; anything else fails with a
description of what the file looks like. Header validation lives in ``safetensors_header``, pickle loading
in ``safe_pickle``.
"""

from __future__ import annotations

import logging
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from safetensors.torch import load_file as _load_safetensors

from ..errors import CheckpointNotFoundError, CheckpointReadError
from .nested_tensors import iter_tensors
from .page_release import storage_ranges
from .pickle_scan import ZIP_MAGICS
from .safe_pickle import ALLOWED_PICKLE_GLOBALS, read_pickle
from .safetensors_header import validate_safetensors_header
from .safetensors_map import map_safetensors

# iter_tensors and ALLOWED_PICKLE_GLOBALS are re-exported for existing importers.
__all__ = [
    "ALLOWED_PICKLE_GLOBALS",
    "PICKLE_SUFFIXES",
    "SAFETENSORS_SUFFIXES",
    "RawCheckpoint",
    "iter_tensors",
    "read_checkpoint",
]

logger = logging.getLogger(__name__)

SAFETENSORS_SUFFIXES = (".safetensors",)
PICKLE_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin", ".tar")

_SNIFF_BYTES = 4096
# safetensors refuses headers above 100 MB; anything larger is not a safetensors length prefix.
_MAX_SAFETENSORS_HEADER = 100_000_000


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
    content, mapped, allowed = read_pickle(file, trust_pickle=trust_pickle)
    return RawCheckpoint(
        path=file, container="pickle", content=content, metadata={}, allowed_globals=allowed, mapped_ranges=mapped
    )


def _read_safetensors(file: Path, size: int) -> RawCheckpoint:
    metadata = validate_safetensors_header(file, size)
    mapped = map_safetensors(file)
    if mapped is not None:
        return RawCheckpoint(path=file, container="safetensors", content=mapped, metadata=metadata,
                             mapped_ranges=storage_ranges(mapped.values()))
    try:
        tensors = _load_safetensors(file, device="cpu")
    except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
        raise CheckpointReadError(f"{file}: safetensors could not load it: {exc}") from exc
    return RawCheckpoint(path=file, container="safetensors", content=tensors, metadata=metadata)


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
    if head.startswith(ZIP_MAGICS):
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
