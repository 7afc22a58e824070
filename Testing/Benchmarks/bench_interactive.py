"""Interactive segmentation on the development set (issue 14): every backend against Slicer's GrowCut.

Structures come from ``devset.py`` (58 labelled structures from 5 real sources, split once into a tuning
and a held-out half in ``devset_split.json``). A simulated user (``SegAssistLib.evaluation.simulated_user``)
prompts each structure on a few axial slices (the first, the largest and the last slice holding it; more
without ``--quick``) and in 3D. Reported per backend and half:

* ``Dice@1`` / ``Dice@3``: single-slice Dice after 1 and 3 clicks (first at the centre, then at the
  centre of the largest error); ``box``: Dice of the slice's bounding box alone;
* ``3D click/3``: 3D Dice after one click on every 3rd slice holding the object (first and last included)
  and ``propagate``; ``3D box/5``: the same with a box on every 5th slice;
* ``click + ring``: Dice after the centre click plus the background ring that GrowCut's user paints, the
  ring given to our backends as negative clicks (``growcut_peer.ring_clicks``): the same information for
  both, which the plain click measures do not give ours; ``3D click+ring/3``: the same on every 3rd slice,
  through the engine;
* ``max vol``: the largest ratio (3D result volume / true volume) over the structures, the click/3 and
  box/5 protocols;
* ``s/int``: mean and max seconds per interaction (``add_prompt``), and the max on 512x512 slices;
* for backends whose score is a confidence: Spearman correlation of the score with Dice over prompted
  and propagated slices; with ``--via-engine``, also how well the engine's review queue orders the slices
  of one segment (Spearman of -risk with slice Dice within each segment, averaged).

Backends: any name from the registry (``--backend classical,litemedsam``; ``all`` = every registered one
that loads), plus ``slicer_growcut``: Slicer's "Grow from seeds" given the same clicks or boxes plus a
background ring (``growcut_peer.py``). ``--seed-option NAME=VALUE`` overrides a classical SeedOptions field
and ``--method NAME`` its seeded method (tune both on ``--half tuning`` only). ``--measures box,box3d`` runs only those measures (the rest print n/a);
LiteMedSAM takes no clicks, so its click measures are n/a. The last line times 1,000 prompt points on one
512x512 slice against one point (issue 18).

Run: ``python Testing/Benchmarks/bench_interactive.py --half heldout [--quick] [--backend classical]``
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
from scipy.stats import spearmanr

import devset
from growcut_peer import GrowCutPeer, ring_clicks
from SegAssistLib.core.planes import PlaneView
from SegAssistLib.core.prompts import SlicePrompt
from SegAssistLib.evaluation import simulated_user as su
from SegAssistLib.errors import PromptError
from SegAssistLib.evaluation.metrics import dice


def click_slices(view: PlaneView, gt: np.ndarray, quick: bool) -> list[int]:
    present = [n for n in range(view.n_slices) if view.slice(n, gt).any()]
    largest = su.largest_slice(view, gt)
    if quick:
        picks = {present[0], largest, present[-1]}
    else:
        picks = {present[int(round(q * (len(present) - 1)))] for q in (0, 0.25, 0.5, 0.75, 1)} | {largest}
    return sorted(picks)


def box_of(gt2d: np.ndarray) -> tuple[float, float, float, float]:
    """The slice's bounding box, half a pixel wider where the object is one pixel thin (no zero-size box)."""
    r0, c0, r1, c1 = su.box_from_mask(gt2d)
    if r1 == r0:
        r0, r1 = r0 - 0.5, r1 + 0.5
    if c1 == c0:
        c0, c1 = c0 - 0.5, c1 + 0.5
    h, w = gt2d.shape
    return max(r0, 0.0), max(c0, 0.0), min(r1, h - 1.0), min(c1, w - 1.0)


MEASURES = ("clicks", "box", "click3d", "box3d", "ring", "ring3d")


