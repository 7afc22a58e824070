"""``segassist convert IN OUT``: convert a segmentation between Slicer .seg.nrrd, labelmaps (.nrrd, .nii,
.nii.gz with a .csv/.ctbl colour table beside them) and DICOM SEG (.dcm), chosen by the file endings.

Writing DICOM SEG needs ``--reference``, the folder of the DICOM series the segmentation was drawn on; reading
accepts ``--reference`` (a volume file or DICOM folder) to put the masks on that volume's grid.
"""

from __future__ import annotations

import argparse
import importlib.util


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convert",
        help="convert segmentations between .seg.nrrd, labelmap (+colour table) and DICOM SEG",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", help="segmentation to read (.seg.nrrd, .nrrd/.nii/.nii.gz labelmap, .dcm DICOM SEG)")
    p.add_argument("output", help="file to write; its ending chooses the format")
    p.add_argument(
        "--reference",
        metavar="PATH",
        help="source DICOM series folder (required to write DICOM SEG); for other outputs, a volume whose grid "
        "the masks are placed on",
    )
    p.add_argument("--color-table", metavar="FILE", help="colour table (.csv/.ctbl) of a labelmap input or output "
                   "(default: the file of the same name beside it)")
    p.add_argument("--table-format", choices=("csv", "ctbl"), default="csv",
                   help="colour table format written beside a labelmap output (default: csv, keeps terminology)")
    p.add_argument("--allow-overlap", action="store_true",
                   help="labelmap output only: let later segments win where segments overlap (voxels are lost; "
                   "a warning says how many)")
    p.add_argument("--ignore-frame-of-reference", action="store_true",
                   help="DICOM SEG input: place the masks on --reference even when its FrameOfReferenceUID differs "
                   "(only for series known to be registered)")
    if importlib.util.find_spec("SegAssistLib.cli.convert_datasets") is not None:
        from SegAssistLib.cli import convert_datasets

        convert_datasets.add_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # 2D datasets and ontologies (COCO, panoptic, ...) are handled by their own module when it is installed.
    if importlib.util.find_spec("SegAssistLib.cli.convert_datasets") is not None:
        from SegAssistLib.cli import convert_datasets

        if convert_datasets.handles(args.input, args.output):
            return convert_datasets.run(args)

    from SegAssistLib.io.segmentation_files import DICOM_SEG, LABELMAP, read_segmentation, segmentation_format, write_segmentation

    from SegAssistLib.io.paths import refuse_outputs_over_inputs
    from SegAssistLib.io.segmentation_files import planned_outputs

    in_fmt, out_fmt = segmentation_format(args.input), segmentation_format(args.output)
    out_table = args.color_table if in_fmt != LABELMAP else None
    in_table = args.color_table if in_fmt == LABELMAP else None
    if in_fmt == LABELMAP and not in_table:
        from SegAssistLib.io.labelmap import find_table

        in_table = find_table(args.input)
    refuse_outputs_over_inputs(planned_outputs(args.output, out_table, args.table_format),
                               [args.input, args.reference, in_table], "convert")
    # For a DICOM SEG output the reference is the series it refers to; the masks go on that series' grid too.
    segmentation = read_segmentation(
        args.input,
        reference=args.reference,
        color_table=args.color_table if in_fmt == LABELMAP else None,
        ignore_frame_of_reference=args.ignore_frame_of_reference,
    )
    options = {}
    if out_fmt == LABELMAP:
        options = {
            "color_table": args.color_table if in_fmt != LABELMAP else None,
            "table_format": args.table_format,
            "allow_overlap": args.allow_overlap,
        }
    elif out_fmt == DICOM_SEG:
        options = {"reference": args.reference}
    written = write_segmentation(segmentation, args.output, **options)
    names = ", ".join(s.name for s in segmentation)
    print(f"{args.input} -> {', '.join(str(p) for p in written)}: {len(segmentation)} segment(s) ({names})")
    return 0
