"""The bad-input corpus: every broken input raises its exact error class and message, and writes nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.bad_input_sources import FORMATS, Sources, build_sources
from tests.bad_inputs import CORPUS, BadInput


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` with its size and modification time, to see that a failed call wrote nothing."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Sources:
    return build_sources(tmp_path_factory.mktemp("good"))


def test_the_corpus_is_large_and_covers_every_format() -> None:
    ids = [case.id for case in CORPUS]
    assert len(ids) == len(set(ids)) and len(ids) >= 40
    for fmt in FORMATS:
        assert sum(case_id.startswith(f"{fmt}-") for case_id in ids) >= 8, fmt


@pytest.mark.parametrize("case", CORPUS, ids=[case.id for case in CORPUS])
def test_bad_input_raises_its_exact_error(case: BadInput, sources: Sources, tmp_path: Path) -> None:
    call = case.build(tmp_path, sources)
    before = _tree(tmp_path)
    with pytest.raises(Exception) as caught:  # noqa: PT011 - the exact class is asserted below
        call()
    error = caught.value
    assert type(error) is case.error, f"{type(error).__name__}: {error}"
    assert re.search(case.message, str(error), flags=re.MULTILINE), str(error)
    # Nothing half-written: the failed call left every file as it found it and added none (no temp files).
    assert _tree(tmp_path) == before
    assert not (tmp_path / "marker").exists()  # the code-executing pickle never ran
