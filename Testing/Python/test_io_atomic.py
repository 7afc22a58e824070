"""Atomic output: a failure half-way leaves the previous file and no temporary file; results get the
permissions of an ordinary file."""

import os

import pytest

from SegAssistLib.errors import SegAssistError
from SegAssistLib.io.atomic import atomic_group, atomic_output


def test_failure_keeps_previous_file(tmp_path):
    target = tmp_path / "result.seg.nrrd"
    target.write_text("previous")
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            assert tmp.name.endswith(".seg.nrrd") and tmp.parent == tmp_path
            tmp.write_text("half")
            raise RuntimeError("disk full")
    assert target.read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.seg.nrrd"]


def test_success_replaces_with_normal_permissions(tmp_path):
    target = tmp_path / "out.nii.gz"
    old = os.umask(0o022)
    try:
        with atomic_output(target) as tmp:
            tmp.write_bytes(b"new")
    finally:
        os.umask(old)
    assert target.read_bytes() == b"new"
    assert target.stat().st_mode & 0o777 == 0o644


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


def test_group_lands_together(tmp_path):
    a, b = tmp_path / "labels.nrrd", tmp_path / "labels.csv"
    a.write_text("old image")
    with atomic_group():
        with atomic_output(a) as tmp:
            tmp.write_text("new image")
        assert a.read_text() == "old image"  # not yet: the group's end moves both
        with atomic_output(b) as tmp:
            tmp.write_text("new table")
    assert (a.read_text(), b.read_text()) == ("new image", "new table")
    assert _files(tmp_path) == ["labels.csv", "labels.nrrd"]


def test_group_failure_changes_nothing(tmp_path):
    a, b = tmp_path / "a.png", tmp_path / "b.json"
    a.write_text("previous a")
    with pytest.raises(RuntimeError):
        with atomic_group():
            with atomic_output(a) as tmp:
                tmp.write_text("new a")
            with atomic_output(b) as tmp:
                raise RuntimeError("encoder failed")
    assert a.read_text() == "previous a"
    assert _files(tmp_path) == ["a.png"]


def test_group_failure_while_moving_restores_the_files_already_moved(tmp_path):
    # The second target is a folder, so moving a file onto it fails after the first file has been moved:
    # the first must get its previous content back.
    a, b = tmp_path / "a.png", tmp_path / "b.json"
    a.write_text("previous a")
    b.mkdir()
    (b / "inside").write_text("x")
    with pytest.raises(OSError):
        with atomic_group():
            with atomic_output(a) as tmp:
                tmp.write_text("new a")
            with atomic_output(b) as tmp:
                tmp.write_text("new b")
    assert a.read_text() == "previous a"
    assert (b / "inside").read_text() == "x"
    assert _files(tmp_path) == ["a.png", "b.json"]


def test_group_refuses_two_outputs_to_one_file(tmp_path):
    target = tmp_path / "img.png"
    with pytest.raises(SegAssistError, match="two outputs"):
        with atomic_group():
            for text in ("first", "second"):
                with atomic_output(target) as tmp:
                    tmp.write_text(text)
    assert not target.exists() and _files(tmp_path) == []


def test_nested_groups_join_the_outer_one(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    with pytest.raises(RuntimeError):
        with atomic_group():
            with atomic_group():
                with atomic_output(a) as tmp:
                    tmp.write_text("a")
            assert not a.exists()
            with atomic_output(b) as tmp:
                raise RuntimeError("late failure")
    assert _files(tmp_path) == []