def ring_prompt(backend, view: PlaneView, gt2d: np.ndarray) -> SlicePrompt:
    """The centre click plus the background ring GrowCut's user paints (``growcut_peer``), given to a
    backend as negative clicks on the ring; the GrowCut peer paints the ring itself from a plain click."""
    click = list(su.first_click(gt2d))
    if isinstance(backend, GrowCutPeer):
        return SlicePrompt(points=[click], labels=[1])
    neg = ring_clicks(gt2d, view.pixel_spacing)
    return SlicePrompt(points=np.vstack([[click], neg]), labels=np.r_[1, np.zeros(len(neg), int)])


def keyframe_prompt(backend, view: PlaneView, gt2d: np.ndarray, kind: str) -> SlicePrompt:
    """The simulated user's prompt on one keyframe of a 3D protocol: the slice's bounding box (``box``), the
    centre click plus the background ring (``ring``), or the centre click alone (``click``)."""
    if kind == "box":
        return SlicePrompt(box=box_of(gt2d))
    if kind == "ring":
        return ring_prompt(backend, view, gt2d)
    return SlicePrompt(points=[list(su.first_click(gt2d))], labels=[1])


def run_structure(backend, view: PlaneView, gt: np.ndarray, slices: list[int], dims: int, rec: dict,
                  measures: tuple[str, ...] = MEASURES, via_engine: bool = False) -> None:
    """Prompt one structure with one backend; append to the lists in ``rec``.

    ``via_engine``: the 3D protocols run through :class:`SegmentationEngine` (keyframes, guards,
    fusion: what the CLI and the panel do) instead of the backend session's own ``propagate``.

    A backend that refuses clicks (LiteMedSAM: boxes only) gets no click measures (``n/a``), not a crash.
    """
    for n in slices:
        gt2d = np.asarray(view.slice(n, gt), bool)
        if "clicks" in measures and not refuses_clicks(backend):
            with backend.open_session(view) as session:
                pred = np.zeros_like(gt2d)
                dices = []
                for i in range(3):
                    if i == 0:
                        (r, c), label = su.first_click(gt2d), 1
                    else:
                        nxt = su.next_click(gt2d, pred)
                        if nxt is None:
                            break
                        (r, c), label = nxt
                    t0 = time.perf_counter()
                    res = session.add_prompt(n, SlicePrompt(points=[[r, c]], labels=[label]))
                    dt = time.perf_counter() - t0
                    rec["seconds"].append(dt)
                    if gt2d.shape[0] * gt2d.shape[1] >= 512 * 512:
                        rec["seconds512"].append(dt)
                    pred = res.mask
                    dices.append(dice(pred, gt2d))
                    if i == 0:
                        rec["pairs"].append((res.score, dices[-1]))
                rec["dice1"].append(dices[0])
                rec["dice3"].append(dices[min(2, len(dices) - 1)])
        if "box" in measures:
            with backend.open_session(view) as session:
                t0 = time.perf_counter()
                res = session.add_prompt(n, SlicePrompt(box=box_of(gt2d)))
                rec["seconds"].append(time.perf_counter() - t0)
                rec["box"].append(dice(res.mask, gt2d))
                rec["pairs"].append((res.score, rec["box"][-1]))
        if "ring" in measures and not refuses_clicks(backend):
            with backend.open_session(view) as session:
                res = session.add_prompt(n, ring_prompt(backend, view, gt2d))
                rec["ring"].append(dice(res.mask, gt2d))
    if dims != 3 or len(slices) < 2:
        return
    true_volume = max(int(gt.sum()), 1)
    for key, every, kind in (("d3_click", 3, "click"), ("d3_box", 5, "box"), ("d3_ring", 3, "ring")):
        if kind + "3d" not in measures or (kind != "box" and refuses_clicks(backend)):
            continue
        if via_engine or kind == "ring":
            rec[key].append(_engine_3d(backend, view, gt, every, kind, rec))
            rec["volratio" if kind != "ring" else "volring"].append(rec.pop("_last_volume") / true_volume)
            continue
        out = np.zeros(gt.shape, bool)
        with backend.open_session(view) as session:
            for n in su.keyframes(view, gt, every):
                gt2d = np.asarray(view.slice(n, gt), bool)
                session.add_prompt(n, keyframe_prompt(backend, view, gt2d, kind))
            for res in session.propagate("both"):
                view.write_slice(out, res.slice_index, res.mask)
                gt2d = np.asarray(view.slice(res.slice_index, gt), bool)
                if gt2d.any() or res.mask.any():
                    rec["pairs3d"].append((res.score, dice(res.mask, gt2d)))
        rec[key].append(dice(out, gt))
        rec["volratio"].append(out.sum() / true_volume)


