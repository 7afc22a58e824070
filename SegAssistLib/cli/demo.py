"""``segassist demo [-o OUTDIR]``: segment the shipped sample CT from its stored prompts, offline.

Uses the weight-free classical backend, so it runs on a fresh install with no download. Writes
``OUTDIR/demo.seg.nrrd`` (open it in Slicer over ``lung2_crop.nrrd`` from the sample folder) and
``OUTDIR/demo_overview.png``.
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="segment the shipped sample CT from stored prompts (no download)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-o", "--outdir", default="segassist_demo", help="output folder (default: ./segassist_demo)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from SegAssistLib.operations.demo import SAMPLE_DIR, run_demo

    from SegAssistLib.cli.checks import check_outputs

    check_outputs(folders=[args.outdir], command="demo")
    result = run_demo(args.outdir)
    seg = result.segmentation
    sid = seg.segment_ids[0]
    mask = seg.mask(sid)
    voxel_ml = float(abs(np.linalg.det(seg.ijk_to_ras[:3, :3]))) / 1000.0
    print(f"sample volume:   {SAMPLE_DIR / 'lung2_crop.nrrd'}")
    print(f"segment:         {seg.segment(sid).name} ({int(mask.sum())} voxels, {mask.sum() * voxel_ml:.1f} ml, "
          f"{int(mask.any(axis=(1, 2)).sum())} slices)")
    print(f"segmentation:    {result.segmentation_path}")
    print(f"overview:        {result.overview_path}")
    return 0
