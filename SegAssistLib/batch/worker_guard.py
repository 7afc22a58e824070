"""Local batch workers end with the process that started them.

A ``ProcessPoolExecutor`` worker waits on a queue; when the batch's main process is killed (SIGKILL, an
out-of-memory kill) nothing tells it, and it lives on holding hundreds of MB. Each worker therefore runs a
daemon thread that checks every half second whether its parent is still the process that started it, and
ends the worker (``os._exit``) when it is not. Polling ``os.getppid()`` works on every POSIX system,
unlike Linux's ``PR_SET_PDEATHSIG``, which also fires when the creating *thread* ends.
"""

from __future__ import annotations

import os
import threading
import time


def exit_with_parent(parent_pid: int, interval: float = 0.5) -> threading.Thread:
    """Start the watchdog thread in this (worker) process; returns it."""

    def watch() -> None:
        while True:
            if os.getppid() != parent_pid:
                os._exit(70)  # the parent is gone: no cleanup can run in a half-finished case anyway
            time.sleep(interval)

    thread = threading.Thread(target=watch, name="segassist-exit-with-parent", daemon=True)
    thread.start()
    return thread


def init_local_worker(threads: int | None, parent_pid: int) -> None:
    """Initializer of a local batch worker: cap its thread pools, and end it when its parent dies."""
    from SegAssistLib.batch.threads import limit_worker_threads

    exit_with_parent(parent_pid)
    limit_worker_threads(threads)
