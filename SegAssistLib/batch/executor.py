"""Running many cases: local worker processes by default, a Dask distributed cluster when an address is given.

No scheduler of our own: locally :class:`concurrent.futures.ProcessPoolExecutor` (spawned processes, so a
torch or VTK state in the caller is never forked), on a cluster :mod:`distributed` (``pip install
"segassist[batch]"``; start ``dask scheduler`` and ``dask worker tcp://HOST:8786`` on the machines, which must
see the input and output paths). Dask was chosen over Ray because cases are independent, CPU-bound and
short: Dask's futures need no actors, its workers restart through their nanny, and a task on a killed worker
is sent to another one (``retries=1`` also re-runs a task that raised in the worker itself).

Ray (actors that keep a model loaded) was measured against Dask by ``Testing/Benchmarks/bench_batch.py`` on
the same real cases (lung2, 2 CPUs shared with other work) and not adopted: start-up to 2 ready workers
4.4-5.7 s for Ray vs 0.8-1.8 s for Dask (0.1-0.2 s for the local pool); per-task overhead 0.6-1.1 ms vs
2-3 ms, irrelevant beside cases of 0.3-3 s; with start-up set apart, throughput on 12 lung2 cases with 2
workers was the same (Ray 1.8-1.9, Dask 1.7-2.0 cases/s); and Ray is an 80 MB wheel with its own
dependencies. A model kept loaded per worker needs no actor: a module-level cache in a Dask worker process
does the same.

Every worker caps its native thread pools at ``threads_per_worker`` before its first case (see
:mod:`SegAssistLib.batch.threads`): by default the usable CPUs divided among the local workers (one each
when there are as many workers as CPUs), 1 on a Dask cluster (Dask's own rule: one thread per core).

Finished cases (see :mod:`SegAssistLib.batch.runner`) are skipped before anything is sent to a worker.
"""

from __future__ import annotations

import multiprocessing
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from SegAssistLib.batch.manifest import CaseSpec, cases_from_rows
from SegAssistLib.batch.runner import FAILED, CaseResult, finished_result, run_case
from SegAssistLib.batch.summary import BatchSummary
from SegAssistLib.batch.threads import limit_worker_threads
from SegAssistLib.errors import DependencyError, OptionError

Progress = Callable[[CaseResult], None]


def default_workers() -> int:
    """Worker processes used when none are asked for: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _failed(case: CaseSpec, error: str) -> CaseResult:
    return CaseResult(case.case, case.operation, FAILED, 0.0, 0, error)


def worker_threads(threads_per_worker: int | str | None, workers: int, cluster: bool) -> int | None:
    """The thread cap each worker applies: ``"auto"`` gives CPUs // workers locally and 1 on a cluster;
    ``None`` or 0 leaves the libraries' own default; a number is used as it is."""
    if threads_per_worker == "auto":
        return 1 if cluster else max(1, default_workers() // max(1, workers))
    if threads_per_worker is None or threads_per_worker == 0:
        return None
    if isinstance(threads_per_worker, bool) or not isinstance(threads_per_worker, int) or threads_per_worker < 0:
        raise OptionError(f"threads_per_worker must be 'auto', a whole number of at least 1, or None/0 for "
                             f"the libraries' own default, not {threads_per_worker!r}.")
    return threads_per_worker


def run_case_in_worker(case: CaseSpec, force: bool = False, threads: int | None = 1) -> CaseResult:
    """:func:`run_case` in a cluster worker, after capping the worker's thread pools (once per process)."""
    limit_worker_threads(threads)
    return run_case(case, force)


def local_pool(workers: int, threads: int | None) -> ProcessPoolExecutor:
    """The pool of spawned local workers: each caps its thread pools and ends when this process dies."""
    from SegAssistLib.batch.worker_guard import init_local_worker

    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=init_local_worker, initargs=(threads, os.getpid()))


def _run_local(cases: list[CaseSpec], workers: int, force: bool, threads: int | None) -> Iterator[CaseResult]:
    """Run cases in a pool of spawned processes; cases lost with a crashed process get one more try."""
    pending = list(cases)
    for attempt in (1, 2):
        lost: list[CaseSpec] = []
        with local_pool(min(workers, len(pending)), threads) as pool:
            futures = {pool.submit(run_case, c, force): c for c in pending}
            for fut in as_completed(futures):
                case = futures[fut]
                try:
                    yield fut.result()
                except BrokenProcessPool as exc:
                    if attempt == 1:
                        lost.append(case)
                    else:
                        yield _failed(case, f"the worker process running this case died twice ({exc}).")
                except Exception as exc:  # e.g. a result that cannot be sent back
                    yield _failed(case, f"{type(exc).__name__}: {exc}")
        if not lost:
            return
        pending = lost


