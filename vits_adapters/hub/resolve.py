"""Turn a ``source`` argument (Hub repo id, folder or file) into the local weights file and config file to read."""

from __future__ import annotations

import fnmatch
import logging
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import AmbiguousConfigError, CheckpointNotFoundError, FormatDetectionError
from .fetch import fetch_snapshot, is_repo_id, revision_of
from ..mapping.spec import FormatSpec

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResolvedSource:
    """Local paths for one checkpoint, and where they came from."""

    weights: Path
    folder: Path  # where the config and extra files beside the weights are looked for
    repo_id: str | None = None
    revision: str | None = None
    extras: dict[str, Path] = field(default_factory=dict)  # e.g. tokenizer files beside the weights

    @property
    def label(self) -> str:
        """How the report names the source."""
        return self.repo_id or str(self.weights)


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in patterns)


def _pick_weights(folder: Path, specs: list[FormatSpec]) -> Path:
    files = sorted(p for p in folder.iterdir() if p.is_file())
    for spec in specs:  # specs are tried in order; the first whose weight patterns find files wins
        for pattern in spec.weight_files:
            hits = [p for p in files if fnmatch.fnmatch(p.name, pattern)]
            if len(hits) == 1:
                return hits[0]
            if len(hits) > 1:
                raise FormatDetectionError(
                    f"{folder}: several candidate checkpoint files match {pattern!r}:\n"
                    + "\n".join(f"  {p.name}" for p in hits)
                    + "\nPass the file you want as the source."
                )
    names = ", ".join(p.name for p in files) or "(empty)"
    wanted = ", ".join(dict.fromkeys(pattern for spec in specs for pattern in spec.weight_files))
    raise CheckpointNotFoundError(
        f"{folder}: no checkpoint file found (files: {names}); looked for {wanted}. "
        "Pass the weights file itself, or fetch the missing file."
    )


def find_config(folder: Path, spec: FormatSpec) -> Path | None:
    """The config file of ``spec``'s layout beside the weights; chosen once the format is known.

    Raises:
        AmbiguousConfigError: several files match the layout's config patterns and their contents differ.
    """
    hits = [
        path
        for pattern in spec.config_files
        for path in sorted(p for p in folder.iterdir() if p.is_file() and fnmatch.fnmatch(p.name, pattern))
    ]
    hits = list(dict.fromkeys(hits))
    if len({path.read_bytes() for path in hits}) > 1:
        raise AmbiguousConfigError(
            f"{folder}: several config files could belong to this {spec.name} checkpoint and they differ:\n"
            + "\n".join(f"  {path.name}" for path in hits)
            + "\nPass the right one with config=..., or remove the others."
        )
    return hits[0] if hits else None


def resolve_source(
    source: str | Path,
    specs: list[FormatSpec],
    *,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    local_files_only: bool = False,
    token: str | bool | None = None,
    force_download: bool = False,
) -> ResolvedSource:
    """Locate the weights for ``source``, downloading only the files the candidate formats name.

    Raises:
        CheckpointNotFoundError: nothing at ``source`` locally or on the Hub (or not cached while offline).
        FormatDetectionError: a folder holds several candidate weight files.
    """
    path = Path(source).expanduser()
    repo_id = None
    if path.exists():
        folder = path if path.is_dir() else path.parent
    elif is_repo_id(str(source)):
        repo_id = str(source)
        patterns = sorted({p for spec in specs for p in spec.weight_files + spec.config_files + spec.extra_files})
        folder = fetch_snapshot(
            repo_id,
            allow_patterns=patterns,
            revision=revision,
            cache_dir=cache_dir,
            local_files_only=local_files_only,
            token=token,
            force_download=force_download,
        )
        path = folder
    else:
        raise CheckpointNotFoundError(f"{source}: no such file or folder, and it is not a Hub repo id (org/name)")
    weights = _pick_weights(folder, specs) if path.is_dir() else path
    resolved_revision = revision_of(folder) if repo_id else None
    extra_patterns = tuple(p for spec in specs for p in spec.extra_files)
    extras = {p.name: p for p in sorted(folder.iterdir()) if p.is_file() and _matches(p.name, extra_patterns)}
    logger.info("weights %s", weights)
    return ResolvedSource(weights=weights, folder=folder, repo_id=repo_id, revision=resolved_revision, extras=extras)
