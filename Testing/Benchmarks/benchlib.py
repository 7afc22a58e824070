"""What the benchmark scripts share: where the real data is, and how a step is timed.

The scripts run as ``python Testing/Benchmarks/bench_*.py``, so this folder is on ``sys.path`` and they
import this module by name.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[2]
#: ../shared/data beside the checkout, as the tests find it (SEGASSIST_SHARED_DATA overrides).
SHARED_DATA = Path(os.environ.get("SEGASSIST_SHARED_DATA", REPO.parent / "shared" / "data"))


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``repeats`` calls of ``fn`` (the median resists one disturbed run on shared cores)."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)
