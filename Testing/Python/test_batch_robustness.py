"""Batch and atomic-write robustness (issue 18): local workers end when the batch's main process is
killed; a run never deletes the in-flight temporary files of a concurrent ``--force`` run (temporary names
carry host and pid; only those of dead processes are cleaned); temporary files left by a SIGKILLed writer
are cleaned by the next write. Real processes and signals, real SegAssist commands."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from SegAssistLib.batch import read_manifest
from SegAssistLib.batch.runner import DONE, run_case
from SegAssistLib.core.segmentation import Segment, Segmentation
from SegAssistLib.io.atomic import _host, atomic_output, clean_stale_temporaries
from SegAssistLib.io.seg_nrrd import write_seg_nrrd

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2]),
                                                    os.environ.get("PYTHONPATH", "")])}


def _gone(pid: int) -> bool:
    """True when ``pid`` no longer runs (a zombie waiting for a reaper counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state in ("Z", "X")
    except FileNotFoundError:
        return True


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_workers_end_with_their_parent(tmp_path):
    script = textwrap.dedent("""
        import os, sys, time
        from SegAssistLib.batch.executor import local_pool
        pool = local_pool(2, 1)
        [f.result() for f in [pool.submit(time.sleep, 0.5) for _ in range(2)]]  # both workers start
        pids = sorted({f.result() for f in [pool.submit(os.getpid) for _ in range(4)]})
        print(" ".join(map(str, pids)), flush=True)
        time.sleep(120)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=ENV)
    try:
        workers = [int(p) for p in parent.stdout.readline().split()]
        assert workers and all(not _gone(w) for w in workers)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(_gone(w) for w in workers):
            time.sleep(0.1)
        assert all(_gone(w) for w in workers), f"workers {workers} outlived their killed parent"
    finally:
        if parent.poll() is None:
            parent.kill()


@pytest.fixture()
def convert_cases(brain1, tmp_path):
    image, label = brain1
    seg = Segmentation.like(image)
    seg.add_segment(Segment("l", "Lesion", (1.0, 0.0, 0.0)), label.array > 0)
    src = write_seg_nrrd(seg, tmp_path / "src.seg.nrrd")
    manifest = tmp_path / "m.csv"
    with open(manifest, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["case", "operation", "segmentation", "output"])
        for n in range(4):
            w.writerow([f"c{n}", "convert", str(src), f"out/c{n}.nii.gz"])
    return manifest


def test_force_run_keeps_live_temporaries_and_cleans_dead_ones(convert_cases, tmp_path):
    case = read_manifest(convert_cases)[0]
    out = Path(case.output)
    out.parent.mkdir()
    live = out.parent / f".{out.name}.{_host()}~{os.getpid()}~abc123.tmp.nii.gz"  # a concurrent writer (us)
    dead = out.parent / f".{out.name}.{_host()}~{_dead_pid()}~def456.tmp.nii.gz"
    other_host = out.parent / f".{out.name}.elsewhere~{_dead_pid()}~ghi789.tmp.nii.gz"
    for p in (live, dead, other_host):
        p.write_bytes(b"half written")
    result = run_case(case, force=True)
    assert result.status == DONE, result.error
    assert live.exists() and other_host.exists() and not dead.exists()


def test_concurrent_force_batches_both_succeed(convert_cases, tmp_path):
    cmd = [sys.executable, "-m", "SegAssistLib.cli.main", "batch", str(convert_cases), "--force", "--workers", "1",
           "--no-progress"]
    runs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
            for _ in range(2)]
    outs = [r.communicate(timeout=120) for r in runs]
    assert [r.returncode for r in runs] == [0, 0], outs
    assert not [p for p in (tmp_path / "out").iterdir() if "~" in p.name]


def test_sigkilled_writer_leaves_nothing_after_the_next_write(tmp_path):
    target = tmp_path / "result.seg.nrrd"
    target.write_text("old content")
    script = textwrap.dedent(f"""
        import time
        from SegAssistLib.io.atomic import atomic_output
        with atomic_output({str(target)!r}) as tmp:
            tmp.write_text("half")
            print(tmp, flush=True)
            time.sleep(120)
    """)
    writer = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=ENV)
    tmp = Path(writer.stdout.readline().strip())
    assert tmp.exists()
    writer.kill()
    writer.wait()
    assert tmp.exists() and target.read_text() == "old content"  # what SIGKILL leaves
    with atomic_output(target) as new:
        new.write_text("new content")
    assert not tmp.exists() and target.read_text() == "new content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.seg.nrrd"]


def test_backup_of_a_writer_killed_mid_commit_is_restored(tmp_path):
    target = tmp_path / "labels.nrrd"
    backup = tmp_path / f".labels.nrrd.{_host()}~{_dead_pid()}~xyz.previous.nrrd"
    backup.write_text("the only copy of the old file")
    clean_stale_temporaries(target)
    assert target.read_text() == "the only copy of the old file" and not backup.exists()
