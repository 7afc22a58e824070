"""What the benchmark scripts share: the real data (fetched by ``Testing/Data/fetch_data.py``), and a timer.

The scripts run as ``python Testing/Benchmarks/bench_*.py``, so this folder is on ``sys.path`` and they
import this module by name.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "Testing" / "Data"))
import fetch_data  # noqa: E402  (the project's data script)


def _fetch_all() -> Path:
    for name in fetch_data.SOURCES:
        fetch_data.fetch(name, quiet=False)
    return fetch_data.cache_root()


#: The fetched data root (``pyradiomics/``, ``stardist/``, ``totalsegmentator/``), as the tests use it.
DATA = _fetch_all()


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

    from SegAssistLib.core.volume import Volume

    t1 = datasets.load_mni152_template(resolution=1)
    brain = datasets.load_mni152_brain_mask(resolution=1)
    image = Volume(np.ascontiguousarray(np.asarray(t1.get_fdata(), np.float32).transpose(2, 1, 0)), t1.affine,
                   {"modality": "MR"})
    mask = np.ascontiguousarray(np.asarray(brain.get_fdata() > 0.5).transpose(2, 1, 0))
    return image, mask
