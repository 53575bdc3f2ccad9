"""Convert many checkpoints in one go: one output folder per input, every failure reported by input."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import CheckpointNotFoundError, InvalidInputError, VitsAdapterError
from ..hub.fetch import is_repo_id
from ..progress import progress_bar
from ..mapping.registry import all_formats


@dataclass(frozen=True)
class BatchItem:
    """One input of a batch conversion: where it goes and what happened (``error`` is None on success)."""

    source: str
    out_dir: Path
    written: tuple[Path, ...] = ()
    error: BaseException | None = None

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-shaped fields."""
        failure = None if self.error is None else {"type": type(self.error).__name__, "message": str(self.error)}
        return {"source": self.source, "out_dir": str(self.out_dir), "written": [str(p) for p in self.written], "error": failure}


def _checkpoints_in(folder: Path) -> list[str]:
    """The checkpoint files (any format's weight pattern, not an extra file such as speakers.pth) and subfolders."""
    specs = all_formats()
    weights = {p for spec in specs for p in spec.weight_files}
    extras = {p for spec in specs for p in spec.extra_files}
    found = []
    for entry in sorted(folder.iterdir()):
        name = entry.name
        if name.startswith("."):
            continue
        if entry.is_dir() or (
            any(fnmatch.fnmatch(name, p) for p in weights) and not any(fnmatch.fnmatch(name, p) for p in extras)
        ):
            found.append(str(entry))
    if not found:
        raise CheckpointNotFoundError(f"{folder}: no checkpoint files or checkpoint folders inside to convert")
    return found


def expand_sources(sources: Sequence[str | os.PathLike[str]]) -> list[str]:
    """Every input of a batch: a folder stands for the checkpoints and checkpoint folders directly inside it.

    Raises:
        CheckpointNotFoundError: a folder holds no checkpoint.
    """
    expanded: list[str] = []
    for source in sources:
        path = Path(source).expanduser()
        expanded += _checkpoints_in(path) if path.is_dir() else [str(source)]
    return expanded


def _output_name(source: str) -> str:
    path = Path(source)
    if not path.exists() and is_repo_id(source):
        return source.split("/")[-1]
    return path.name if path.is_dir() else path.stem


def plan_outputs(sources: Sequence[str], out_root: str | os.PathLike[str]) -> list[BatchItem]:
    """One output folder per input, ``out_root/<file stem, folder or repo name>``.

    Raises:
        InvalidInputError: no inputs, or two inputs that would write the same folder (named, before anything is
            written).
    """
    if not sources:
        raise InvalidInputError("no checkpoints to convert")
    root = Path(out_root)
    by_folder: dict[Path, list[str]] = {}
    for source in sources:
        by_folder.setdefault(root / _output_name(source), []).append(source)
    clashes = {folder: names for folder, names in by_folder.items() if len(names) > 1}
    if clashes:
        lines = [f"  {folder}: {', '.join(names)}" for folder, names in sorted(clashes.items())]
        raise InvalidInputError(
            "several inputs would be written to the same output folder:\n" + "\n".join(lines)
            + "\nRename the files or convert them in separate runs."
        )
    return [BatchItem(source, folder) for folder, names in by_folder.items() for source in names]


def convert_many(
    items: Sequence[BatchItem],
    convert_one: Callable[[str, Path], Sequence[Path]],
    *,
    progress: bool | None = None,
) -> list[BatchItem]:
    """Run ``convert_one(source, out_dir)`` for every item; an error is recorded for its input, the rest go on.

    Args:
        items: the plan from :func:`plan_outputs`.
        convert_one: converts one checkpoint and returns the files it wrote.
        progress: show a progress bar (None: only when stderr is a terminal).

    Returns:
        The items with ``written`` or ``error`` filled in, in the same order.
    """
    done = []
    for item in progress_bar(items, desc="convert", show=progress):
        try:
            written = tuple(convert_one(item.source, item.out_dir))
        except (VitsAdapterError, OSError) as err:
            done.append(BatchItem(item.source, item.out_dir, error=err))
        else:
            done.append(BatchItem(item.source, item.out_dir, written=written))
    return done