def _engine_3d(backend, view: PlaneView, gt: np.ndarray, every: int, kind: str, rec: dict) -> float:
    """3D Dice of the engine's result from a click, a box or a click plus ring (``kind``) on every
    ``every``-th slice (no extrapolation, the engine's default); the result's volume goes to
    ``rec["_last_volume"]``; the Spearman correlation of the review queue's order with the slices' Dice
    within this segment goes to ``rec["queue"]``. The GrowCut peer has no engine path: it solves its seeds in
    one 3D GrowCut itself (its click prompts get the ring either way), as in the backend-path protocols."""
    if isinstance(backend, GrowCutPeer):
        with backend.open_session(view) as session:
            for n in su.keyframes(view, gt, every):
                gt2d = np.asarray(view.slice(n, gt), bool)
                # A plain click also gets the peer's ring: the peer paints it itself.
                session.add_prompt(n, keyframe_prompt(backend, view, gt2d, kind))
            out = np.zeros(gt.shape, bool)
            for res in session.propagate("both"):
                view.write_slice(out, res.slice_index, res.mask)
        rec["_last_volume"] = int(out.sum())
        return dice(out, gt)
    from SegAssistLib.engine import SegmentationEngine

    engine = SegmentationEngine(view.volume, backend)
    try:
        for n in su.keyframes(view, gt, every):
            gt2d = np.asarray(view.slice(n, gt), bool)
            engine.add_prompt("s", view.plane, n, keyframe_prompt(backend, view, gt2d, kind))
        result = engine.run("s")
    finally:
        engine.close()
    out = np.asarray(result.mask, bool)
    slice_dice = {}  # computed slices where the truth or the result has something
    for n in result.slice_info.get(view.plane, {}):
        gt2d = np.asarray(view.slice(n, gt), bool)
        pred2d = np.asarray(view.slice(n, out), bool)
        if gt2d.any() or pred2d.any():
            slice_dice[n] = dice(pred2d, gt2d)
    for n, score in result.confidence.get(view.plane, {}).items():
        if n in slice_dice:
            rec["pairs3d"].append((score, slice_dice[n]))
    ranked = [(-item.risk, slice_dice[item.slice_index]) for item in result.review_queue
              if item.plane == view.plane and item.slice_index in slice_dice]
    if len(ranked) >= 5 and len({r for r, _ in ranked}) > 1 and len({d for _, d in ranked}) > 1:
        rec["queue"].append(spearmanr([r for r, _ in ranked], [d for _, d in ranked])[0])
    rec["_last_volume"] = int(out.sum())
    return dice(out, gt)


def refuses_clicks(backend) -> bool:
    """True for a backend that takes no click without a box (LiteMedSAM), so its click measures are n/a."""
    check = getattr(backend, "check_prompt", None)
    if check is None:
        return False
    try:
        check(SlicePrompt(points=[[0.0, 0.0]], labels=[1]))
    except PromptError:
        return True
    return False


