"""``segassist interpolate LABELS -o OUT``: fill the slices between drawn keyframes of every segment.

LABELS is a labelmap (NRRD/NIfTI/MHA; 0 = background, 1..N = segments) or a Slicer segmentation
(.seg.nrrd; segments are numbered 1..N in file order) in which some slices of one plane are drawn. Each
segment is interpolated between the slices that hold it; segments stay disjoint (unless they already
overlapped in a .seg.nrrd) and drawn voxels are never changed (the rule of
:mod:`SegAssistLib.operations.interpolate`, shared with batch and Slicer). OUT is a labelmap (.nrrd, .nii.gz, ...) or
a Slicer segmentation (.seg.nrrd, keeping names, colours and terminology of a .seg.nrrd input).
"""

from __future__ import annotations

import argparse
import logging

from SegAssistLib.core.plane_names import PLANES

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
        choices=["auto", *PLANES],
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


def run(args: argparse.Namespace) -> int:
    from SegAssistLib.operations.interpolate import interpolate_file

    def report(step) -> None:
        if step.plane is None:
            log.info("%s: no plane with gaps between its slices, left as drawn", step.name)
        else:
            log.info("%s: interpolating between its %d %s keyframes", step.name, len(step.keyframes), step.plane)

    from SegAssistLib.cli.checks import check_outputs

    check_outputs([args.output], command="interpolate")
    result = interpolate_file(args.labels, args.output, args.plane, args.segments, args.method, args.volume, report)
    print(f"{args.output}: {result.added} voxels filled by {args.method} interpolation")
    return 0
