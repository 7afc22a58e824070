"""Segmenting a volume from prompts in one call: ``segassist segment`` and batch's ``segment`` cases.

Markup prompts (see :mod:`SegAssistLib.io.markups`) are grouped by segment; each prompt becomes a keyframe
on the slice it lies on, the engine propagates and fuses, and the result is a :class:`Segmentation` on the
volume's grid with one segment per name. :func:`segment_files` does the same from file names (the volume
and the markups files); :func:`segment_from_prompts` from objects already read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence


from SegAssistLib.backends.base import Backend
from SegAssistLib.engine.segmentation_engine import EngineResult, SegmentationEngine
from SegAssistLib.errors import PromptError
from SegAssistLib.io.markups import MarkupPrompt
from SegAssistLib.core.colors import segment_color
from SegAssistLib.core.segmentation import DEFAULT_TERMINOLOGY, Segment, Segmentation
from SegAssistLib.core.volume import Volume


def segment_from_prompts(
    volume: Volume,
    prompts: Iterable[MarkupPrompt],
    backend: str | Backend = "classical",
    backend_options: dict | None = None,
    plane: str = "axial",
    progress: Callable[[str, int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[Segmentation, dict[str, EngineResult]]:
    """Segment ``volume`` from markup prompts; returns the segmentation and each segment's engine result.

    A prompt may carry its own plane in ``prompt.plane`` (set by the markups reader from a ``"plane"``
    field); otherwise ``plane`` is used. Prompts of one segment on the same slice accumulate.
    """
    prompts = list(prompts)
    if not prompts:
        raise PromptError("No prompts given: pass at least one markups file with points or an ROI.")
    engine = SegmentationEngine(volume, backend, backend_options)
    order: list[str] = []
    for p in prompts:
        p_plane = getattr(p, "plane", None) or plane
        if p.segment_name not in order:
            order.append(p.segment_name)
        if len(p.points_ras):
            engine.add_points(p.segment_name, p.points_ras, p.labels, plane=p_plane)
        if p.box_ras is not None:
            engine.add_box(p.segment_name, p.box_ras[0], p.box_ras[1], plane=p_plane)
    seg = Segmentation.like(volume)
    results: dict[str, EngineResult] = {}
    try:
        for index, name in enumerate(order):
            cb = (lambda d, t, _n=name: progress(_n, d, t)) if progress else None
            result = engine.run(name, progress=cb, should_stop=should_stop)
            results[name] = result
            seg.add_segment(
                Segment(seg.new_segment_id(), name, segment_color(index), DEFAULT_TERMINOLOGY), result.mask
            )
    finally:
        engine.close()
    return seg, results


@dataclass
class SegmentFilesResult:
    """The volume read, the segmentation made from the prompts, and each segment's engine result (by name)."""

    volume: Volume
    segmentation: Segmentation
    results: dict[str, EngineResult]


def backend_options(checkpoint: str | os.PathLike | None = None, device: str | None = None,
                    sha256: str | None = None, trust_unverified: bool = False) -> dict:
    """The options given for a model backend (SAM 2 or a registered one), leaving out those not given
    (a backend that does not take a given option refuses it with a BackendError)."""
    given = (("checkpoint", checkpoint), ("device", device), ("sha256", sha256),
             ("trust_unverified", True if trust_unverified else None))
    return {k: v for k, v in given if v is not None}


def segment_files(
    volume: str | os.PathLike | Volume,
    prompt_files: Sequence[str | os.PathLike],
    backend: str | Backend = "classical",
    backend_options: dict | None = None,
    plane: str = "axial",
    series: str | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> SegmentFilesResult:
    """Read ``volume`` (a file, a DICOM folder with ``series`` choosing among several, or a Volume) and the
    markups files, and segment one segment per markup name (see :func:`segment_from_prompts`)."""
    from SegAssistLib.io.markups import read_markups
    from SegAssistLib.io.volumes import read_volume

    vol = volume if isinstance(volume, Volume) else read_volume(volume, series)
    prompts = [p for f in prompt_files for p in read_markups(f)]
    seg, results = segment_from_prompts(vol, prompts, backend, backend_options, plane, progress, should_stop)
    return SegmentFilesResult(vol, seg, results)
