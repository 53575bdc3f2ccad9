"""Check a safetensors header against the file it heads, so a lying header fails with the tensor named."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from ..errors import CheckpointReadError

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


def validate_safetensors_header(file: Path, size: int) -> dict[str, str]:
    """Check the header against the file before safetensors maps it.

    Args:
        file: a file whose first 8 bytes are a header length that fits in ``size``.
        size: the file's size in bytes.

    Returns:
        The header's ``__metadata__`` (empty when absent).

    Raises:
        CheckpointReadError: the header is not a JSON object, an entry is malformed or lies about its size,
            or the tensors' data offsets overlap, leave gaps or do not cover the data section exactly.
    """
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
