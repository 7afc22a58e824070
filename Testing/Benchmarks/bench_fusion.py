"""Cross-plane fusion against single planes: Dice and time on lung2 and brain1 (fetched by Testing/Data/fetch_data.py).

Keyframes are simulated hand-drawn slices taken from the ground truth: every ``--axial-step``-th axial
slice holding the lesion (plus the last) and every ``--other-step``-th coronal or sagittal slice. Each
plane is run alone, then both together; the engine fuses them. The classical backend is used unless
``--backend sam2 --checkpoint PATH`` is given.

Usage: python Testing/Benchmarks/bench_fusion.py [--backend classical] [--axial-step 3] [--other-step 12]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

from benchlib import DATA

DATA = DATA / "pyradiomics"


def main() -> int:
    from SegAssistLib.engine.segmentation_engine import SegmentationEngine
    from SegAssistLib.io.volumes import read_volume
    from SegAssistLib.evaluation.metrics import dice
    from SegAssistLib.evaluation.simulated_user import keyframes

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="classical")
    ap.add_argument("--checkpoint")
    ap.add_argument("--axial-step", type=int, default=3)
    ap.add_argument("--other-step", type=int, default=12)
    args = ap.parse_args()
    options = {"checkpoint": args.checkpoint} if args.checkpoint else {}
    warnings.filterwarnings("ignore")
    print(f"backend {args.backend}; keyframes: axial every {args.axial_step}, other plane every {args.other_step}")
    print(f"{'case':<8}{'planes':<20}{'keyframes':>10}{'Dice':>8}{'time s':>9}")
    ok = True
    for case, other in (("lung2", "coronal"), ("brain1", "sagittal")):
        vol = read_volume(DATA / f"{case}_image.nrrd")
        gt = read_volume(DATA / f"{case}_label.nrrd").array.astype(bool)
        scores = {}
        for planes in (("axial",), (other,), ("axial", other)):
            eng = SegmentationEngine(vol, args.backend, options)
            n_kf = 0
            t = time.perf_counter()
            for p in planes:
                view = eng.view(p)
                for n in keyframes(view, gt, args.axial_step if p == "axial" else args.other_step):
                    eng.set_keyframe_mask("lesion", p, n, view.slice(n, gt))
                    n_kf += 1
            result = eng.run("lesion")
            elapsed = time.perf_counter() - t
            scores[planes] = dice(result.mask, gt)
            print(f"{case:<8}{'+'.join(planes):<20}{n_kf:>10}{scores[planes]:>8.3f}{elapsed:>9.1f}")
        best = max(scores[("axial",)], scores[(other,)])
        fused = scores[("axial", other)]
        ok &= fused >= best
        print(f"{case:<8}{'fused - best single':<20}{'':>10}{fused - best:>+8.3f}   (target >= 0)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
