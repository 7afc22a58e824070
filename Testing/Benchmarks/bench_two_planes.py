"""Do keyframes in a second plane help? One click per ``--every``-th axial slice, against the same plus one
click per ``--every``-th coronal slice, both through ``SegmentationEngine`` (issue 14: "two planes did not
help", 0.39 against 0.40 on unseen brain structures with the first wave's engine).

Structures come from the development set (``devset.py``); rules are chosen on ``--half tuning`` only. The
clicks are the simulated user's first click (the cross-section's centre) on each keyframe slice, in each
plane. Printed per backend: mean 3D Dice, the largest volume ratio (result / truth), and how many structures
the second plane improved.

Run: ``python Testing/Benchmarks/bench_two_planes.py --half tuning [--backend classical] [--every 6]``
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

import devset
from SegAssistLib.core.planes import PlaneView
from SegAssistLib.core.prompts import SlicePrompt
from SegAssistLib.evaluation import simulated_user as su
from SegAssistLib.engine.fusion import RULES as FUSION_RULES
from SegAssistLib.evaluation.metrics import dice


def engine_dice(volume, gt: np.ndarray, backend: str, planes: tuple[str, ...], every: int,
                fusion: str | None = None) -> tuple[float, float]:
    """(3D Dice, volume ratio) of the engine's result from one centre click per ``every``-th slice in ``planes``,
    the planes fused by ``fusion`` (the engine's default rule when None)."""
    from SegAssistLib.engine import SegmentationEngine

    engine = SegmentationEngine(volume, backend, **({"fusion": fusion} if fusion else {}))
    try:
        for plane in planes:
            view = PlaneView(volume, plane)
            for n in su.keyframes(view, gt, every):
                gt2d = np.asarray(view.slice(n, gt), bool)
                engine.add_prompt("s", plane, n, SlicePrompt(points=[list(su.first_click(gt2d))], labels=[1]))
        mask = np.asarray(engine.run("s").mask, bool)
    finally:
        engine.close()
    return dice(mask, gt), float(mask.sum()) / max(int(gt.sum()), 1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--half", choices=("tuning", "heldout"), default="tuning")
    ap.add_argument("--backend", default="classical")
    ap.add_argument("--every", type=int, default=6)
    ap.add_argument("--per-structure", action="store_true")
    ap.add_argument("--fusion", default=",".join(FUSION_RULES),
                    help=f"comma-separated fusion rules for the two-plane run ({', '.join(FUSION_RULES)}; first = engine default)")
    args = ap.parse_args(argv)
    rules = [r for r in args.fusion.split(",") if r]
    if set(rules) - set(FUSION_RULES):
        ap.error(f"--fusion takes rules from {', '.join(FUSION_RULES)}")
    rows = []
    for s in devset.half(args.half):
        if s.dims != 3:
            continue
        volume, gt = s.load()
        one = engine_dice(volume, gt, args.backend, ("axial",), args.every)
        twos = [engine_dice(volume, gt, args.backend, ("axial", "coronal"), args.every, rule) for rule in rules]
        rows.append((s.id, one, twos))
        if args.per_structure:
            both = "  ".join(f"axial+coronal ({rule}) {d:.3f} ({v:.2f}x)" for rule, (d, v) in zip(rules, twos))
            print(f"  {s.id:40s} axial {one[0]:.3f} ({one[1]:.2f}x)  {both}", flush=True)
    one = np.array([r[1] for r in rows])
    print(f"\n{args.half} half, {len(rows)} 3D structures, backend {args.backend}, one click per {args.every}th slice\n")
    print("| keyframe planes | 3D Dice | max volume ratio | structures improved by the 2nd plane |")
    print("|---|---|---|---|")
    print(f"| axial | {one[:, 0].mean():.3f} | {one[:, 1].max():.2f} | - |")
    for i, rule in enumerate(rules):
        two = np.array([r[2][i] for r in rows])
        print(f"| axial + coronal, fusion {rule} | {two[:, 0].mean():.3f} | {two[:, 1].max():.2f} | "
              f"{int((two[:, 0] > one[:, 0] + 0.01).sum())} of {len(rows)} "
              f"(worse: {int((two[:, 0] < one[:, 0] - 0.01).sum())}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
