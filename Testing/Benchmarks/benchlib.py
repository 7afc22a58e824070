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


def load_mni152():
    """nilearn's MNI152 2009 T1 template and brain mask (1 mm) as (T1 Volume, bool (k, j, i) mask), or None
    when nilearn is not installed. NIfTI affines are RAS already; arrays go from (i, j, k) to (k, j, i)."""
    try:
        from nilearn import datasets
    except ImportError:
        return None
    import numpy as np

    from SegAssistLib.volume import Volume

    t1 = datasets.load_mni152_template(resolution=1)
    brain = datasets.load_mni152_brain_mask(resolution=1)
    image = Volume(np.ascontiguousarray(np.asarray(t1.get_fdata(), np.float32).transpose(2, 1, 0)), t1.affine,
                   {"modality": "MR"})
    mask = np.ascontiguousarray(np.asarray(brain.get_fdata() > 0.5).transpose(2, 1, 0))
    return image, mask
