"""Segmenting a volume from prompts on a SegAssist server: ``segassist segment --server URL``.

The same operation as :func:`~SegAssistLib.operations.segment_files.segment_from_prompts`, with the engine
on the server (``segassist serve``) and only the torch-free :class:`~SegAssistLib.server.client.RemoteEngine`
here: the volume is uploaded once, each prompt is a small JSON request, and the masks come back as changed
boxes. The result is the same :class:`Segmentation` the local call returns.
"""

from __future__ import annotations

import os
from typing import Iterable, Sequence

from SegAssistLib.core.segmentation import DEFAULT_TERMINOLOGY, Segment, Segmentation
from SegAssistLib.core.volume import Volume
from SegAssistLib.errors import PromptError
from SegAssistLib.io.markups import MarkupPrompt
from SegAssistLib.core.colors import segment_color
from SegAssistLib.operations.segment_files import SegmentFilesResult
from SegAssistLib.server.client import RemoteEngine


def segment_from_prompts_remote(volume: Volume, prompts: Iterable[MarkupPrompt], server: str,
                                api_key: str | None = None, plane: str = "axial") -> Segmentation:
    """Segment ``volume`` from markup prompts on the server at ``server`` (``http://host:port``)."""
    prompts = list(prompts)
    if not prompts:
        raise PromptError("No prompts given: pass at least one markups file with points or an ROI.")
    order: list[str] = []
    seg = Segmentation.like(volume)
    with RemoteEngine(server, volume, api_key=api_key) as remote:
        for p in prompts:
            p_plane = getattr(p, "plane", None) or plane
            if p.segment_name not in order:
                order.append(p.segment_name)
            if len(p.points_ras):
                remote.segment(p.segment_name, points=p.points_ras, labels=p.labels, plane=p_plane)
            if p.box_ras is not None:
                remote.segment(p.segment_name, box=p.box_ras, plane=p_plane)
        for index, name in enumerate(order):
            remote.propagate(name)
            seg.add_segment(Segment(seg.new_segment_id(), name, segment_color(index), DEFAULT_TERMINOLOGY),
                            remote.labels(name))
    return seg


def segment_files_remote(volume: str | os.PathLike | Volume, prompt_files: Sequence[str | os.PathLike], server: str,
                         api_key: str | None = None, plane: str = "axial", series: str | None = None) -> SegmentFilesResult:
    """:func:`~SegAssistLib.operations.segment_files.segment_files` on a server: read the volume and markups
    here, segment there. ``results`` is empty (the engine's maps stay on the server)."""
    from SegAssistLib.io.markups import read_markups
    from SegAssistLib.io.volumes import read_volume

    vol = volume if isinstance(volume, Volume) else read_volume(volume, series)
    prompts = [p for f in prompt_files for p in read_markups(f)]
    return SegmentFilesResult(vol, segment_from_prompts_remote(vol, prompts, server, api_key, plane), {})
