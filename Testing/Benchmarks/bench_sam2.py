"""SAM 2 backend vs sam2's own JPEG-folder route, on the same real CT volume, in one run.

For 32, 128 and 300 axial slices (lung2, 512 x 512, its 61 slices mirrored to the length) it measures, for
both routes with identical (random) weights, precision and image size:

- start: opening the session (ours: nothing to load; sam2: ``init_state`` reading every JPEG into floats);
- click new: the first click on a slice that has not been embedded;
- click again: a second click on the same slice (decoder only);
- s/slice: propagation forwards and backwards through the whole volume (or ``--max-propagate`` slices each
  way, for slow machines), per slice;
- peak MB: peak memory above the process's level after building the model (RSS sampled every 10 ms on
  CPU; ``torch.cuda.max_memory_allocated`` on CUDA), and the same minus the masks both routes keep
  (one bool slice per slice).

Each (route, size) runs in a fresh subprocess so peaks do not leak between runs. Ratios are ours / sam2
(≤ 1.0 is the target). sam2's JPEG export is done before timing and not counted; both routes run with
``fill_hole_area=0`` (no ``_C`` here, so sam2 would skip hole filling anyway) and without tqdm bars.

    python Testing/Benchmarks/bench_sam2.py                     # CPU: image size 256
    python Testing/Benchmarks/bench_sam2.py --image-size 1024   # GPU / real model size
    python Testing/Benchmarks/bench_sam2.py --model large --sizes 300

It also reports how close our propagated masks are to sam2's (Dice; sam2's frames are lossy JPEGs). On a
GPU both routes first run one whole session on 4 slices, so CUDA's one-time kernel loading is not timed.
Results measured on an H200 are kept in docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from benchlib import REPO, DATA

DATA = DATA
MASK_DIR = Path(os.environ.get("SEGASSIST_BENCH_MASKS", tempfile.gettempdir()))


def read_nrrd(path: Path):
    """A NRRD volume through SegAssist's reader, or through pynrrd where SimpleITK is not installed.

    The fallback exists for GPU machines whose Python has torch but no SimpleITK wheel; it handles the plain
    3D scalar NRRDs used here (space directions + origin in LPS) and nothing more.
    """
    try:
        import SimpleITK  # noqa: F401
    except ImportError:
        import nrrd

        from SegAssistLib.core.volume import LPS_TO_RAS, Volume

        data, header = nrrd.read(str(path), index_order="C")
        assert header["space"] == "left-posterior-superior", header["space"]
        matrix = np.eye(4)
        matrix[:3, :3] = np.asarray(header["space directions"], float).T
        matrix[:3, 3] = np.asarray(header["space origin"], float)
        return Volume(np.ascontiguousarray(data), LPS_TO_RAS @ matrix, {})
    from SegAssistLib.io.volumes import read_volume

    return read_volume(path)


def make_volume(n_slices: int):
    """lung2 with its slices mirrored back and forth to ``n_slices`` (same geometry, real CT content)."""
    from SegAssistLib.core.volume import Volume

    image = read_nrrd(DATA / "pyradiomics" / "lung2_image.nrrd")
    a = image.array
    reps = int(np.ceil(n_slices / (2 * len(a)))) + 1
    tiled = np.concatenate([a, a[::-1]] * reps)[:n_slices]
    label = read_nrrd(DATA / "pyradiomics" / "lung2_label.nrrd").array
    k, j, i = np.nonzero(label)
    return Volume(np.ascontiguousarray(tiled), image.ijk_to_ras.copy(), dict(image.metadata)), (int(j.mean()), int(i.mean()))


class PeakMemory:
    """Peak memory above a baseline: CUDA allocator stats on a GPU, sampled RSS otherwise."""

    def __init__(self, device: str):
        import torch

        self.torch, self.cuda = torch, device.startswith("cuda")
        self.peak = 0
        self._stop = threading.Event()

    @staticmethod
    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def __enter__(self):
        if self.cuda:
            self.torch.cuda.synchronize()
            self.base = self.torch.cuda.memory_allocated()
            self.torch.cuda.reset_peak_memory_stats()
        else:
            self.base = self.peak = self.rss()

            def sample():
                while not self._stop.wait(0.01):
                    self.peak = max(self.peak, self.rss())

            self.thread = threading.Thread(target=sample, daemon=True)
            self.thread.start()
        return self

    def __exit__(self, *exc):
        if self.cuda:
            self.torch.cuda.synchronize()
            self.peak = self.torch.cuda.max_memory_allocated()
        else:
            self._stop.set()
            self.thread.join()
            self.peak = max(self.peak, self.rss())

    @property
    def mb(self) -> float:
        return (self.peak - self.base) / 2**20


def worker(route: str, n: int, image_size: int, precision: str, device: str, max_propagate: int | None,
           model_name: str = "tiny") -> dict:
    import torch

    from SegAssistLib.backends.sam2.quiet import no_sam2_progress_bars
    from SegAssistLib.backends.sam2.backend import Sam2Backend
    from SegAssistLib.core.planes import PlaneView
    from SegAssistLib.core.prompts import SlicePrompt
    from SegAssistLib.core.windowing import default_window

    torch.manual_seed(0)
    volume, (jc, ic) = make_volume(n)
    view = PlaneView(volume, "axial")
    mid = n // 2
    row, col = view.voxel_to_pixel(mid, jc, ic)[1:]
    # No early stop: sam2's own loop propagates through every slice, so ours must do the same work.
    backend = Sam2Backend(model_name, random_weights=True, image_size=image_size, precision=precision, device=device,
                          stop_after=10**9)
    # The intensity window is computed once, outside the measurements, and shared by both routes.
    window = default_window(volume.array, volume.metadata.get("modality"))
    backend.window = window
    if route == "sam2":
        from sam2.build_sam import build_sam2_video_predictor

        from SegAssistLib.backends.sam2.checkpoints import get_model
        from SegAssistLib.backends.sam2.backend import (
            _sam2_hydra,
            choose_device,
            choose_precision,
        )

        # Same seed and config as the backend's model below: the same random weights, sam2's own class.
        backend.device = choose_device(device)
        backend.autocast_dtype = choose_precision(precision, backend.device)
        with _sam2_hydra():
            model = build_sam2_video_predictor(get_model(model_name).config, None, device=backend.device,
                                               hydra_overrides_extra=[f"++model.image_size={image_size}"])
        model.add_all_frames_to_correct_as_cond = True
    else:
        model = backend.predictor
    model.fill_hole_area = 0
    plain = model

    def run(view: PlaneView, mid: int, row: int, col: int, limit: int | None) -> dict:
        """One user session on ``view``: open, click, refine, propagate both ways; every mask brought to the CPU."""
        masks: dict[int, np.ndarray] = {}
        if route == "sam2":
            from PIL import Image

            tmp = tempfile.TemporaryDirectory()
            t = time.perf_counter()
            for k in range(view.n_slices):
                Image.fromarray(window.to_uint8(view.model_slice(k))).convert("RGB").save(
                    f"{tmp.name}/{k:05d}.jpg", quality=95)
            export_s = time.perf_counter() - t
            mr, mc = view.pixel_to_model(np.array([row]), np.array([col]))
            with PeakMemory(backend.device) as mem, backend.autocast(), no_sam2_progress_bars():
                t = time.perf_counter()
                state = plain.init_state(tmp.name)
                start_s = time.perf_counter() - t
                t = time.perf_counter()
                _, _, m = plain.add_new_points_or_box(state, mid, 1, points=[[mc[0], mr[0]]], labels=[1])
                view.mask_from_model(m[0, 0].float().cpu().numpy(), threshold=0.0)
                click_new = time.perf_counter() - t
                t = time.perf_counter()
                _, _, m = plain.add_new_points_or_box(state, mid, 1, points=[[mc[0] + 5, mr[0] + 5]], labels=[0],
                                                      clear_old_points=False)
                view.mask_from_model(m[0, 0].float().cpu().numpy(), threshold=0.0)
                click_again = time.perf_counter() - t
                t = time.perf_counter()
                for reverse in (False, True):
                    for frame, _, m in plain.propagate_in_video(state, max_frame_num_to_track=limit, reverse=reverse):
                        masks[frame] = view.mask_from_model(m[0, 0].float().cpu().numpy(), threshold=0.0)
                prop = time.perf_counter() - t
            tmp.cleanup()
        else:
            export_s = 0.0
            with PeakMemory(backend.device) as mem:
                t = time.perf_counter()
                session = backend.open_session(view)
                start_s = time.perf_counter() - t
                t = time.perf_counter()
                session.add_prompt(mid, SlicePrompt(points=[[row, col]], labels=[1]))
                click_new = time.perf_counter() - t
                t = time.perf_counter()
                session.add_prompt(mid, SlicePrompt(points=[[row + 5, col + 5]], labels=[0]))
                click_again = time.perf_counter() - t
                t = time.perf_counter()
                for r in session.propagate(max_slices=limit):
                    masks[r.slice_index] = r.mask
                prop = time.perf_counter() - t
                session.close()
        return {"start_s": start_s, "export_s": export_s, "click_new_s": click_new, "click_again_s": click_again,
                "prop_s": prop, "peak_mb": mem.mb, "masks": masks}

    # Warm the process identically for both routes, outside the measurements. On CUDA that is one whole session
    # on a 4-slice volume (kernels load on first use, which would otherwise land in the first click); on the CPU
    # one image encoding only, so the RSS-based peak still sees the session's own allocations.
    with backend.autocast(), torch.inference_mode():
        plain.forward_image(torch.zeros(1, 3, image_size, image_size, device=backend.device))
    if str(backend.device).startswith("cuda"):
        warm_volume, _ = make_volume(4)
        run(PlaneView(warm_volume, "axial"), 2, row, col, None)
    result = run(view, mid, row, col, max_propagate)
    masks = result.pop("masks")
    prop = result.pop("prop_s")
    expected = n if max_propagate is None else len(range(max(0, mid - max_propagate), min(n, mid + max_propagate + 1)))
    assert len(masks) == expected, (route, len(masks), expected)
    mask_mb = sum(m.nbytes for m in masks.values()) / 2**20
    # The masks themselves go to a file so the parent can check that both routes gave the same result.
    np.savez_compressed(MASK_DIR / f"{route}_{n}.npz", slices=np.array(sorted(masks)),
                        masks=np.stack([masks[k] for k in sorted(masks)]))
    return {"route": route, "n": n, **result, "s_per_slice": prop / len(masks), "propagated": len(masks),
            "mask_mb": mask_mb, "device": backend.device, "precision": str(backend.autocast_dtype or "float32")}


def compare_masks(folder: Path, n: int) -> str:
    """How far our propagated masks are from sam2's own for the same run: identical slices and voxel Dice."""
    ours, theirs = np.load(folder / f"ours_{n}.npz"), np.load(folder / f"sam2_{n}.npz")
    if not np.array_equal(ours["slices"], theirs["slices"]):
        return "different slices propagated"
    a, b = ours["masks"], theirs["masks"]
    same = int(sum(np.array_equal(x, y) for x, y in zip(a, b)))
    total = int(a.sum()) + int(b.sum())
    dice = 2 * int(np.logical_and(a, b).sum()) / total if total else 1.0
    return f"{same}/{len(a)} slices identical, Dice {dice:.4f}, {int((a != b).sum())} voxels differ of {int(a.sum())}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="32,128,300", help="slice counts (comma separated)")
    parser.add_argument("--model", default="tiny", help="SAM 2.1 model: tiny, small, base_plus, large (random weights)")
    parser.add_argument("--image-size", type=int, default=None, help="model input size (default 1024 on GPU, 256 on CPU)")
    parser.add_argument("--precision", default="auto", help="auto, fp32, bf16, fp16 (same for both routes)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--max-propagate", type=int, default=None,
                        help="propagate at most this many slices each way from the click (default: the whole volume)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs per route and size, alternating which route goes first; timings keep the fastest")
    parser.add_argument("--worker", nargs=2, metavar=("ROUTE", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.image_size is None:
        import torch

        args.image_size = 1024 if torch.cuda.is_available() else 256
    if args.worker:
        print(json.dumps(worker(args.worker[0], int(args.worker[1]), args.image_size, args.precision, args.device,
                                args.max_propagate, args.model)))
        return 0
    if not (DATA / "pyradiomics" / "lung2_image.nrrd").exists():
        print(f"real data not found under {DATA}", file=sys.stderr)
        return 1
    rows = []
    mask_dir = tempfile.TemporaryDirectory()
    os.environ["SEGASSIST_BENCH_MASKS"] = mask_dir.name
    for n in [int(s) for s in args.sizes.split(",")]:
        runs: dict[str, list[dict]] = {"ours": [], "sam2": []}
        for rep in range(args.repeat):
            for route in (("ours", "sam2") if rep % 2 == 0 else ("sam2", "ours")):
                cmd = [sys.executable, __file__, "--worker", route, str(n), "--image-size", str(args.image_size),
                       "--precision", args.precision, "--device", args.device, "--model", args.model]
                if args.max_propagate is not None:
                    cmd += ["--max-propagate", str(args.max_propagate)]
                out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
                if out.returncode:
                    print(out.stderr[-3000:], file=sys.stderr)
                    return 1
                runs[route].append(json.loads(out.stdout.strip().splitlines()[-1]))
        # Timings: the fastest of the repeats (least disturbed by other load); memory: the largest peak.
        pair = {}
        for route, results in runs.items():
            best = dict(results[0])
            for key in ("start_s", "click_new_s", "click_again_s", "s_per_slice", "export_s"):
                best[key] = min(r[key] for r in results)
            for key in ("peak_mb", "mask_mb"):
                best[key] = max(r[key] for r in results)
            pair[route] = best
        pair["agreement"] = compare_masks(Path(mask_dir.name), n)
        rows.append(pair)
        print(f"done {n} slices", file=sys.stderr, flush=True)
    d = rows[0]["ours"]
    print(f"\nSAM 2.1 {args.model}, random weights, image size {args.image_size}, device {d['device']}, autocast {d['precision']};"
          f" lung2 axial 512x512 mirrored to N slices; propagated slices per run: "
          f"{', '.join(str(p['ours']['propagated']) for p in rows)}; best of {args.repeat} run(s) each; "
          "ratio = ours / sam2 JPEG route\n")
    head = ("| N | metric | ours | sam2 (JPEG folder) | ratio |\n|---|---|---|---|---|")
    print(head)
    for pair in rows:
        o, s = pair["ours"], pair["sam2"]
        n = o["n"]
        for key, label, fmt in (("start_s", "session start (s)", "{:.3f}"), ("click_new_s", "click, new slice (s)", "{:.3f}"),
                                ("click_again_s", "click, embedded slice (s)", "{:.3f}"),
                                ("s_per_slice", "propagation (s/slice)", "{:.3f}"), ("peak_mb", "peak memory (MB)", "{:.0f}")):
            ratio = o[key] / s[key] if s[key] > 0 else float("nan")
            print(f"| {n} | {label} | {fmt.format(o[key])} | {fmt.format(s[key])} | {ratio:.2f} |")
        # What a user waits for: open the volume, click twice, propagate through it (sam2's JPEG export excluded).
        ot, st = (r["start_s"] + r["click_new_s"] + r["click_again_s"] + r["s_per_slice"] * r["propagated"] for r in (o, s))
        print(f"| {n} | whole session: start + 2 clicks + propagation (s) | {ot:.2f} | {st:.2f} | {ot / st:.2f} |")
        om, sm = o["peak_mb"] - o["mask_mb"], s["peak_mb"] - s["mask_mb"]
        print(f"| {n} | peak minus kept masks (MB) | {om:.0f} | {sm:.0f} | {om / sm if sm > 0 else float('nan'):.2f} |")
        print(f"| {n} | (sam2 JPEG export, not timed above) | | {s['export_s']:.2f} s | |")
    print("\nSame masks as sam2 (last run of each route; JPEG frames are lossy, ours are exact, so a few pixels "
          "may differ at the random model's noisy edges):")
    for pair in rows:
        print(f"  N={pair['ours']['n']}: {pair['agreement']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
