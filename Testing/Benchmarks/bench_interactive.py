"""Interactive segmentation with a simulated user: our classical backend against Slicer's own GrowCut.

Cases (real data): pyradiomics lung2 (CT lesion) and brain1 (MR tumour) from the fetched data (Testing/Data/fetch_data.py), and the
MNI152 2009 T1 template with its brain mask (nilearn). On every axial slice that holds the object (MNI:
``--mni-slices`` slices spread over the brain), a simulated user clicks (first click at the object's centre,
then at the centre of the largest error) up to ``--clicks`` times. Reported per method:

* Dice after 1, 3 and 5 clicks, NoC@85 and NoC@90 (clicks to reach Dice 0.85 / 0.90; ``clicks + 1`` when
  never reached), averaged over slices;
* Dice of a box prompt alone (the object's bounding box on the slice);
* 3D Dice of the keyframe workflow (clicks on every ``--every``-th slice, then ``propagate``);
* seconds per interaction (mean and max) on this machine, and the ratio to GrowCut.

Every method gets the same seeds: the classical backend's seed builder turns the clicks into object and
background seeds on the same region of interest, and only the seeded algorithm differs (watershed =
ours, the default; random walker and geodesic = the other candidates; ``slicer_growcut`` = Slicer's "Grow from seeds",
``vtkImageGrowCutSegment`` from slicer-core, run in the same process). ``--sam2-checkpoint`` adds the SAM 2
backend through the same protocol.

Run: ``python Testing/Benchmarks/bench_interactive.py [--clicks 10] [--methods watershed,slicer_growcut] [--mni-3d]``
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
from benchlib import DATA, load_mni152

from SegAssistLib.evaluation import simulated_user as su
from SegAssistLib.backends.classical.backend import ClassicalBackend
from SegAssistLib.core.planes import PlaneView
from SegAssistLib.core.prompts import SlicePrompt
from SegAssistLib.core.volume import Volume

DATA = DATA / "pyradiomics"


def load_cases(mni_slices: int) -> dict[str, tuple[Volume, np.ndarray, list[int] | None]]:
    """name -> (image, 3D ground truth, slices to click on (None = all with the object))."""
    from SegAssistLib.io.volumes import read_volume

    cases = {}
    for name in ("lung2", "brain1"):
        if (DATA / f"{name}_image.nrrd").exists():
            cases[name] = (read_volume(DATA / f"{name}_image.nrrd"), read_volume(DATA / f"{name}_label.nrrd").array > 0, None)
        else:
            print(f"skipping {name}: {DATA} not found", file=sys.stderr)
    mni = load_mni152()
    if mni is None:
        print("skipping MNI152: nilearn not installed", file=sys.stderr)
        return cases
    image, gt = mni
    view = PlaneView(image, "axial")
    present = [n for n in range(view.n_slices) if view.slice(n, gt).sum() > 2000]
    picks = [present[int(i)] for i in np.linspace(0, len(present) - 1, mni_slices + 2)[1:-1]]
    cases["mni152_brain"] = (image, gt, picks)
    return cases


def make_backends(methods: list[str], sam2_checkpoint: str | None, seed_options: list[str] = ()):
    from SegAssistLib.backends.classical.seeds import SeedOptions

    opts = SeedOptions(**{k: float(v) for k, v in (o.split("=", 1) for o in seed_options)})
    backends = {m: ClassicalBackend(m, opts) for m in methods}
    if sam2_checkpoint:
        from SegAssistLib.backends import get_backend

        backends["sam2"] = get_backend("sam2", checkpoint=sam2_checkpoint)
    return backends


def click_metrics(backend, image: Volume, gt: np.ndarray, slices: list[int] | None, clicks: int) -> dict:
    view = PlaneView(image, "axial")
    if slices is None:
        slices = [n for n in range(view.n_slices) if view.slice(n, gt).any()]
    rows, seconds = [], []
    for n in slices:
        gt2d = np.asarray(view.slice(n, gt), bool)
        with backend.open_session(view) as session:
            run = su.simulate_clicks(session, n, gt2d, clicks)
        with backend.open_session(view) as session:  # the other first interaction: the object's bounding box
            box = su.dice(session.add_prompt(n, SlicePrompt(box=su.box_from_mask(gt2d))).mask, gt2d)
        rows.append([run.dice_at(1), run.dice_at(3), run.dice_at(5), run.noc(0.85, clicks), run.noc(0.90, clicks), box])
        seconds += run.seconds
    r = np.mean(rows, axis=0)
    return {"dice1": r[0], "dice3": r[1], "dice5": r[2], "noc85": r[3], "noc90": r[4], "box": r[5],
            "t_mean": float(np.mean(seconds)), "t_max": float(np.max(seconds)), "slices": len(slices),
            "shape": view.slice_shape}


def keyframe_dice(backend, image: Volume, gt: np.ndarray, every: int, clicks: int) -> tuple[float, float, int]:
    view = PlaneView(image, "axial")
    t0 = time.perf_counter()
    with backend.open_session(view) as session:
        mask, keys = su.simulate_keyframes(session, view, gt, every, clicks)
    return su.dice(mask, gt), time.perf_counter() - t0, len(keys)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clicks", type=int, default=10, help="clicks per slice (NoC is capped here)")
    ap.add_argument("--methods", default="random_walker,slicer_growcut,watershed,geodesic")
    ap.add_argument("--every", type=int, default=3, help="keyframe spacing for the 3D workflow")
    ap.add_argument("--keyframe-clicks", type=int, default=2, help="clicks on each keyframe")
    ap.add_argument("--mni-slices", type=int, default=6, help="axial MNI slices to click on")
    ap.add_argument("--mni-3d", action="store_true", help="also run the 3D workflow on MNI (large, slow)")
    ap.add_argument("--sam2-checkpoint", help="add the SAM 2 backend with this checkpoint")
    ap.add_argument("--seed-option", action="append", default=[], metavar="NAME=VALUE",
                    help="override a SeedOptions field for every classical method (tuning)")
    ap.add_argument("--cases", default="lung2,brain1,mni152_brain")
    args = ap.parse_args(argv)

    cases = {k: v for k, v in load_cases(args.mni_slices).items() if k in args.cases.split(",")}
    backends = make_backends(args.methods.split(","), args.sam2_checkpoint, args.seed_option)
    print(f"simulated user, up to {args.clicks} clicks per slice; 3D: keyframes every {args.every} slices, "
          f"{args.keyframe_clicks} clicks each; CPU cores: {os.cpu_count()}\n")
    header = ("| case | method | slices | Dice@1 | Dice@3 | Dice@5 | NoC@85 | NoC@90 | Dice, box | 3D Dice | "
              "s/interaction (mean / max) | time vs GrowCut |")
    print(header)
    print("|" + "---|" * 12)
    if cases:  # warm-up: the first call of a method imports its library (slicer-core for GrowCut)
        image, gt, _ = next(iter(cases.values()))
        view = PlaneView(image, "axial")
        for backend in backends.values():
            click_metrics(backend, image, gt, [su.largest_slice(view, gt)], 1)
    for name, (image, gt, slices) in cases.items():
        results = {}
        for mname, backend in backends.items():
            m = click_metrics(backend, image, gt, slices, args.clicks)
            if name != "mni152_brain" or args.mni_3d:
                m["dice3d"], m["t3d"], m["keys"] = keyframe_dice(backend, image, gt, args.every, args.keyframe_clicks)
            results[mname] = m
        ref = results.get("slicer_growcut")
        for mname, m in results.items():
            ratio = f"{m['t_mean'] / ref['t_mean']:.2f}x" if ref else "-"
            d3 = f"{m['dice3d']:.3f}" if "dice3d" in m else "n/a"
            print(f"| {name} {m['shape'][0]}x{m['shape'][1]} | {mname} | {m['slices']} | {m['dice1']:.3f} | "
                  f"{m['dice3']:.3f} | {m['dice5']:.3f} | {m['noc85']:.2f} | {m['noc90']:.2f} | {m['box']:.3f} | {d3} | "
                  f"{m['t_mean']:.3f} / {m['t_max']:.3f} | {ratio} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
