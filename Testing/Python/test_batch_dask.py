"""Batch runs on a real Dask distributed cluster: two worker processes on 127.0.0.1, real cases.

Checks that the cluster gives the same outputs as the cases run directly, that a corrupt volume fails
alone, and that a worker killed in the middle of a case gets the case retried on a live worker and leaves
no half-written output.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest
from batch_cases import corrupt_row, make_case_rows

from SegAssistLib.batch import DONE, cases_from_rows, marker_path, run_batch, run_case

distributed = pytest.importorskip("distributed", reason="Dask distributed is the cluster engine (segassist[batch])")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", processes=True,
                                  dashboard_address=None) as c, distributed.Client(c) as client:
        client.wait_for_workers(2, timeout=60)
        yield c, client


def test_cluster_runs_real_cases_and_a_corrupt_one_fails_alone(cluster, pyradiomics_dir, tmp_path):
    c, client = cluster
    rows = [r for n in ("brain1", "brain2", "breast1") for r in make_case_rows(pyradiomics_dir, tmp_path, n,
                                                                                ops=("interpolate", "convert"))]
    rows.insert(2, corrupt_row(tmp_path))
    summary = run_batch(rows, address=c.scheduler_address, output_dir=tmp_path / "dask")
    assert summary.workers == 2 and summary.engine.startswith("dask tcp://127.0.0.1")
    assert [r.case for r in summary.failed] == ["corrupt-convert"]
    assert "corrupt_image.nrrd" in summary["corrupt-convert"].error
    assert not (tmp_path / "dask" / "corrupt.seg.nrrd").exists()
    worker_pids = set(client.run(os.getpid).values())
    used = {int(r.worker.rsplit(":", 1)[1]) for r in summary if r.status == DONE}
    assert used <= worker_pids and os.getpid() not in used  # ran on the cluster's workers
    # The same cases run directly in this process give the same voxels and the same files' contents.
    for row in rows:
        if row["case"] == "corrupt-convert":
            continue
        direct = run_case(cases_from_rows([row], output_dir=tmp_path / "direct")[0])
        assert summary[row["case"]].status == DONE
        assert summary[row["case"]].voxels == direct.voxels > 0
        from SegAssistLib.io.segmentation_files import read_segmentation

        a = read_segmentation(summary[row["case"]].outputs[0])
        b = read_segmentation(direct.outputs[0])
        assert a.segment_ids == b.segment_ids
        for sid in a.segment_ids:
            np.testing.assert_array_equal(a.mask(sid), b.mask(sid))


def test_worker_killed_mid_case_is_retried_without_half_written_output(cluster, pyradiomics_dir, tmp_path):
    """lung2's interpolation takes seconds: kill the worker running it; the case must finish elsewhere."""
    c, client = cluster
    rows = make_case_rows(pyradiomics_dir, tmp_path, "lung2", ops=("interpolate",))
    rows += make_case_rows(pyradiomics_dir, tmp_path, "breast1", ops=("interpolate", "convert"))
    out_dir = tmp_path / "out"
    killed: dict = {}

    def kill_when_running() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            for addr, keys in client.processing().items():
                if any("lung2-interpolate" in str(k) for k in keys):
                    time.sleep(0.5)  # let it start working
                    pid = client.run(os.getpid, workers=[addr])[addr]
                    still = any("lung2-interpolate" in str(k) for k in client.processing().get(addr, ()))
                    os.kill(pid, signal.SIGKILL)
                    killed.update(pid=pid, addr=addr, while_running=still)
                    return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_when_running, daemon=True)
    killer.start()
    summary = run_batch(rows, address=c.scheduler_address, output_dir=out_dir)
    killer.join(5)
    assert killed.get("while_running"), f"the lung2 case was not caught running on a worker: {killed}"
    res = summary["lung2-interpolate"]
    assert res.status == DONE, res.error
    assert int(res.worker.rsplit(":", 1)[1]) != killed["pid"]  # finished by another (or restarted) worker
    assert summary.ok and all(r.status == DONE for r in summary)
    out = out_dir / "lung2_interpolated.seg.nrrd"
    from SegAssistLib.io.segmentation_files import read_segmentation
    from SegAssistLib.io.volumes import read_volume

    got = read_segmentation(out)
    keyframes = read_volume(rows[0]["keyframes"]).array > 0
    union = np.any([got.mask(s) for s in got.segment_ids], axis=0)
    assert int(union.sum()) == res.voxels > int(keyframes.sum()) and union[keyframes].all()
    assert marker_path(out).is_file()
    assert not [p.name for p in out_dir.iterdir() if ".tmp" in p.name]  # no half-written files
    client.wait_for_workers(2, timeout=60)  # the nanny restarted the killed worker
