"""``segassist segment VOLUME --prompts FILE... -o OUT.seg.nrrd``: prompts in, a segmentation out.

Prompts are Slicer markups files (point lists, ROIs); each file's markups belong to the segment named
by the markup (or the file name). Nothing is segmented beyond a segment's first and last prompted slices
unless ``--extrapolate`` (which stops where the area grows or the confidence drops). Progress goes to
stderr; ``--qc DIR`` writes per segment a montage, a confidence plot and ``NAME_review.json``: the slices
ordered by how likely they are wrong, so a reviewer checks the first ones first.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from SegAssistLib.backends.registry import available_backends
from SegAssistLib.backends.sam2.checkpoints import MODELS
from SegAssistLib.core.plane_names import PLANES


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("segment", help="segment a volume from markups prompts", description=__doc__)
    p.add_argument("volume", help="volume file or DICOM folder")
    p.add_argument("--prompts", nargs="+", required=True, metavar="FILE", help="Slicer .mrk.json files")
    p.add_argument("-o", "--output", required=True, help="output segmentation (.seg.nrrd, .nii.gz, .dcm)")
    p.add_argument("--backend", default="classical", help="classical (default, no weights), sam2, or a "
                   "registered backend: " + ", ".join(available_backends()))
    p.add_argument("--checkpoint", help=f"SAM 2 checkpoint (.pt) or model name ({', '.join(MODELS)})")
    p.add_argument("--sha256", metavar="HEX", help="expected SHA-256 of the SAM 2 checkpoint (checked before use)")
    p.add_argument("--trust-unverified", action="store_true",
                   help="SAM 2: download or use a checkpoint whose SHA-256 is not known (unchecked)")
    p.add_argument("--device", help="torch device for SAM 2 (default: cuda, mps or cpu, whichever exists)")
    p.add_argument("--plane", default="axial", choices=PLANES,
                   help="plane of the prompted slices (default axial)")
    p.add_argument("--series", metavar="UID", help="SeriesInstanceUID when VOLUME is a DICOM folder")
    p.add_argument("--reference", help="DICOM series folder the output refers to (DICOM SEG output)")
    p.add_argument("--extrapolate", action="store_true",
                   help="continue past the first/last prompted slice until the object ends (default: stop there)")
    p.add_argument("--qc", metavar="DIR",
                   help="write QC pictures (montage, confidence plot) and a review list (NAME_review.json) here")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--server", metavar="URL", help="run on a SegAssist server (segassist serve) instead of here")
    p.add_argument("--api-key", default=os.environ.get("SEGASSIST_API_KEY"),
                   help="the server's API key (default $SEGASSIST_API_KEY)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from SegAssistLib.io.paths import refuse_outputs_over_inputs
    from SegAssistLib.io.segmentation_files import planned_outputs, write_segmentation
    from SegAssistLib.operations.segment_files import backend_options, segment_files

    refuse_outputs_over_inputs(planned_outputs(args.output) + ([args.qc] if args.qc else []),
                               [args.volume, *args.prompts, args.reference], "segment")
    from SegAssistLib.cli.checks import check_outputs

    check_outputs(planned_outputs(args.output), [args.qc], "segment")
    if args.qc and not args.server:
        from SegAssistLib.evaluation.qc import require_qc

        require_qc()  # before computing: a missing package must not cost the segmentation's time
    options = backend_options(args.checkpoint, args.device, args.sha256, args.trust_unverified)

    bars: dict[str, tqdm] = {}

    def progress(name: str, done: int, total: int) -> None:
        if args.no_progress:
            return
        bar = bars.get(name)
        if bar is None:
            bar = bars[name] = tqdm(total=total, desc=f"{name}", unit="slice", file=sys.stderr, leave=True)
        bar.total = total
        bar.n = done
        bar.refresh()

    if args.server:
        from SegAssistLib.errors import SegAssistError
        from SegAssistLib.operations.segment_remote import segment_files_remote

        if args.qc:
            raise SegAssistError("--qc needs the engine's per-slice confidence, which stays on the server; "
                                 "run without --server for QC pictures.")
        made = segment_files_remote(args.volume, args.prompts, args.server, args.api_key, args.plane, args.series)
    else:
        try:
            made = segment_files(args.volume, args.prompts, args.backend, options, args.plane, args.series, progress,
                                     extrapolate=args.extrapolate)
        finally:
            for bar in bars.values():
                bar.close()
    volume, seg, results = made.volume, made.segmentation, made.results
    extra = {"reference": args.reference} if args.reference else {}
    written = write_segmentation(seg, args.output, **extra)
    for s in seg:
        print(f"{s.name}: {int(seg.mask(s.id).sum())} voxels")
    print("wrote " + ", ".join(str(w) for w in written))
    if args.qc:
        from SegAssistLib.evaluation.qc import write_qc

        qc = Path(args.qc)
        for s in seg:
            review = write_qc(volume, seg.mask(s.id), results[s.name], qc, s.name)
            first = ", ".join(f"{i['plane']} {i['slice']}" for i in review["review_queue"][:5])
            print(f"{s.name}: review first {first}" + (f" ({len(review['flagged'])} slice(s) overruled)"
                                                       if review["flagged"] else ""))
        print(f"QC pictures and review lists in {qc}")
    return 0
