"""Load time and peak memory of a 512x512x300 DICOM series: SegAssist's reader against SimpleITK alone.

SegAssist's ``read_volume(folder)`` lists the series with pydicom, orders slices by position, checks
for gaps and duplicates, then reads pixels with SimpleITK's ImageSeriesReader. The peer is what a
script would do with SimpleITK only (GDCM series discovery + ImageSeriesReader + GetArrayFromImage).
Each measurement runs in a fresh process so peak memory (VmHWM) is its own.

Usage: python Testing/Benchmarks/bench_io.py [--slices 300] [--repeats 3] [--keep DIR]
The series is written from the real lung2 CT (fetched by Testing/Data/fetch_data.py), its 61 slices repeated to reach --slices.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from benchlib import DATA

LUNG2 = DATA / "pyradiomics" / "lung2_image.nrrd"


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _load_ours(folder: str) -> tuple:
    from SegAssistLib.io.volumes import read_volume

    return read_volume(folder).array.shape


def _load_sitk(folder: str) -> tuple:
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    uid = reader.GetGDCMSeriesIDs(folder)[0]
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(folder, uid))
    return sitk.GetArrayFromImage(reader.Execute()).shape


def _child(which: str, folder: str, queue) -> None:
    import SimpleITK  # noqa: F401  (import cost is not part of the load)

    import SegAssistLib.io.volumes  # noqa: F401
    import pydicom  # noqa: F401

    base = _rss_kib("VmRSS")
    t = time.perf_counter()
    shape = (_load_ours if which == "segassist" else _load_sitk)(folder)
    elapsed = time.perf_counter() - t
    queue.put((elapsed, (_rss_kib("VmHWM") - base) / 1024.0, shape))


def measure(which: str, folder: str) -> tuple[float, float, tuple]:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(which, folder, q))
    p.start()
    result = q.get()
    p.join()
    return result


def make_series(folder: Path, n_slices: int) -> None:
    from SegAssistLib.io.volumes import read_volume, write_dicom_series

    vol = read_volume(LUNG2)
    reps = int(np.ceil(n_slices / vol.shape[0]))
    # Same grid, more slices: the IJK->RAS matrix simply extends along k.
    big = type(vol)(np.ascontiguousarray(np.tile(vol.array, (reps, 1, 1))[:n_slices]), vol.ijk_to_ras)
    write_dicom_series(big, folder)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slices", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--keep", type=Path, help="write the series here and keep it")
    args = ap.parse_args()
    if not LUNG2.exists():
        print(f"needs {LUNG2}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp) / "series"
        if not (folder.exists() and any(folder.iterdir())):
            t = time.perf_counter()
            make_series(folder, args.slices)
            print(f"wrote {args.slices} slices of 512x512 in {time.perf_counter() - t:.1f} s to {folder}")
        results = {"segassist": [], "simpleitk": []}
        for _ in range(args.repeats):  # interleaved, so machine noise hits both alike
            for which in results:
                results[which].append(measure(which, str(folder)))
        shapes = {w: r[0][2] for w, r in results.items()}
        assert shapes["segassist"] == shapes["simpleitk"], shapes
        rows = []
        for which, runs in results.items():
            rows.append((which, statistics.median(r[0] for r in runs), max(r[1] for r in runs)))
        ours, peer = rows
        print(f"\nDICOM series {shapes['segassist']} (k, j, i), median of {args.repeats} fresh-process runs")
        print(f"{'reader':<12}{'load s':>10}{'peak MiB':>12}")
        for name, secs, mib in rows:
            print(f"{name:<12}{secs:>10.2f}{mib:>12.0f}")
        print(f"{'ratio':<12}{ours[1] / peer[1]:>10.2f}{ours[2] / peer[2]:>12.2f}   (segassist / simpleitk; target <= 1.2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
