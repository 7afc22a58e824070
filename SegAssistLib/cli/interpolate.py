"""``segassist interpolate LABELS -o OUT``: fill the slices between drawn keyframes of every segment.

LABELS is a labelmap (NRRD/NIfTI/MHA; 0 = background, 1..N = segments) in which some slices of one plane
are drawn. Each segment is interpolated between the slices that hold it; segments stay disjoint and drawn
voxels are never changed. OUT is a labelmap (.nrrd, .nii.gz, ...) or a Slicer segmentation (.seg.nrrd).
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    from SegAssistLib.interpolation import DEFAULT_METHOD, METHODS

    p = sub.add_parser(
        "interpolate",
        help="fill the slices between drawn keyframes of each segment",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("labels", help="labelmap file (NRRD/NIfTI/MHA) with keyframes drawn on one plane")
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


def _write_segmentation(labels, geometry, path: Path) -> None:
    """Write a labelmap as a .seg.nrrd through SegAssistLib.io.segmentations, when that module exists."""
    from SegAssistLib.errors import SegAssistError
    from SegAssistLib.segmentation import Segment, Segmentation

    if importlib.util.find_spec("SegAssistLib.io.segmentations") is None:
        raise SegAssistError(
            f"{path}: writing .seg.nrrd needs SegAssistLib.io.segmentations, which this installation lacks; "
            "write a labelmap (.nrrd, .nii.gz) instead."
        )
    from SegAssistLib.io.segmentations import write_segmentation

    seg = Segmentation.like(geometry)
    for value in [int(v) for v in sorted(set(labels[labels != 0].tolist()))]:
        seg.add_segment(Segment(id=f"Segment_{value}", name=f"Label {value}"), labels == value)
    write_segmentation(seg, path)


def run(args: argparse.Namespace) -> int:
    from SegAssistLib.errors import SegAssistError
    from SegAssistLib.interpolation import interpolate_labelmap
    from SegAssistLib.io.volumes import read_volume, write_volume

    out = Path(args.output)
    is_seg = out.name.lower().endswith(".seg.nrrd")
    if not is_seg and not out.name.lower().endswith((".nrrd", ".nhdr", ".nii", ".nii.gz", ".mha", ".mhd")):
        raise SegAssistError(f"{out}: write the result as .nrrd, .nii.gz, .mha or .seg.nrrd.")
    labels = read_volume(args.labels)
    if args.volume:
        reference = read_volume(args.volume)
        try:
            reference.require_same_grid(labels, f"labelmap {args.labels}")
        except SegAssistError as exc:
            raise type(exc)(f"{args.labels} does not lie on {args.volume}: {exc}") from None
    before = labels.array

    def report(value: int, plane: str | None) -> None:
        if plane is None:
            log.info("segment %d: no plane with gaps between its slices, left as drawn", value)
        else:
            log.info("segment %d: interpolating between its %s keyframes", value, plane)

    try:
        result = interpolate_labelmap(labels, labels, args.plane, args.segments, args.method, progress=report)
    except SegAssistError as exc:
        raise type(exc)(f"{args.labels}: {exc}") from None
    result = result.astype(before.dtype, copy=False)
    if is_seg:
        _write_segmentation(result, labels, out)
    else:
        write_volume(labels.with_array(result), out)
    added = int(((result != 0) & (before == 0)).sum())
    print(f"{out}: {added} voxels filled by {args.method} interpolation")
    return 0
