"""Pretrained backends (LiteMedSAM, MobileSAM, ``auto``) against the classical backend, on real data.

Cases: pyradiomics lung2 (CT lesion), brain1 (MR tumour) and MNI152 (brain mask, ``--mni-slices``
axial slices). On each slice that holds the object (``--max-slices`` evenly
spread ones with ``--quick``):

* box Dice: the object's bounding box (+``--margin`` px) as the only prompt;
* click Dice@1 / Dice@3: the simulated user of bench_interactive (first click at the centre, then at
  the largest error) — not for LiteMedSAM, which takes boxes only;
* seconds per interaction: the first prompt on a new slice (encoder + decoder) and a prompt on a slice
  whose embedding is cached (decoder only), medians; the classical backend is the peer for the ratio.

``auto`` is run on the same slices. Its rule was chosen on these cases; there is no held-out half here
(the development benchmark's split was not on main when this was written), so its numbers are not a
validation.

Run: ``python Testing/Benchmarks/bench_pretrained.py [--quick] [--backends classical,litemedsam,mobilesam,auto]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np
from benchlib import DATA, load_mni152

from SegAssistLib.backends.registry import get_backend
from SegAssistLib.core.planes import PlaneView
from SegAssistLib.core.prompts import SlicePrompt
from SegAssistLib.evaluation import simulated_user as su


def load_cases(mni_slices: int) -> dict:
    """name -> (image Volume, 3D bool ground truth, slices to use (None = every slice with the object))."""
    from SegAssistLib.io.volumes import read_volume

    cases = {}
    for name in ("lung2", "brain1"):
        base = DATA / "pyradiomics"
        cases[name] = (read_volume(base / f"{name}_image.nrrd"), read_volume(base / f"{name}_label.nrrd").array > 0,
                       None)
    mni = load_mni152()
    if mni is not None:
        image, gt = mni
        view = PlaneView(image, "axial")
        present = [n for n in range(view.n_slices) if view.slice(n, gt).sum() > 2000]
        picks = [present[int(i)] for i in np.linspace(0, len(present) - 1, mni_slices + 2)[1:-1]]
        cases["mni152_brain"] = (image, gt, picks)
    return cases


def spread(items: list[int], count: int | None) -> list[int]:
    if count is None or len(items) <= count:
        return items
    return [items[int(i)] for i in np.linspace(0, len(items) - 1, count)]


def box_of(gt: np.ndarray, margin: float) -> tuple[float, float, float, float]:
    r, c = np.nonzero(gt)
    nr, nc = gt.shape
    return (max(0, r.min() - margin), max(0, c.min() - margin), min(nr - 1, r.max() + margin),
            min(nc - 1, c.max() + margin))


def run_case(backend, name: str, view: PlaneView, gt3: np.ndarray, slices: list[int], margin: float,
             clicks: int) -> dict:
    box_d, d1, d3, t_new, t_cached = [], [], [], [], []
    takes_clicks = name != "litemedsam"
    with backend.open_session(view) as session:
        for n in slices:
            gt = np.asarray(view.slice(n, gt3), bool)
            box = box_of(gt, margin)
            t = time.perf_counter()
            res = session.add_prompt(n, SlicePrompt(box=box), object_id=1)
            t_new.append(time.perf_counter() - t)
            box_d.append(su.dice(res.mask, gt))
            t = time.perf_counter()
            session.add_prompt(n, SlicePrompt(box=box), object_id=2)  # same slice: embedding cached
            t_cached.append(time.perf_counter() - t)
            session.clear_object(1)
            session.clear_object(2)
            if takes_clicks:
                run = su.simulate_clicks(session, n, gt, clicks, object_id=3)
                d1.append(run.dice_at(1))
                d3.append(run.dice_at(3))
                session.clear_object(3)
    return {"box": float(np.mean(box_d)), "d1": float(np.mean(d1)) if d1 else None,
            "d3": float(np.mean(d3)) if d3 else None, "t_new": statistics.median(t_new),
            "t_cached": statistics.median(t_cached), "slices": len(slices)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backends", default="classical,litemedsam,mobilesam,auto")
    ap.add_argument("--cases", default="lung2,brain1,mni152_brain")
    ap.add_argument("--mni-slices", type=int, default=6)
    ap.add_argument("--margin", type=float, default=2.0, help="pixels added around the ground-truth box")
    ap.add_argument("--clicks", type=int, default=3)
    ap.add_argument("--max-slices", type=int, default=None, help="evenly spread slices per case")
    ap.add_argument("--quick", action="store_true", help="--max-slices 3 --mni-slices 3")
    args = ap.parse_args(argv)
    if args.quick:
        args.max_slices, args.mni_slices = args.max_slices or 3, 3
    cases = {k: v for k, v in load_cases(args.mni_slices).items() if k in args.cases.split(",")}
    backends = {name: get_backend(name) for name in args.backends.split(",")}
    import torch

    print(f"box +{args.margin:g} px; clicks: simulated user, {args.clicks} clicks; CPU cores {os.cpu_count()}, "
          f"torch threads {torch.get_num_threads()}\n")
    print("| case | backend | slices | Dice, box | Dice@1 click | Dice@3 clicks | s, new slice | s, cached slice "
          "| new-slice time vs classical |")
    print("|" + "---|" * 9)
    means: dict[str, list[float]] = {name: [] for name in backends}
    for case, (image, gt3, picks) in cases.items():
        view = PlaneView(image, "axial")
        slices = picks if picks is not None else [n for n in range(view.n_slices) if view.slice(n, gt3).any()]
        slices = spread(slices, args.max_slices)
        rows = {name: run_case(b, name, view, gt3, slices, args.margin, args.clicks) for name, b in backends.items()}
        ref = rows.get("classical")
        for name, m in rows.items():
            means[name].append(m["box"])
            fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
            ratio = f"{m['t_new'] / ref['t_new']:.1f}x" if ref else "-"
            print(f"| {case} | {name} | {m['slices']} | {m['box']:.3f} | {fmt(m['d1'])} | {fmt(m['d3'])} | "
                  f"{m['t_new']:.2f} | {m['t_cached']:.3f} | {ratio} |", flush=True)
    print("\nmean box Dice over cases: " + ", ".join(f"{k} {np.mean(v):.3f}" for k, v in means.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
