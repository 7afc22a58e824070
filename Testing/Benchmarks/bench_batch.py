"""Batch engines and worker threads, measured on real cases: serial loop vs local processes vs Dask vs Ray.

    python Testing/Benchmarks/bench_batch.py [--names lung2] [--copies 3] [--ops segment,interpolate,convert]
                                             [--workers 1,2] [--no-dask] [--no-ray] [--overhead-tasks 200]

Three tables, all from this one run (the machine may be shared: the load columns say how busy it was):

1. Thread pools a fresh worker would use (threadpoolctl, SimpleITK/ITK, torch), with the libraries' own
   defaults and after :func:`SegAssistLib.batch.threads.limit_worker_threads` (1 thread), in a spawned
   process, a Dask worker and a Ray actor.
2. Engine start-up (pool / cluster / actors ready) and per-task overhead: ``--overhead-tasks`` trivial tasks
   that ship a CaseSpec to a worker and a string back, in ms per task.
3. Throughput on ``--copies`` copies of the real cases (lung2 by default: segment takes seconds, so process
   start-up does not dominate) for each engine x workers x threads per worker (``lib`` = libraries'
   default, ``1`` = capped), against the serial loop in this process (the peer: a script calling
   the library case by case). ``start s``: a Dask cluster's or Ray actors' start-up, timed apart and not in
   ``wall s`` (a user keeps them running); the local pool starts inside ``wall s``. ``cpu/wall`` is the CPU seconds the workers spent in cases (all threads) over
   the wall time: below the number of workers means workers waited for a CPU (other processes) or the disk.
   ``other CPUs`` is the machine's busy CPU time outside the cases over the wall time: other processes on
   the machine plus this run's own start-up (imports, engine), in CPUs.

Ray rows need ``pip install ray`` (it is not a SegAssist dependency); without it they are skipped with a
message. Each worker's first case pays its imports (about 1 s, table 2) inside ``wall s``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[1] / "Python"))
from benchlib import DATA  # noqa: E402

DATA = DATA / "pyradiomics"


def build_rows(work: Path, copies: int, names: list[str], ops: tuple[str, ...]) -> list[dict]:
    from batch_cases import make_case_rows

    base = [r for name in names for r in make_case_rows(DATA, work, name, ops=ops)]
    rows = []
    for i in range(copies):
        for r in base:
            r = dict(r)
            r["case"] = f"{r['case']}-{i}"
            r["output"] = f"{i:03d}_{r['output']}"
            rows.append(r)
    return rows


class Load:
    """Machine-wide CPU busy fraction (from /proc/stat) and load average over a measured span."""

    @staticmethod
    def _stat() -> tuple[int, int]:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        idle = v[3] + v[4]
        return sum(v) - idle, sum(v)

    def __enter__(self):
        self.busy0, self.total0 = self._stat()
        return self

    def __exit__(self, *exc):
        busy, total = self._stat()
        self.busy = (busy - self.busy0) / max(1, total - self.total0)
        self.busy_cpu_s = (busy - self.busy0) / os.sysconf("SC_CLK_TCK")
        self.loadavg = os.getloadavg()[0]


# ----------------------------------------------------------------------------------------------- engines
# Each returns (summary, start-up seconds): the local pool starts inside run_batch (about 0.1 s, table 2);
# a Dask cluster or Ray actors are started first and timed apart, as a user keeps them running.
def local_engine(rows, out, workers, threads):
    from SegAssistLib.batch import run_batch

    return run_batch(rows, workers=workers, output_dir=out, force=True, threads_per_worker=threads), 0.0


def dask_engine(rows, out, workers, threads):
    import distributed

    from SegAssistLib.batch import run_batch

    t = time.perf_counter()
    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, host="127.0.0.1", processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        client.wait_for_workers(workers)
        up = time.perf_counter() - t
        return run_batch(rows, address=client, output_dir=out, force=True, threads_per_worker=threads), up


def _ray_actor_class():
    import ray

    from SegAssistLib.batch.threads import limit_worker_threads, thread_report

    @ray.remote(num_cpus=1)
    class CaseActor:
        """One per CPU (one per GPU with a model): it would load the model once in __init__."""

        def __init__(self, threads):
            limit_worker_threads(threads)

        def ready(self):
            return os.getpid()

        def run(self, case, force=True):
            from SegAssistLib.batch import run_case

            return run_case(case, force)

        def threads(self):
            import scipy.ndimage  # noqa: F401  (the libraries a case loads)
            import skimage.segmentation  # noqa: F401

            return thread_report()

        def echo(self, x):
            return repr(x)

    return CaseActor


def ray_start(workers, threads):
    import ray

    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
    actor = _ray_actor_class()
    actors = [actor.remote(threads) for _ in range(workers)]
    ray.get([a.ready.remote() for a in actors])
    return actors


def ray_engine(rows, out, workers, threads):
    import ray
    from ray.util import ActorPool

    from SegAssistLib.batch import BatchSummary, cases_from_rows

    t = time.perf_counter()
    try:
        pool = ActorPool(ray_start(workers, threads))
        up = time.perf_counter() - t
        cases = cases_from_rows(rows, output_dir=out)
        results = list(pool.map_unordered(lambda a, c: a.run.remote(c, True), cases))
    finally:
        ray.shutdown()
    return BatchSummary(results, time.perf_counter() - t - up, workers, "ray actors"), up


# ------------------------------------------------------------------------------------ thread pool report
def thread_reports(with_dask: bool, with_ray: bool) -> list[tuple[str, dict]]:
    from SegAssistLib.batch.threads import limit_worker_threads

    out = [("this process (libraries' default)", _import_case_libs_and_report(None))]
    ctx = __import__("multiprocessing").get_context("spawn")
    for threads, label in ((None, "lib"), (1, "1")):
        with ProcessPoolExecutor(1, mp_context=ctx, initializer=limit_worker_threads, initargs=(threads,)) as p:
            out.append((f"spawned process, threads={label}", p.submit(_import_case_libs_and_report, threads).result()))
    if with_dask:
        import distributed

        from SegAssistLib.batch.executor import run_case_in_worker  # noqa: F401 (loads the module in workers)

        with distributed.LocalCluster(n_workers=1, threads_per_worker=1, host="127.0.0.1", processes=True,
                                      dashboard_address=None) as cluster, distributed.Client(cluster) as client:
            for threads, label in ((None, "lib"), (1, "1")):
                rep = client.submit(_import_case_libs_and_report, threads, pure=False).result()
                out.append((f"dask worker, threads={label}", rep))
    if with_ray:
        import ray

        for threads, label in ((None, "lib"), (1, "1")):
            try:
                (actor,) = ray_start(1, threads)
                out.append((f"ray actor, threads={label}", ray.get(actor.threads.remote())))
            finally:
                ray.shutdown()
    return out


def _import_case_libs_and_report(threads):
    """Load the libraries a case uses (numpy, scipy, SimpleITK, skimage), cap if asked, report the pools."""
    import scipy.ndimage  # noqa: F401
    import skimage.segmentation  # noqa: F401

    from SegAssistLib.batch.threads import limit_worker_threads, thread_report

    limit_worker_threads(threads)
    return thread_report()


@contextlib.contextmanager
def in_process_threads(threads):
    """Cap (or not) this process's BLAS/OpenMP pools and SimpleITK's threads for a block, then restore."""
    import SimpleITK as sitk
    from threadpoolctl import threadpool_limits

    if threads is None:
        yield
        return
    before = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(before)


def first_and_second_run(case) -> tuple[float, float]:
    """Wall seconds of the same case run twice in one fresh worker: the first pays imports and caches."""
    from SegAssistLib.batch import run_case

    walls = []
    for _ in range(2):
        t = time.perf_counter()
        assert run_case(case, force=True).status == "done"
        walls.append(time.perf_counter() - t)
    return walls[0], walls[1]


# ------------------------------------------------------------------------------------------ per-task cost
def overhead(engine: str, n: int, case) -> tuple[float, float]:
    """(start-up seconds until workers are ready, ms per trivial task) for 2 workers."""
    t = time.perf_counter()
    if engine == "local":
        ctx = __import__("multiprocessing").get_context("spawn")
        with ProcessPoolExecutor(2, mp_context=ctx) as pool:
            list(pool.map(time.sleep, [0.5, 0.5]))  # both workers up (one worker alone would take 1 s)
            up = time.perf_counter() - t - 0.5
            t = time.perf_counter()
            list(pool.map(repr, [case] * n))
            return up, (time.perf_counter() - t) / n * 1e3
    if engine == "dask":
        import distributed

        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", processes=True,
                                      dashboard_address=None) as cluster, distributed.Client(cluster) as client:
            client.wait_for_workers(2)
            up = time.perf_counter() - t
            t = time.perf_counter()
            client.gather(client.map(repr, [case] * n, pure=False))
            return up, (time.perf_counter() - t) / n * 1e3
    import ray
    from ray.util import ActorPool

    try:
        actors = ray_start(2, 1)
        up = time.perf_counter() - t
        t = time.perf_counter()
        list(ActorPool(actors).map_unordered(lambda a, c: a.echo.remote(c), [case] * n))
        return up, (time.perf_counter() - t) / n * 1e3
    finally:
        ray.shutdown()


# ------------------------------------------------------------------------------------------------- main
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--names", default="lung2", help="pyradiomics cases (brain1,brain2,breast1 are light)")
    ap.add_argument("--copies", type=int, default=3, help="copies of each case")
    ap.add_argument("--ops", default="segment,interpolate,convert")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--threads", default="lib,1", help="threads per worker to compare: lib (default), 1, ...")
    ap.add_argument("--overhead-tasks", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=2, help="runs of each configuration (the fastest is shown)")
    ap.add_argument("--no-dask", action="store_true")
    ap.add_argument("--no-ray", action="store_true")
    args = ap.parse_args()
    if not DATA.is_dir():
        print(f"real data not found at {DATA}")
        return 1
    with_dask = not args.no_dask
    with_ray = not args.no_ray
    if with_ray:
        try:
            import ray  # noqa: F401
        except ImportError:
            print("Ray rows skipped: ray is not installed (pip install ray; it is not a SegAssist dependency).")
            with_ray = False
    from SegAssistLib.batch import cases_from_rows, run_case

    workers_list = [int(w) for w in args.workers.split(",")]
    threads_list = [None if t == "lib" else int(t) for t in args.threads.split(",")]
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")

    print("\n1. threads per native pool once a case's libraries are loaded\n")
    for label, rep in thread_reports(with_dask, with_ray):
        print(f"  {label:<40} " + ", ".join(f"{k}={v}" for k, v in sorted(rep.items())))

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        rows = build_rows(work, args.copies, args.names.split(","), tuple(args.ops.split(",")))
        n = len(rows)
        sample = cases_from_rows(rows[:1], output_dir=work / "x")[0]

        print(f"\n2. engine start-up (2 workers ready) and per-task overhead ({args.overhead_tasks} trivial tasks)\n")
        print(f"  {'engine':<28} {'start-up s':>10} {'ms/task':>8}")
        for engine in ["local"] + (["dask"] if with_dask else []) + (["ray"] if with_ray else []):
            up, per = overhead(engine, args.overhead_tasks, sample)
            print(f"  {engine:<28} {up:10.2f} {per:8.2f}")
        ctx = __import__("multiprocessing").get_context("spawn")
        with ProcessPoolExecutor(1, mp_context=ctx) as pool:
            first, second = pool.submit(first_and_second_run, sample).result()
        print(f"  {sample.case} in a fresh spawned worker: first run {first:.2f} s, second {second:.2f} s "
              f"(imports and caches: {first - second:.2f} s per worker)")
        print("\n2b. one process, libraries' default threads vs 1 (same cases in this process, alternating)\n")
        print(f"  {'case':<24} {'threads':>7} {'wall s':>7} {'cpu s':>7} {'cpu/wall':>8}")
        cases = cases_from_rows(rows[: len(rows) // args.copies], output_dir=work / "inproc")
        for c in cases:
            run_case(c, force=True)  # warm: imports, caches
        best: dict = {}
        for rep in range(2):
            for threads in ((None, 1) if rep % 2 == 0 else (1, None)):
                with in_process_threads(threads):
                    for c in cases:
                        t, cpu = time.perf_counter(), time.process_time()
                        assert run_case(c, force=True).status == "done"
                        wall, cpu = time.perf_counter() - t, time.process_time() - cpu
                        key = (c.case, "lib" if threads is None else threads)
                        if key not in best or wall < best[key][0]:
                            best[key] = (wall, cpu)
        for (case, threads), (wall, cpu) in sorted(best.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
            print(f"  {case:<24} {threads!s:>7} {wall:7.2f} {cpu:7.2f} {cpu / wall:8.2f}")

        configs = [("serial loop in this process (peer)", None, "-", None)]
        engines = [("local", local_engine)] + ([("dask", dask_engine)] if with_dask else [])
        engines += [("ray", ray_engine)] if with_ray else []
        configs += [(name, engine, w, t) for name, engine in engines for w in workers_list for t in threads_list]
        fastest: dict = {}
        for rep in range(args.repeat):
            for name, engine, workers, threads in configs if rep % 2 == 0 else configs[::-1]:
                out = work / f"{name.split()[0]}{workers}{threads}"
                with Load() as load:
                    t, cpu0 = time.perf_counter(), time.process_time()
                    if engine is None:
                        results = [run_case(c, force=True) for c in cases_from_rows(rows, output_dir=out)]
                        ok, cpu = all(r.status == "done" for r in results), time.process_time() - cpu0
                        up = 0.0
                    else:
                        summary, up = engine(rows, out, workers, threads)
                        ok, cpu = summary.ok, sum(r.cpu_seconds for r in summary)
                    wall = time.perf_counter() - t - up
                assert ok, name
                key = (name, workers, "lib" if threads is None else threads)
                if key not in fastest or wall < fastest[key][0]:
                    fastest[key] = (wall, cpu, load, up)
        serial = fastest[(configs[0][0], "-", "lib")][0]

    print(f"\n3. throughput: {n} cases ({args.names} x {args.ops}, {args.copies} copies), classical backend, "
          f"fastest of {args.repeat} (alternating order)\n")
    print(f"  {'engine':<36} {'workers':>7} {'threads':>7} {'start s':>7} {'wall s':>7} {'cases/s':>7} {'vs serial':>9} "
          f"{'case cpu s':>10} {'cpu/wall':>8} {'machine busy':>12} {'other CPUs':>10}")
    for (name, workers, threads), (wall, cpu, load, up) in fastest.items():
        print(f"  {name:<36} {workers!s:>7} {threads!s:>7} {up:7.2f} {wall:7.2f} {n / wall:7.2f} {serial / wall:8.2f}x "
              f"{cpu:10.2f} {cpu / wall:8.2f} {load.busy:11.0%} {(load.busy_cpu_s - cpu) / (wall + up):10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
