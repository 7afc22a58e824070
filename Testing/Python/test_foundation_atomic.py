"""Atomic output: a failure half-way leaves the previous file and no temporary file; results get the
permissions of an ordinary file."""

import os

import pytest

from SegAssistLib.io.atomic import atomic_output


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
