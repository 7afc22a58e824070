"""Peak memory of ``segment`` against the volume's size, for two volume sizes (issue 18, item 3).

The engine computes on the region the keyframes span and writes the bool mask back into the full grid, so
its memory should follow the object, not the volume. Each measurement runs in a fresh process: the volume
is built, the peak-RSS counter is reset (``/proc/self/clear_refs``), then the same steps as
``segassist segment`` run (prompts -> engine -> ``write_segmentation`` to a ``.seg.nrrd``) and the peak
RSS above the volume-loaded baseline is reported as a multiple of the volume's bytes.

Volumes: the real lung2 CT (512x512x61, int16, 32 MB) and a 512x512x600 CT built from it (each slice
repeated ~10x at 0.51 mm spacing, so the lesion spans ~110 slices; 315 MB). Prompts: one click at the
lesion's deepest point on every 3rd (lung2) / 15th (600-slice) occupied axial slice, inside its first
and last slice.

Peers in the same run: ``full`` (the same engine with ``crop=False``: every float map on the whole grid,
the previous path's memory), and ``copy`` (one plain float32 copy of the volume, the cost of a single
full-volume temporary). ``--peer-library DIR`` also measures an older checkout's ``SegAssistLib`` (e.g.
``main`` before this change) as ``old``.

Usage: python Testing/Benchmarks/bench_memory.py [--quick] [--peer-library DIR]
(``--quick``: lung2 only.) Targets: lung2 under 8x the volume's bytes, 512x512x600 under 2 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _build(case: str):
    """(volume, label bool array) for ``case`` ('lung2' or 'ct600')."""
    import numpy as np

    from benchlib import DATA
    from SegAssistLib.core.volume import Volume
    from SegAssistLib.io.volumes import read_volume

    image = read_volume(DATA / "pyradiomics" / "lung2_image.nrrd")
    label = read_volume(DATA / "pyradiomics" / "lung2_label.nrrd").array.astype(bool)
    if case == "lung2":
        return image, label
    nk = 600
    idx = np.minimum((np.arange(nk) * image.shape[0] / nk).astype(int), image.shape[0] - 1)
    matrix = image.ijk_to_ras.copy()
    matrix[:3, 2] *= image.shape[0] / nk  # thinner slices: the same body, 600 slices
    big = Volume(np.ascontiguousarray(image.array[idx]), matrix, dict(image.metadata))
    return big, np.ascontiguousarray(label[idx])


def _prompts(volume, label, every: int):
    import numpy as np
    from scipy import ndimage

    from SegAssistLib.core.planes import PlaneView
    from SegAssistLib.io.markups import MarkupPrompt

    view = PlaneView(volume, "axial")
    occ = [n for n in range(view.n_slices) if view.slice(n, label).any()]
    picks = list(range(occ[1], occ[-2] + 1, every))
    out = []
    for n in picks:
        m = view.slice(n, label)
        r, c = np.unravel_index(np.argmax(ndimage.distance_transform_edt(m)), m.shape)
        out.append(MarkupPrompt("Lesion", view.pixel_to_ras(n, r, c)[None], np.array([1])))
    return out, picks


def child(case: str, mode: str, library: str | None) -> dict:
    """One measurement in this (fresh) process."""
    if library:
        sys.path.insert(0, library)
    sys.path.insert(0, str(HERE))
    import importlib

    import numpy as np

    from SegAssistLib.io.segmentation_files import write_segmentation

    segment_files = importlib.import_module("SegAssistLib.operations.segment_files")

    volume, label = _build(case)
    prompts, picks = _prompts(volume, label, 3 if case == "lung2" else 15)
    del label
    if mode == "full":
        from functools import partial

        segment_files.SegmentationEngine = partial(segment_files.SegmentationEngine, crop=False)
    base = _status_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    voxels = -1
    if mode == "copy":
        copy = volume.array.astype(np.float32)
        voxels = int(copy.size)
        del copy
    else:
        seg, _ = segment_files.segment_from_prompts(volume, prompts)
        with tempfile.TemporaryDirectory() as tmp:
            write_segmentation(seg, Path(tmp) / "out.seg.nrrd")
        voxels = int(sum(int(seg.mask(s.id).sum()) for s in seg))
    peak = _status_kib("VmHWM")
    return {"case": case, "mode": mode, "shape": list(volume.shape), "volume_bytes": int(volume.array.nbytes),
            "keyframes": len(picks), "voxels": voxels, "base_mib": base / 1024, "peak_mib": peak / 1024,
            "added_mib": (peak - base) / 1024}


def measure(case: str, mode: str, library: str | None = None) -> dict:
    cmd = [sys.executable, __file__, "--child", case, mode] + (["--library", library] if library else [])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([library or str(ROOT), os.environ.get("PYTHONPATH", "")])}
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if res.returncode != 0:
        raise SystemExit(f"{case}/{mode} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="lung2 only")
    ap.add_argument("--peer-library", help="folder holding an older SegAssistLib to measure as 'old'")
    ap.add_argument("--child", nargs=2, metavar=("CASE", "MODE"), help=argparse.SUPPRESS)
    ap.add_argument("--library", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(*args.child, args.library)))
        return
    cases = ["lung2"] if args.quick else ["lung2", "ct600"]
    modes = ["crop", "full", "copy"]
    print(f"{'case':6} {'shape':>14} {'vol MB':>7} {'mode':5} {'kf':>3} {'voxels':>8} {'added MB':>9} "
          f"{'x vol':>6} {'peak RSS MB':>11}")
    for case in cases:
        rows = [measure(case, m) for m in modes]
        if args.peer_library:
            rows.append({**measure(case, "crop", args.peer_library), "mode": "old"})
        for r in rows:
            ratio = r["added_mib"] * 2**20 / r["volume_bytes"]
            print(f"{r['case']:6} {'x'.join(map(str, r['shape'])):>14} {r['volume_bytes'] / 2**20:7.1f} {r['mode']:5} "
                  f"{r['keyframes']:3d} {r['voxels']:8d} {r['added_mib']:9.1f} {ratio:6.2f} {r['peak_mib']:11.1f}")
        crop, full = rows[0], rows[1]
        print(f"  {case}: crop adds {crop['added_mib']:.1f} MB = {crop['added_mib'] * 2**20 / crop['volume_bytes']:.2f}x "
              f"the volume; full-grid peer {full['added_mib'] / max(crop['added_mib'], 1e-6):.1f}x as much; "
              f"whole process peak {crop['peak_mib']:.0f} MB")


if __name__ == "__main__":
    main()
