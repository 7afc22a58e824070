"""``segassist batch MANIFEST``: run the cases of a CSV/JSON manifest, locally or on a Dask cluster.

Each case (segment, interpolate or convert one volume) writes its output atomically and a done marker
beside it, so running the same manifest again skips finished cases. A failing case is recorded and the
others go on; the summary table (status, time, voxels segmented, error) is printed at the end and the exit
status is 1 when any case failed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _threads(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected auto or a whole number >= 0, not {text!r}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("batch", help="run a manifest of cases (segment / interpolate / convert) in parallel",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("manifest", help="CSV or JSON manifest: case, operation, volume, prompts | keyframes | "
                   "segmentation, output [, backend, plane, method]")
    p.add_argument("--workers", type=int, metavar="N", help="local worker processes (default: one per CPU)")
    p.add_argument("--threads-per-worker", type=_threads, default="auto", metavar="T",
                   help="threads each worker's native libraries (BLAS, OpenMP, SimpleITK/ITK, torch) may use: "
                   "auto (default: CPUs / workers here, 1 on a Dask cluster), a number, or 0 for the "
                   "libraries' own default (one per CPU in every worker)")
    p.add_argument("--address", metavar="tcp://HOST:8786",
                   help="Dask scheduler to run on (needs segassist[batch]); default: local processes")
    p.add_argument("--output-dir", metavar="DIR", help="folder for relative outputs (default: the manifest's)")
    p.add_argument("--force", action="store_true", help="run finished cases again")
    p.add_argument("--summary-csv", metavar="FILE", help="also write the summary as CSV")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from SegAssistLib.batch import FAILED, read_manifest, run_batch
    from SegAssistLib.io.atomic import atomic_output

    cases = read_manifest(args.manifest, args.output_dir)
    from SegAssistLib.cli.checks import check_outputs

    check_outputs([args.summary_csv, *(c.output for c in cases)], command="batch")
    if args.summary_csv:
        from SegAssistLib.io.paths import refuse_outputs_over_inputs

        refuse_outputs_over_inputs([args.summary_csv], [args.manifest, *(p for c in cases for p in (
            c.volume, c.keyframes, c.segmentation, c.output, *c.prompts))], "batch --summary-csv")
    bar = tqdm(total=len(cases), unit="case", file=sys.stderr, disable=args.no_progress)

    def progress(result) -> None:
        bar.update(1)
        if result.status == FAILED:
            bar.write(f"{result.case}: failed: {result.error}", file=sys.stderr)

    try:
        summary = run_batch(cases, workers=args.workers, address=args.address, progress=progress, force=args.force,
                            threads_per_worker=args.threads_per_worker)
    finally:
        bar.close()
    print(summary.table())
    if args.summary_csv:
        with atomic_output(Path(args.summary_csv)) as tmp:
            tmp.write_text(summary.to_csv(), encoding="utf-8")
    return 0 if summary.ok else 1
