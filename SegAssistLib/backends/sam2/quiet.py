"""sam2's console noise, handled on purpose instead of sprayed over the user's terminal.

Two sources on a CPU install:

- ``sam2.utils.misc.fill_holes_in_mask_scores`` needs the CUDA extension ``sam2._C``; without it, it warns
  on *every frame* and returns the scores unchanged. :func:`has_c_extension` lets the backend set
  ``fill_hole_area=0`` up front, which gives exactly the same masks (the failing path returns its input)
  and no warning; the fact is logged once at INFO level.
- ``SAM2VideoPredictor.propagate_in_video`` wraps its loop in a tqdm bar. SegAssist streams its own
  progress (per-slice results, the panel's progress bar, the CLI's tqdm), so :func:`no_sam2_progress_bars`
  turns sam2's bars off while SegAssist drives the generator.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import logging
from typing import Iterator

log = logging.getLogger(__name__)

_SAM2_MODULES_WITH_TQDM = ("sam2.sam2_video_predictor", "sam2.utils.misc")


@functools.lru_cache(maxsize=1)
def has_c_extension() -> bool:
    """True when sam2's compiled ``_C`` extension (connected components for hole filling) is importable."""
    try:
        found = importlib.util.find_spec("sam2._C") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        log.info(
            "sam2 was installed without its CUDA extension (_C): small holes in SAM 2 masks are not filled "
            "(masks are otherwise identical). Build sam2 with CUDA to enable it."
        )
    return found


@contextlib.contextmanager
def no_sam2_progress_bars() -> Iterator[None]:
    """Within the block, tqdm bars created by sam2's modules are disabled (restored afterwards)."""
    import sys

    from tqdm import tqdm

    quiet_tqdm = functools.partial(tqdm, disable=True)
    saved = {}
    for name in _SAM2_MODULES_WITH_TQDM:
        module = sys.modules.get(name)
        if module is not None and getattr(module, "tqdm", None) is not None:
            saved[name] = module.tqdm
            module.tqdm = quiet_tqdm
    try:
        yield
    finally:
        for name, original in saved.items():
            sys.modules[name].tqdm = original