def _dask_client(address: Any):
    try:
        from distributed import Client
    except ImportError:
        raise DependencyError(
            'Running on a cluster needs Dask distributed: pip install "segassist[batch]" (or distributed).'
        ) from None
    if not isinstance(address, str):  # a Client or a cluster object
        return address if isinstance(address, Client) else Client(address), isinstance(address, Client)
    try:
        return Client(address, timeout="20s"), False
    except (OSError, TimeoutError) as exc:
        raise OptionError(
            f"Cannot reach the Dask scheduler at {address} ({exc}). Start one with `dask scheduler` and workers "
            f"with `dask worker {address}`, or leave out --address to run on this machine."
        ) from None


def _run_dask(cases: list[CaseSpec], address: Any, force: bool, threads: int | None,
              info: dict) -> Iterator[CaseResult]:
    from distributed import as_completed as dask_completed

    client, borrowed = _dask_client(address)
    try:
        info["workers"] = len(client.scheduler_info().get("workers", {})) or 1
        token = uuid.uuid4().hex[:8]
        futures = {
            client.submit(run_case_in_worker, c, force, threads, key=f"segassist-batch-{c.case}-{token}", pure=False, retries=1): c
            for c in cases
        }
        for fut in dask_completed(futures):
            case = futures[fut]
            try:
                yield fut.result()
            except Exception as exc:  # KilledWorker, lost connection, ...
                yield _failed(case, f"the cluster could not run this case: {type(exc).__name__}: {exc}")
    finally:
        if not borrowed:
            client.close()


def run_batch(
    rows: Iterable[Mapping[str, Any] | CaseSpec],
    workers: int | None = None,
    address: Any = None,
    output_dir: str | os.PathLike | None = None,
    base_dir: str | os.PathLike = ".",
    progress: Progress | None = None,
    force: bool = False,
    threads_per_worker: int | str | None = "auto",
) -> BatchSummary:
    """Run manifest rows and return the summary; one case's failure never stops the others.

    ``rows`` are dicts with the manifest fields (relative inputs resolved against ``base_dir``, relative
    outputs against ``output_dir``) or :class:`CaseSpec` objects from :func:`read_manifest`. Without
    ``address`` the cases run in ``workers`` local processes (default: one per CPU); with a Dask scheduler
    address (``"tcp://host:8786"``), a ``distributed.Client`` or a cluster object, on its workers.
    ``progress(result)`` is called as each case finishes (skipped ones first). ``force`` re-runs finished
    cases. ``threads_per_worker`` caps the native thread pools (BLAS, OpenMP, SimpleITK/ITK, torch) of
    every worker: ``"auto"`` (default) shares the usable CPUs among the local workers (1 thread each
    when there is one worker per CPU) and gives 1 on a Dask cluster; ``None`` or 0 leaves the libraries'
    own defaults (each pool one thread per CPU, in every worker); a number caps every worker at it.
    """
    cases = cases_from_rows(rows, base_dir, output_dir)
    if workers is not None and workers < 1:
        raise OptionError(f"workers must be at least 1, not {workers}.")
    start = time.perf_counter()
    results: dict[str, CaseResult] = {}

    def record(r: CaseResult) -> None:
        results[r.case] = r
        if progress:
            progress(r)

    todo = []
    for c in cases:
        done = None if force else finished_result(c)
        if done is not None:
            record(done)
        else:
            todo.append(c)
    info: dict[str, Any] = {"workers": workers or default_workers()}
    threads = worker_threads(threads_per_worker, info["workers"], address is not None)
    engine = "local processes" if address is None else f"dask {address if isinstance(address, str) else 'cluster'}"
    if todo:
        if address is None:
            stream = _run_local(todo, info["workers"], force, threads)
        else:
            stream = _run_dask(todo, address, force, threads, info)
        for r in stream:
            record(r)
    ordered = [results[c.case] for c in cases]
    return BatchSummary(ordered, time.perf_counter() - start, info["workers"], engine)
