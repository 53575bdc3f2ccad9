"""Hand back the resident pages of a copy-on-write checkpoint mapping once a tensor in it has been converted.

A folded weight is new memory; the pages of the g/v pair it came from would otherwise stay resident until the
whole checkpoint is dropped, so a load would briefly hold the weights twice. ``MADV_DONTNEED`` on a private file
mapping that was never written drops the pages; touching them again reads the same bytes back from the file, so
a release can cost time but never change a value. Only whole pages inside a known mapping are released.
"""

from __future__ import annotations

import ctypes
import mmap
import sys
from collections.abc import Iterable

from torch import Tensor

_MADV_DONTNEED = 4  # Linux
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def storage_ranges(tensors: Iterable[Tensor]) -> tuple[tuple[int, int], ...]:
    """The distinct ``[start, end)`` address ranges of the storages behind ``tensors``."""
    spans = {(t.untyped_storage().data_ptr(), t.untyped_storage().nbytes()) for t in tensors}
    return tuple(sorted((start, start + size) for start, size in spans if size))


def release_pages(tensor: Tensor, mapped: tuple[tuple[int, int], ...]) -> None:
    """Drop the whole pages of ``tensor``'s bytes from memory when they lie inside one of the ``mapped`` ranges.

    ``mapped`` must hold only copy-on-write file mappings that nothing has written to (see the module docstring).
    """
    if _LIBC is None or not tensor.is_contiguous():
        return
    begin = tensor.data_ptr()
    end = begin + tensor.numel() * tensor.element_size()
    if not any(start <= begin and end <= stop for start, stop in mapped):
        return
    first = -(-begin // mmap.PAGESIZE) * mmap.PAGESIZE
    last = end // mmap.PAGESIZE * mmap.PAGESIZE
    if last > first:
        _LIBC.madvise(ctypes.c_void_p(first), ctypes.c_size_t(last - first), _MADV_DONTNEED)
