"""Tests for atomic_write: success replaces, failure leaves the old file and no debris."""

from __future__ import annotations

from pathlib import Path

import pytest

from vits_adapters.io.atomic import atomic_write


class Boom(RuntimeError):
    """Raised inside the context to simulate a failing writer."""


def test_success_replaces_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with atomic_write(target) as temp:
        assert temp != target
        assert temp.parent == tmp_path
        temp.write_bytes(b"new contents")
        assert target.read_bytes() == b"old"  # nothing visible until the context exits
    assert target.read_bytes() == b"new contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_temp_name_is_hidden_and_keeps_suffix(tmp_path: Path) -> None:
    target = tmp_path / "voice.wav"
    with atomic_write(target) as temp:
        assert temp.name.startswith(".voice.tmp")
        assert temp.suffix == ".wav"
        assert temp.exists()
        temp.write_bytes(b"x")


def test_exception_leaves_old_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    original = bytes(range(256)) * 4
    target.write_bytes(original)
    seen: list[Path] = []
    with pytest.raises(Boom), atomic_write(target) as temp:
        seen.append(temp)
        temp.write_bytes(b"partial")
        raise Boom("writer failed")
    assert target.read_bytes() == original
    assert not seen[0].exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_exception_without_previous_file_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    with pytest.raises(Boom), atomic_write(target) as temp:
        temp.write_bytes(b"partial")
        raise Boom("writer failed")
    assert list(tmp_path.iterdir()) == []


def test_overwrite_false_refuses_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"keep me")
    with pytest.raises(FileExistsError, match="out.bin"), atomic_write(target, overwrite=False):
        pytest.fail("the body must not run")
    assert target.read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_overwrite_false_writes_new_file(tmp_path: Path) -> None:
    target = tmp_path / "fresh.bin"
    with atomic_write(target, overwrite=False) as temp:
        temp.write_bytes(b"hello")
    assert target.read_bytes() == b"hello"


def test_missing_parent_folders_are_created(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "c.txt"
    with atomic_write(str(target)) as temp:
        assert temp.parent == target.parent
        temp.write_text("deep", encoding="utf-8")
    assert target.read_text(encoding="utf-8") == "deep"