def make_backends(names: list[str], seed_options: list[str], method: str | None = None) -> dict:
    from SegAssistLib.backends.registry import available_backends, get_backend

    if names == ["all"]:
        names = available_backends() + ["slicer_growcut"]
    out = {}
    for name in names:
        if name == "slicer_growcut":
            out[name] = None  # built per structure (its background ring comes from the truth)
            continue
        opts = {}
        if name == "classical" and seed_options:
            from SegAssistLib.backends.classical.seeds import SeedOptions

            opts["seed_options"] = SeedOptions(**{k: float(v) for k, v in (o.split("=", 1) for o in seed_options)})
        if name == "classical" and method:
            opts["method"] = method
        try:
            out[name] = get_backend(name, **opts)
        except Exception as exc:  # noqa: BLE001 - a backend without weights here is reported, not fatal
            print(f"backend {name!r} not run: {exc}", file=sys.stderr)
    return out


def seeding_speed() -> str:
    """1,000 prompt points on a 512x512 slice (lung2) against one point: issue 18's target is < 2 s."""
    from SegAssistLib.backends.classical.backend import ClassicalBackend
    from SegAssistLib.io.volumes import read_volume

    d = devset.fetch_data.fetch("pyradiomics")
    image = read_volume(d / "lung2_image.nrrd")
    gt3 = read_volume(d / "lung2_label.nrrd").array > 0
    view = PlaneView(image, "axial")
    n = su.largest_slice(view, gt3)
    gt = np.asarray(view.slice(n, gt3), bool)
    rng = np.random.default_rng(0)
    inside, outside = np.argwhere(gt), np.argwhere(~gt)
    pts = np.concatenate([inside[rng.choice(len(inside), 500)], outside[rng.choice(len(outside), 500)]])
    many = SlicePrompt(points=pts.astype(float), labels=np.r_[np.ones(500), np.zeros(500)].astype(int))
    one = SlicePrompt(points=[list(su.first_click(gt))], labels=[1])
    times = {}
    for label, prompt in (("1 point", one), ("1000 points", many)):
        with ClassicalBackend().open_session(view) as session:
            t0 = time.perf_counter()
            session.add_prompt(n, prompt)
            times[label] = time.perf_counter() - t0
    return (f"classical, one interaction on lung2 {gt.shape[0]}x{gt.shape[1]}: 1 point {times['1 point']:.3f} s, "
            f"1000 points {times['1000 points']:.3f} s ({times['1000 points'] / times['1 point']:.1f}x one point)")


def _fmt(v: list[float]) -> str:
    return f"{np.mean(v):.3f}" if v else "n/a"


def _secs(v: list[float]) -> str:
    return f"{np.mean(v):.3f} / {np.max(v):.3f}" if v else "n/a"


