"""Thread pools of batch workers: capped at ``threads_per_worker`` in spawned processes and Dask workers,
results unchanged by the cap, CPU seconds recorded per case, bad values refused before anything runs."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest
from batch_cases import make_case_rows

from SegAssistLib.batch import DONE, default_workers, run_batch
from SegAssistLib.batch.executor import worker_threads
from SegAssistLib.batch.threads import THREAD_ENV, limit_worker_threads, thread_report
from SegAssistLib.errors import SegAssistError
from SegAssistLib.io.segmentation_files import read_segmentation


def _report_after_loading_case_libraries() -> tuple[dict, dict]:
    import os

    import scipy.ndimage  # noqa: F401  (loads scipy's OpenBLAS, as a case does)

    return thread_report(), {k: os.environ.get(k) for k in THREAD_ENV}


def _spawned_report(threads):
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=ctx, initializer=limit_worker_threads, initargs=(threads,)) as pool:
        return pool.submit(_report_after_loading_case_libraries).result()


def test_spawned_worker_pools_are_capped_only_when_asked():
    default, _ = _spawned_report(None)
    capped, env = _spawned_report(1)
    assert set(capped) == set(default) and "SimpleITK" in capped
    assert any(k.startswith("openblas") for k in capped)  # threadpoolctl sees numpy's / scipy's BLAS
    assert all(v == 1 for v in capped.values()), capped
    assert all(v == "1" for v in env.values()), env  # for libraries loaded after the initializer
    import SimpleITK as sitk

    # Uncapped, a worker keeps the libraries' own default (the same as in this process).
    assert default["SimpleITK"] == sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()


def test_capped_and_uncapped_batches_write_identical_segmentations(pyradiomics_dir, tmp_path):
    rows = make_case_rows(pyradiomics_dir, tmp_path, "breast1") + make_case_rows(
        pyradiomics_dir, tmp_path, "brain2", ops=("interpolate",))
    one = run_batch(rows, workers=2, output_dir=tmp_path / "one", threads_per_worker=1)
    lib = run_batch(rows, workers=2, output_dir=tmp_path / "lib", threads_per_worker=None)
    assert one.ok and lib.ok
    for a, b in zip(one, lib):
        assert a.status == b.status == DONE and a.voxels == b.voxels > 0
        assert 0 < a.cpu_seconds and 0 < b.cpu_seconds
        sa, sb = read_segmentation(a.outputs[0]), read_segmentation(b.outputs[0])
        assert sa.segment_ids == sb.segment_ids
        for sid in sa.segment_ids:
            np.testing.assert_array_equal(sa.mask(sid), sb.mask(sid))
    header, first = one.to_csv().splitlines()[:2]
    assert header.endswith(",cpu_seconds") and float(first.rsplit(",", 1)[1]) == one.results[0].cpu_seconds


def test_auto_threads_share_the_cpus_among_local_workers():
    cpus = default_workers()
    assert worker_threads("auto", cpus, cluster=False) == 1  # one worker per CPU: one thread each
    assert worker_threads("auto", 1, cluster=False) == cpus  # a lone worker may use every CPU
    assert worker_threads("auto", 2 * cpus, cluster=False) == 1
    assert worker_threads("auto", 1, cluster=True) == 1  # Dask's rule: one thread per core
    assert worker_threads(0, 1, cluster=False) is None and worker_threads(None, 4, cluster=True) is None
    assert worker_threads(3, 1, cluster=False) == 3


@pytest.mark.parametrize("bad", [-2, "many", 1.5, True])
def test_bad_threads_per_worker_is_refused_before_anything_runs(pyradiomics_dir, tmp_path, bad):
    rows = make_case_rows(pyradiomics_dir, tmp_path, "breast1", ops=("convert",))
    with pytest.raises(SegAssistError, match="threads_per_worker must be 'auto', a whole number"):
        run_batch(rows, workers=1, output_dir=tmp_path / "out", threads_per_worker=bad)
    assert not (tmp_path / "out").exists()


def test_cli_threads_per_worker_option(pyradiomics_dir, tmp_path, capsys):
    import json

    from SegAssistLib.cli.main import main

    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps(make_case_rows(pyradiomics_dir, tmp_path, "breast1", ops=("convert",))))
    with pytest.raises(SystemExit) as exc:
        main(["batch", str(manifest), "--threads-per-worker", "lots"])
    assert exc.value.code == 2 and "expected auto or a whole number" in capsys.readouterr().err
    assert main(["batch", str(manifest), "--threads-per-worker", "1", "--workers", "1", "--no-progress",
                 "--output-dir", str(tmp_path / "o")]) == 0
    assert (tmp_path / "o" / "breast1_label.seg.nrrd").is_file() and "1 done" in capsys.readouterr().out


def test_dask_workers_are_capped_by_the_batch(pyradiomics_dir, tmp_path):
    distributed = pytest.importorskip("distributed", reason="Dask distributed is the cluster engine")
    rows = make_case_rows(pyradiomics_dir, tmp_path, "breast1", ops=("convert",))
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, host="127.0.0.1", processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        before = next(iter(client.run(_report_after_loading_case_libraries).values()))[0]
        summary = run_batch(rows, address=cluster.scheduler_address, output_dir=tmp_path / "out")
        after = next(iter(client.run(_report_after_loading_case_libraries).values()))[0]
    assert summary.ok
    import SimpleITK as sitk

    # Dask's nanny caps BLAS already, not SimpleITK; the batch caps both.
    assert before["SimpleITK"] == sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    assert all(v == 1 for v in after.values()), after
