"""``segassist convert IN OUT``: convert a segmentation between Slicer .seg.nrrd, labelmaps (.nrrd, .nii,
.nii.gz with a .csv/.ctbl colour table beside them) and DICOM SEG (.dcm), chosen by the file endings, or
a 2D dataset (see ``SegAssistLib.operations.datasets2d``). The work is
:func:`SegAssistLib.operations.convert.convert`; this module only parses the arguments.

Writing DICOM SEG needs ``--reference``, the folder of the DICOM series the segmentation was drawn on; reading
accepts ``--reference`` (a volume file or DICOM folder) to put the masks on that volume's grid.
"""

from __future__ import annotations

import argparse


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
    from SegAssistLib.cli import convert_datasets

    convert_datasets.add_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from SegAssistLib.cli.convert_datasets import dataset2d_options
    from SegAssistLib.operations.convert import convert

    from pathlib import Path

    from SegAssistLib.cli.checks import check_outputs

    out = Path(args.output)  # a file, or a folder for some 2D dataset formats
    check_outputs([] if out.is_dir() else [out, getattr(args, "volume_out", None)],
                  [out] if out.is_dir() else [], "convert")
    result = convert(args.input, args.output, reference=args.reference, color_table=args.color_table,
                     table_format=args.table_format, allow_overlap=args.allow_overlap,
                     ignore_frame_of_reference=args.ignore_frame_of_reference, **dataset2d_options(args))
    print(result.summary(args.input, args.output))
    return 0