def _rho(pairs) -> str:
    if len(pairs) < 3 or len({p[0] for p in pairs}) < 2:
        return "const"
    return f"{spearmanr([p[0] for p in pairs], [p[1] for p in pairs])[0]:.2f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", default="classical,slicer_growcut",
                    help="comma-separated registry names and/or slicer_growcut, or 'all'")
    ap.add_argument("--half", choices=("tuning", "heldout", "both"), default="heldout")
    ap.add_argument("--quick", action="store_true", help="3 prompted slices per structure instead of 5-6")
    ap.add_argument("--only", default="", help="comma-separated substrings of structure ids to run")
    ap.add_argument("--per-structure", action="store_true", help="print one row per structure too")
    ap.add_argument("--seed-option", action="append", default=[], metavar="NAME=VALUE")
    ap.add_argument("--method", default=None,
                    help="the classical backend's seeded method (watershed, random_walker, geodesic, slicer_growcut); "
                    "tune on --half tuning only")
    ap.add_argument("--measures", default=",".join(MEASURES),
                    help=f"comma-separated subset of {','.join(MEASURES)} (default: all); the rest print n/a")
    ap.add_argument("--via-engine", action="store_true",
                    help="3D protocols through SegmentationEngine (keyframes, guards, fusion) as the CLI and panel "
                    "run them, instead of the backend session's own propagate")
    args = ap.parse_args(argv)
    measures = tuple(m for m in args.measures.split(",") if m)
    if set(measures) - set(MEASURES):
        ap.error(f"--measures takes a subset of {','.join(MEASURES)}, not {sorted(set(measures) - set(MEASURES))}")

    backends = make_backends(args.backend.split(","), args.seed_option, args.method)
    halves = ["tuning", "heldout"] if args.half == "both" else [args.half]
    split = devset.read_split()
    print(f"development set {devset.SPLIT_PATH.name}; {'quick' if args.quick else 'full'}; measures "
          f"{','.join(measures)}; CPU cores: {os.cpu_count()}; load average {os.getloadavg()[0]:.2f}")
    for hname in halves:
        items = [s for s in devset.half(hname) if not args.only or any(o in s.id for o in args.only.split(","))]
        recs = {b: {k: [] for k in ("dice1", "dice3", "box", "ring", "d3_click", "d3_box", "d3_ring", "volratio", "volring", "queue", "seconds",
                                    "seconds512", "pairs", "pairs3d", "vis3d")} for b in backends}
        for s in items:
            image, gt = s.load()
            view = PlaneView(image, "axial")
            slices = click_slices(view, gt, args.quick)
            visible = split["structures"][s.id]["contrast"] >= split["visible_contrast"]
            for bname, backend in backends.items():
                rec = recs[bname]
                before = {k: len(v) for k, v in rec.items()}
                run_structure(backend or GrowCutPeer(gt), view, gt, slices, s.dims, rec, measures, args.via_engine)
                if visible and len(rec["d3_click"]) > before["d3_click"]:
                    rec["vis3d"].append(rec["d3_click"][-1])
                if args.per_structure:
                    new = {k: v[before[k]:] for k, v in rec.items()}
                    print(f"  {hname} {s.id:40s} {bname:15s} d1 {_fmt(new['dice1'])} d3 {_fmt(new['dice3'])} "
                          f"box {_fmt(new['box'])} 3Dc {_fmt(new['d3_click'])} 3Db {_fmt(new['d3_box'])} "
                          f"ring {_fmt(new['ring'])} 3Dr {_fmt(new['d3_ring'])} vol {max(new['volratio'], default=0):.2f} "
                          f"volr {max(new['volring'], default=0):.2f}", flush=True)
        print(f"\n### {hname} half: {len(items)} structures "
              f"({sum(1 for s in items if split['structures'][s.id]['contrast'] >= split['visible_contrast'])} "
              f"with a visible boundary)\n")
        print("| backend | Dice@1 | Dice@3 | box | click + ring | 3D click/3 | 3D click/3, visible | 3D box/5 | "
              "3D click+ring/3 | max vol | s/int mean / max | max s/int 512x512 | Spearman(score, Dice) 2D / 3D |")
        print("|" + "---|" * 13)
        for bname, r in recs.items():
            t512 = f"{max(r['seconds512']):.3f}" if r["seconds512"] else "n/a"
            print(f"| {bname} | {_fmt(r['dice1'])} | {_fmt(r['dice3'])} | {_fmt(r['box'])} | {_fmt(r['ring'])} | "
                  f"{_fmt(r['d3_click'])} | {_fmt(r['vis3d'])} | {_fmt(r['d3_box'])} | {_fmt(r['d3_ring'])} | {max(r['volratio'], default=0):.2f} | "
                  f"{_secs(r['seconds'])} | {t512} | "
                  f"{_rho(r['pairs'])} / {_rho(r['pairs3d'])} |", flush=True)
        if any(r["queue"] for r in recs.values()):
            print("\nreview queue (engine): Spearman(-risk, slice Dice) within one segment, mean over segments: " + ", ".join(
                f"{b} {np.mean(r['queue']):.3f} ({len(r['queue'])} segments)" for b, r in recs.items() if r["queue"]), flush=True)
        if "ring3d" in measures:
            print("\nlargest volume ratio, 3D click+ring/3: " + ", ".join(
                f"{b} {max(r['volring'], default=0):.2f}" for b, r in recs.items()), flush=True)
    if "classical" in backends and "clicks" in measures:
        print("\n" + seeding_speed())
    return 0


if __name__ == "__main__":
    sys.exit(main())
