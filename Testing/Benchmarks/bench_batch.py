"""Batch throughput: N real cases (segment / interpolate / convert on brain1, brain2, breast1) run with 1 and 2
workers, locally (process pool) and on a Dask LocalCluster, against a plain serial loop in this process.

    python Testing/Benchmarks/bench_batch.py [--cases N] [--names brain1,brain2,breast1] [--no-dask]

Prints cases/second for each configuration and its ratio to the serial loop (the peer: what a script that
calls the library case by case gets). Every configuration writes fresh outputs (done markers ignored).
Worker start-up is included in the wall time, as a user sees it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[1] / "Python"))
DATA = HERE.parents[3] / "shared" / "data" / "pyradiomics"


def build_rows(work: Path, n: int, names: list[str]) -> list[dict]:
    from batch_cases import make_case_rows

    base = [r for name in names for r in make_case_rows(DATA, work, name)]
    rows = []
    for i in range(n):
        r = dict(base[i % len(base)])
        r["case"] = f"{r['case']}-{i}"
        r["output"] = f"{i:03d}_{r['output']}"
        rows.append(r)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cases", type=int, default=18)
    ap.add_argument("--names", default="brain1,brain2,breast1", help="pyradiomics cases (lung2 is heavier)")
    ap.add_argument("--no-dask", action="store_true")
    args = ap.parse_args()
    if not DATA.is_dir():
        print(f"real data not found at {DATA}")
        return 1
    from SegAssistLib.batch import cases_from_rows, run_batch, run_case

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        rows = build_rows(work, args.cases, args.names.split(","))
        results = []

        t = time.perf_counter()
        for c in cases_from_rows(rows, output_dir=work / "serial"):
            assert run_case(c, force=True).status == "done"
        serial = time.perf_counter() - t
        results.append(("serial loop in this process (peer)", serial))

        for workers in (1, 2):
            s = run_batch(rows, workers=workers, output_dir=work / f"local{workers}", force=True)
            assert s.ok, s.table()
            results.append((f"run_batch local, {workers} worker(s)", s.wall_seconds))

        if not args.no_dask:
            import distributed

            for workers in (1, 2):
                with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, host="127.0.0.1",
                                              processes=True, dashboard_address=None) as cluster:
                    t = time.perf_counter()
                    s = run_batch(rows, address=cluster.scheduler_address, output_dir=work / f"dask{workers}",
                                  force=True)
                    assert s.ok, s.table()
                    results.append((f"run_batch dask, {workers} worker(s) (cluster up)", time.perf_counter() - t))

    print(f"\n{args.cases} cases ({args.names} x segment/interpolate/convert), classical backend\n")
    print(f"{'configuration':<44} {'wall s':>8} {'cases/s':>8} {'vs serial':>10}")
    for name, sec in results:
        print(f"{name:<44} {sec:8.2f} {args.cases / sec:8.2f} {serial / sec:9.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
