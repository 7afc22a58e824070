"""Threads inside one batch worker: cap the native thread pools so N workers use N cores, not N x cores.

A worker process loads numpy/scipy (OpenBLAS), SimpleITK and ITK (their own ITK thread pools), OpenMP (via
torch) and possibly torch itself, and each sizes its pool to every CPU of the machine. With one worker per
CPU that means ``workers x CPUs`` threads competing for the CPUs. ``Testing/Benchmarks/bench_batch.py``
measured it on lung2 (2 CPUs): the classical segment / interpolate / convert cases barely use a second
thread (CPU/wall 0.7-1.4 in one process, same wall time capped or not), so the cap costs them nothing, and
it keeps torch (SAM 2), which sizes its intra-op pool to every CPU, from oversubscribing N workers. The batch
engines call :func:`limit_worker_threads` once in every worker before its first case, with
``threads_per_worker`` (default ``"auto"``: CPUs // local workers, 1 on a Dask cluster).

Dask's nanny already sets ``OMP_NUM_THREADS``/``OPENBLAS_NUM_THREADS``/``MKL_NUM_THREADS`` = 1 for the
workers it starts, but not SimpleITK's or ITK's pools; a process pool sets nothing: this module does both.
"""

from __future__ import annotations

import os
import sys
from typing import Any

#: Environment variables read by native libraries that start their thread pools later in this process.
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
              "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS")

_limited: int | None = None
_limits: Any = None  # the threadpoolctl limiter, kept alive for the life of the process


def limit_worker_threads(threads: int | None) -> None:
    """Cap this process's native thread pools at ``threads`` (``None`` or 0: leave them as they are).

    Sets the environment variables (for libraries loaded later), threadpoolctl's limits for BLAS/OpenMP
    pools already loaded, SimpleITK's and ITK's global default number of threads, and torch's intra-op
    threads when torch is loaded. Idempotent: a second call with the same number does nothing.
    """
    global _limited, _limits
    if not threads or threads == _limited:
        return
    for name in THREAD_ENV:
        os.environ[name] = str(threads)
    from threadpoolctl import threadpool_limits

    _limits = threadpool_limits(limits=threads)
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)
    if "itk" in sys.modules:  # ITK Python (itk-mci); loading it just to configure it would cost seconds
        try:
            sys.modules["itk"].MultiThreaderBase.SetGlobalDefaultNumberOfThreads(threads)
        except AttributeError:
            pass
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    _limited = threads


def thread_report() -> dict[str, int]:
    """Threads each native pool of this process would use now (for benchmarks and tests)."""
    import SimpleITK as sitk
    from threadpoolctl import threadpool_info

    report = {f"{p['internal_api']}:{os.path.basename(p['filepath'])}": int(p["num_threads"])
              for p in threadpool_info()}
    report["SimpleITK"] = int(sitk.ProcessObject.GetGlobalDefaultNumberOfThreads())
    if "itk" in sys.modules:
        report["ITK"] = int(sys.modules["itk"].MultiThreaderBase.GetGlobalDefaultNumberOfThreads())
    if "torch" in sys.modules:
        report["torch"] = int(sys.modules["torch"].get_num_threads())
    return report
