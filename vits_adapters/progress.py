"""Progress bars on stderr for long loops, shown only to a person watching a terminal."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")


def progress_bar(iterable: Iterable[T], *, desc: str, total: int | None = None, show: bool | None = None) -> tqdm:
    """Wrap ``iterable`` in a tqdm bar on stderr.

    Args:
        iterable: what to loop over.
        desc: the label in front of the bar.
        total: the number of items when ``iterable`` has no length.
        show: ``None`` shows the bar only when stderr is a terminal, ``False`` never (``--quiet``), ``True`` always.
    """
    disable = None if show is None else not show
    return tqdm(iterable, desc=desc, total=total, disable=disable, file=sys.stderr, leave=False, dynamic_ncols=True)
