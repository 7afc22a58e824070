"""Interpolating a segmentation between its drawn keyframes, with one overlap rule for every front end.

The CLI (``segassist interpolate``), batch (``operation=interpolate``) and the Slicer Logic call
:func:`interpolate_segmentation`; the file form :func:`interpolate_file` reads and writes labelmaps and
.seg.nrrd around it.

**The overlap rule** (the one that loses nothing):

* Each segment is interpolated between the slices that hold it (its keyframes), on its own plane when the
  plane is ``"auto"``. Keyframe slices and slices outside the first..last keyframe never change.
* No drawn voxel changes, of the segment itself or of any other segment.
* When the segments are disjoint (a labelmap-like segmentation), they stay disjoint: a segment fills only
  voxels that no segment holds, and where two fills meet, the segment reaching deeper (the more negative
  signed distance) gets the voxel. The result can always be written as a labelmap.
* When the segmentation already has overlapping segments (layers, e.g. a lesion drawn inside an organ),
  each segment is interpolated on its own and may overlap the others, as in its input: removing the organ's
  voxels under the lesion would lose them.

Interpolating one segment of a segmentation (the Slicer panel) follows the same rule with
``segment_ids=[that one]``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from SegAssistLib.core.colors import segment_color
from SegAssistLib.core.planes import PlaneView, check_plane
from SegAssistLib.core.segmentation import Segment, Segmentation
from SegAssistLib.core.volume import Volume
from SegAssistLib.errors import FormatError, GeometryError
from SegAssistLib.interpolation import (DEFAULT_METHOD, InterpolationError, choose_plane, interpolate_keyframes,
                                        interpolate_labelmap, occupied_slices)
from SegAssistLib.interpolation.interpolate import whole_number_labels

#: Output endings :func:`interpolate_file` writes as a labelmap (anything else but .seg.nrrd is refused).
LABELMAP_SUFFIXES = (".nrrd", ".nhdr", ".nii", ".nii.gz", ".mha", ".mhd")


@dataclass
class SegmentInterpolation:
    """What happened to one segment: the plane used (None: no gaps, left as drawn), its keyframe slices, and
    the voxels the interpolation added."""

    segment_id: str
    name: str
    plane: str | None
    keyframes: list[int] = field(default_factory=list)
    added: int = 0


def _plan(seg: Segmentation, sid: str, plane: str, require_keyframes: bool) -> SegmentInterpolation:
    mask = seg.mask(sid)
    name = seg.segment(sid).name
    if require_keyframes and not mask.any():
        raise InterpolationError(f"Segment {name!r} is empty: draw or segment two slices first.")
    resolved = choose_plane(mask, seg.geometry) if str(plane).lower() == "auto" else plane
    keys = occupied_slices(mask, PlaneView(seg.geometry, resolved)).tolist() if resolved else []
    if require_keyframes and len(keys) < 2:
        raise InterpolationError(
            f"Segment {name!r} covers fewer than two {resolved or plane} slices: interpolation needs at least two "
            "keyframes with empty slices between them."
        )
    return SegmentInterpolation(sid, name, resolved if len(keys) >= 2 else None, keys)


def interpolate_segmentation(
    seg: Segmentation,
    plane: str = "auto",
    segment_ids: Sequence[str] | None = None,
    method: str = DEFAULT_METHOD,
    progress: Callable[[SegmentInterpolation], None] | None = None,
    require_keyframes: bool = False,
) -> list[SegmentInterpolation]:
    """Fill the slices between the keyframes of ``segment_ids`` (default: all) in place, by the module's rule.

    ``plane``: "axial", "coronal", "sagittal" or "auto" (per segment, the plane whose slices have gaps).
    ``progress`` is called with each segment's plan before it is filled. With ``require_keyframes`` a chosen
    segment that is empty or lies on fewer than two slices is an :class:`InterpolationError` (the panel asks
    for one segment and wants to hear why nothing happened); otherwise it is left as drawn.
    """
    if str(plane).lower() != "auto":
        try:
            plane = check_plane(plane)
        except ValueError as exc:
            raise InterpolationError(f"{exc} (or 'auto')") from None
    ids = list(seg.segment_ids if segment_ids is None else segment_ids)
    unknown = [s for s in ids if s not in seg]
    if unknown:
        raise InterpolationError(f"Segments {unknown} are not in the segmentation, which holds {seg.segment_ids}.")
    plans = [_plan(seg, sid, plane, require_keyframes) for sid in ids]
    before = {p.segment_id: int(seg.mask(p.segment_id).sum()) for p in plans}
    if not seg.overlaps():
        labels, mapping = seg.to_labelmap()
        value_of = {sid: value for value, sid in mapping.items()}
        by_value = {value_of[p.segment_id]: p for p in plans}
        chosen = [v for v, p in by_value.items() if p.plane is not None]
        if chosen:
            def report(value: int, _plane: str | None) -> None:
                if progress is not None:
                    progress(by_value[value])

            filled = interpolate_labelmap(labels, seg.geometry, plane, chosen, method, progress=report)
            for value in chosen:
                seg.set_mask(mapping[value], filled == value)
    else:
        for p in plans:
            if p.plane is None:
                continue
            if progress is not None:
                progress(p)
            seg.set_mask(p.segment_id, interpolate_keyframes(seg.mask(p.segment_id), seg.geometry, p.plane,
                                                             method=method))
    for p in plans:
        p.added = int(seg.mask(p.segment_id).sum()) - before[p.segment_id]
    return plans


def labelmap_as_segmentation(labels: Volume) -> Segmentation:
    """A labelmap volume as a Segmentation: one segment ``Segment_<value>`` named ``Label <value>`` per value."""
    array = whole_number_labels(labels.array)
    seg = Segmentation.like(labels)
    for value in np.unique(array[array != 0]).tolist():
        seg.add_segment(Segment(id=f"Segment_{int(value)}", name=f"Label {int(value)}",
                                color=segment_color(int(value) - 1)), array == value)
    return seg


@dataclass
class InterpolateFileResult:
    written: list[Path]
    segments: list[SegmentInterpolation]

    @property
    def added(self) -> int:
        return sum(s.added for s in self.segments)


def interpolate_file(
    labels: str | os.PathLike,
    output: str | os.PathLike,
    plane: str = "auto",
    segments: Sequence[int] | None = None,
    method: str = DEFAULT_METHOD,
    reference: str | os.PathLike | None = None,
    progress: Callable[[SegmentInterpolation], None] | None = None,
) -> InterpolateFileResult:
    """Interpolate a labelmap (0 background, 1..N segments) or .seg.nrrd file and write the result.

    ``segments`` are label values: a labelmap's own values, or 1..N in file order for a .seg.nrrd. The
    output is a labelmap (the input's values and type; a .seg.nrrd input must stay disjoint) or a .seg.nrrd
    (keeping names, colours and terminology of a .seg.nrrd input). ``reference`` is a volume the input must
    lie on (checked, nothing resampled). Nothing is written when anything fails.
    """
    from SegAssistLib.io.volumes import read_volume, write_volume

    src, out = Path(labels), Path(output)
    seg_in = src.name.lower().endswith(".seg.nrrd")
    seg_out = out.name.lower().endswith(".seg.nrrd")
    if not seg_out and not out.name.lower().endswith(LABELMAP_SUFFIXES):
        raise FormatError(f"{out}: write the result as .nrrd, .nii.gz, .mha or .seg.nrrd.")
    from SegAssistLib.io.paths import refuse_outputs_over_inputs

    refuse_outputs_over_inputs([out], [src, reference], "interpolate")
    ref = read_volume(reference) if reference else None
    label_volume = None
    if seg_in:
        from SegAssistLib.io.segmentation_files import read_segmentation

        seg = read_segmentation(src)
        values = {value: sid for value, sid in enumerate(seg.segment_ids, start=1)}
    else:
        label_volume = read_volume(src)
        seg = labelmap_as_segmentation(label_volume)
        values = {int(sid.rsplit("_", 1)[1]): sid for sid in seg.segment_ids}
    if ref is not None:
        try:
            ref.require_same_grid(seg.geometry, f"{'segmentation' if seg_in else 'labelmap'} {src}")
        except GeometryError as exc:
            raise GeometryError(f"{src} does not lie on {reference}: {exc}") from None
    if segments is not None:
        missing = sorted({int(v) for v in segments} - set(values))
        if missing:
            raise InterpolationError(f"{src}: Segments {missing} are not in the labelmap, which holds labels "
                                     f"{sorted(values)}.")
    ids = None if segments is None else [values[v] for v in sorted({int(v) for v in segments})]
    try:
        done = interpolate_segmentation(seg, plane, ids, method, progress)
    except InterpolationError as exc:
        raise InterpolationError(f"{src}: {exc}") from None
    if seg_out:
        from SegAssistLib.io.segmentation_files import write_segmentation

        written = list(write_segmentation(seg, out))
    else:
        written = [write_volume(_as_labelmap(seg, values, label_volume), out)]
    return InterpolateFileResult(written, done)


def _as_labelmap(seg: Segmentation, values: dict[int, str], like: Volume | None) -> Volume:
    """The segmentation as a labelmap volume with the input's label values (and type, for a labelmap input)."""
    if like is None:
        array, _ = seg.to_labelmap()
        return Volume(array, seg.geometry.ijk_to_ras)
    out = np.zeros(like.shape, dtype=like.array.dtype)
    for value, sid in values.items():
        out[seg.mask(sid)] = value
    return like.with_array(out)
