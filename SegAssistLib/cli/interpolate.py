"""``segassist interpolate LABELS -o OUT``: fill the slices between drawn keyframes of every segment.

LABELS is a labelmap (NRRD/NIfTI/MHA; 0 = background, 1..N = segments) or a Slicer segmentation
(.seg.nrrd; segments are numbered 1..N in file order) in which some slices of one plane are drawn. Each
segment is interpolated between the slices that hold it; segments stay disjoint (unless they already
overlapped in a .seg.nrrd) and drawn voxels are never changed. OUT is a labelmap (.nrrd, .nii.gz, ...) or
a Slicer segmentation (.seg.nrrd, keeping names, colours and terminology of a .seg.nrrd input).
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
from pathlib import Path

import numpy as np

from SegAssistLib.core.volume import Volume

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    from SegAssistLib.interpolation import DEFAULT_METHOD, METHODS

    p = sub.add_parser(
        "interpolate",
        help="fill the slices between drawn keyframes of each segment",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("labels", help="labelmap (NRRD/NIfTI/MHA) or .seg.nrrd with keyframes drawn on one plane")
    p.add_argument("-o", "--output", required=True, help="output labelmap (.nrrd, .nii.gz, .mha) or .seg.nrrd")
    p.add_argument(
        "--plane",
        default="auto",
        choices=["auto", "axial", "coronal", "sagittal"],
        help="plane the keyframes were drawn on (default: auto, per segment, the plane whose slices have gaps)",
    )
    p.add_argument(
        "--segments", type=int, nargs="+", metavar="LABEL", help="label values to interpolate (default: all)"
    )
    p.add_argument(
        "--method",
        default=DEFAULT_METHOD,
        choices=list(METHODS),
        help="; ".join(f"{k}: {v}" for k, v in METHODS.items()) + f" (default: {DEFAULT_METHOD})",
    )
    p.add_argument("--volume", metavar="IMAGE", help="reference image the labelmap must lie on (checked)")
    p.set_defaults(func=run)


def _have_segmentation_io(path: Path) -> None:
    from SegAssistLib.errors import SegAssistError

    if importlib.util.find_spec("SegAssistLib.io.segmentation_files") is None:
        raise SegAssistError(
            f"{path}: .seg.nrrd needs SegAssistLib.io.segmentation_files, which this installation lacks; "
            "use a labelmap (.nrrd, .nii.gz) instead."
        )


def _labelmap_as_segmentation(labels, geometry):
    from SegAssistLib.core.segmentation import Segment, Segmentation

    seg = Segmentation.like(geometry)
    for value in np.unique(labels[labels != 0]).tolist():
        seg.add_segment(Segment(id=f"Segment_{value}", name=f"Label {value}"), labels == value)
    return seg


def _interpolate_segmentation(seg, args, report):
    """Interpolate a Segmentation in place: as a labelmap (segments numbered 1..N in file order) when its
    segments are disjoint, segment by segment (overlaps kept) when they already overlap."""
    from SegAssistLib.interpolation import interpolate_keyframes, interpolate_labelmap

    geometry = seg.geometry
    if not seg.overlaps():
        labels, mapping = seg.to_labelmap()
        result = interpolate_labelmap(labels, geometry, args.plane, args.segments, args.method, progress=report)
        for value, sid in mapping.items():
            seg.set_mask(sid, result == value)
        return
    chosen = set(args.segments or range(1, len(seg) + 1))
    for value, sid in enumerate(seg.segment_ids, start=1):
        if value in chosen:
            report(value, args.plane)
            seg.set_mask(sid, interpolate_keyframes(seg.mask(sid), geometry, args.plane, method=args.method))


def run(args: argparse.Namespace) -> int:
    from SegAssistLib.errors import SegAssistError
    from SegAssistLib.interpolation import interpolate_labelmap
    from SegAssistLib.io.volumes import read_volume, write_volume

    src, out = Path(args.labels), Path(args.output)
    seg_in = src.name.lower().endswith(".seg.nrrd")
    seg_out = out.name.lower().endswith(".seg.nrrd")
    if not seg_out and not out.name.lower().endswith((".nrrd", ".nhdr", ".nii", ".nii.gz", ".mha", ".mhd")):
        raise SegAssistError(f"{out}: write the result as .nrrd, .nii.gz, .mha or .seg.nrrd.")
    for path in [p for p, is_seg in ((src, seg_in), (out, seg_out)) if is_seg]:
        _have_segmentation_io(path)
    from SegAssistLib.io.paths import refuse_outputs_over_inputs

    refuse_outputs_over_inputs([out], [src, args.volume], "interpolate")
    reference = read_volume(args.volume) if args.volume else None

    def report(value: int, plane: str | None) -> None:
        if plane is None:
            log.info("segment %d: no plane with gaps between its slices, left as drawn", value)
        else:
            log.info("segment %d: interpolating between its %s keyframes", value, plane)

    try:
        if seg_in:
            from SegAssistLib.io.segmentation_files import read_segmentation

            seg = read_segmentation(src)
            if reference is not None:
                reference.require_same_grid(seg.geometry, f"segmentation {src}")
            before = sum(int(seg.mask(sid).sum()) for sid in seg.segment_ids)
            _interpolate_segmentation(seg, args, report)
            added = sum(int(seg.mask(sid).sum()) for sid in seg.segment_ids) - before
            geometry = seg.geometry
        else:
            labels = read_volume(src)
            if reference is not None:
                reference.require_same_grid(labels, f"labelmap {src}")
            result = interpolate_labelmap(labels, labels, args.plane, args.segments, args.method, progress=report)
            result = result.astype(labels.array.dtype, copy=False)
            added = int(((result != 0) & (labels.array == 0)).sum())
            geometry = labels
            seg = _labelmap_as_segmentation(result, labels) if seg_out else None
    except SegAssistError as exc:
        where = f"{src} does not lie on {args.volume}" if "resample" in str(exc) and args.volume else str(src)
        raise type(exc)(f"{where}: {exc}") from None
    if seg_out:
        from SegAssistLib.io.segmentation_files import write_segmentation

        write_segmentation(seg, out)
    elif seg_in:
        labels_out, _ = seg.to_labelmap()
        write_volume(Volume(labels_out, geometry.ijk_to_ras), out)
    else:
        write_volume(labels.with_array(result), out)
    print(f"{out}: {added} voxels filled by {args.method} interpolation")
    return 0
