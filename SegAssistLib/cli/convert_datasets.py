"""The 2D dataset options of ``segassist convert`` (COCO, panoptic, Cityscapes, semantic PNGs, Label Studio,
label images, volume slices): :func:`add_arguments` adds them to the parser and :func:`dataset2d_options`
turns the parsed values into the keyword options of :func:`SegAssistLib.operations.datasets2d.read_dataset2d`
and :func:`~SegAssistLib.operations.datasets2d.write_dataset2d`. Which formats the names choose is documented
in :mod:`SegAssistLib.operations.datasets2d`.
"""

from __future__ import annotations

import argparse
from typing import Any

from SegAssistLib.core.plane_names import PLANES
from SegAssistLib.errors import OptionError
from SegAssistLib.formats.datasets2d.defaults import DEFAULT_MIN_IOU


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the 2D conversions (``segassist convert`` adds them to its parser)."""
    g = parser.add_argument_group("2D datasets")
    g.add_argument("--plane", choices=PLANES, default="axial",
                   help="plane of the slices exported from a volume (default axial)")
    g.add_argument("--slices", metavar="LIST", help="slice indices to export, e.g. '10,12,20-25' "
                   "(default: slices where a segment has pixels)")
    g.add_argument("--encoding", choices=("rle", "polygon"), help="COCO mask encoding (default rle)")
    g.add_argument("--overlap", choices=("error", "first"), default="error",
                   help="overlapping things in panoptic/semantic output: refuse (default) or let the first win")
    g.add_argument("--ontology", metavar="FILE", help="class list for inputs without one (any format of "
                   "'segassist ontology'): Label Studio config, COCO categories, colour table...")
    g.add_argument("--image", metavar="FILE", help="image belonging to a label-image input")
    g.add_argument("--images-dir", metavar="DIR", help="folder of the images a COCO/panoptic JSON refers to")
    g.add_argument("--thing", default="object", help="class name of the instances of a label-image input")
    g.add_argument("--stuff", default="background", help="class name of the background of a label-image input")
    g.add_argument("--spacing", metavar="SX,SY,SZ", help="voxel size (mm) when stacking 2D images into a volume")
    g.add_argument("--source", choices=("annotations", "predictions"), default="annotations",
                   help="which results of Label Studio tasks to read")
    g.add_argument("--volume-out", metavar="FILE", help="also write the stacked image volume (.nrrd/.nii.gz)")
    g.add_argument("--link-instances", metavar="MIN_IOU", nargs="?", type=float, const=DEFAULT_MIN_IOU,
                   help="when stacking 2D images into a volume, join each slice's instances to the overlapping "
                        f"instance of the slice before into one 3D segment (IoU at least MIN_IOU, default "
                        f"{DEFAULT_MIN_IOU}); without it every 2D instance is its own segment")


def parse_slices(text: str | None) -> list[int] | None:
    """'10,12,20-25' -> [10, 12, 20, 21, 22, 23, 24, 25]; None or '' -> None."""
    if not text:
        return None
    out: list[int] = []
    try:
        for part in str(text).split(","):
            if "-" in part.strip()[1:]:
                a, b = part.split("-", 1)
                out += list(range(int(a), int(b) + 1))
            elif part.strip():
                out.append(int(part))
    except ValueError:
        raise OptionError(f"--slices {text!r}: use indices and ranges like '10,12,20-25'.") from None
    return out


def parse_spacing(text: str | None) -> list[float] | None:
    """'0.5,0.5,2' -> [0.5, 0.5, 2.0]: three positive voxel sizes in mm."""
    if not text:
        return None
    try:
        spacing = [float(v) for v in str(text).split(",")]
    except ValueError:
        spacing = []
    if len(spacing) != 3 or min(spacing) <= 0:
        raise OptionError(f"--spacing {text!r}: give three positive sizes in mm, e.g. 0.5,0.5,2.")
    return spacing


def dataset2d_options(args: argparse.Namespace) -> dict[str, Any]:
    """The parsed 2D options as keywords of the 2D dataset operations."""
    return {"plane": args.plane, "slices": parse_slices(args.slices), "encoding": args.encoding,
            "overlap": args.overlap, "ontology": args.ontology, "image": args.image, "images_dir": args.images_dir,
            "thing": args.thing, "stuff": args.stuff, "spacing": parse_spacing(args.spacing),
            "source": args.source, "volume_out": args.volume_out, "link_instances": args.link_instances}
