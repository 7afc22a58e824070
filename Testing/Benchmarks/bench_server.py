"""The SegAssist server against the same work in-process, on a 512x512x300 CT built from real data.

The CT is pyradiomics lung2 (512x512x61, 5 mm slices) resampled to 300 slices (1.02 mm, linear; its
lesion label nearest-neighbour). Reported:

* a click's round trip through ``segassist serve`` on 127.0.0.1 (classical backend, RemoteEngine) against
  the same click on an in-process ``SegmentationEngine``, as a ratio (target <= 1.5), with the split between
  server time (``Server-Timing``: routing, compute, encoding) and client time (HTTP, decoding, applying);
* bytes on the wire per click against the volume's bytes (target < 1 %), and the one-time upload;
* 8 concurrent sessions (threads, one distinct 64-slice part of the CT each, so 8 uploads): every click's
  mask must equal the in-process answer for that slice; the server's resident memory before, at peak and
  after the sessions expire (bounded: 8 sessions x 3 clicks, ``--idle`` s lease, 120 s wait).

The server runs as its own process (``segassist serve`` on 127.0.0.1), so its memory is measured alone.

Run: ``python Testing/Benchmarks/bench_server.py [--quick] [--backend classical]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time

import numpy as np
from benchlib import DATA

from SegAssistLib.core.volume import Volume, resample_to_spacing
from SegAssistLib.engine import SegmentationEngine
from SegAssistLib.io.volumes import read_volume
from SegAssistLib.server.client import RemoteEngine
from SegAssistLib.server.client import wait_until_up


class ServerProcess:
    """``segassist serve`` on a free port of 127.0.0.1 in a child process; ``rss_mb()`` and ``info()``."""

    def __init__(self, backend: str, idle: float):
        import json
        import socket
        import subprocess
        import urllib.request

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen([sys.executable, "-m", "SegAssistLib.cli.main", "serve", "--port", str(port),
                                      "--backend", backend, "--idle", str(idle), "--max-sessions", "16"],
                                     stderr=subprocess.DEVNULL)
        wait_until_up(self.url, 60)
        self._get = lambda: json.loads(urllib.request.urlopen(self.url + "/capabilities", timeout=30).read())

    def info(self) -> dict:
        return self._get()

    def rss_mb(self) -> float:
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


def build_ct() -> tuple[Volume, np.ndarray]:
    image = read_volume(DATA / "pyradiomics" / "lung2_image.nrrd")
    label = read_volume(DATA / "pyradiomics" / "lung2_label.nrrd")
    sx, sy, sz = image.spacing
    spacing = (sx, sy, sz * image.shape[0] / 300)
    ct = resample_to_spacing(image, spacing)
    gt = resample_to_spacing(label, spacing, "nearest").array > 0
    assert ct.shape == (300, 512, 512), ct.shape
    return ct, gt


def clicks_on(gt: np.ndarray, n: int) -> list[tuple[int, int, int]]:
    """(i, j, k) at the lesion's centre on ``n`` slices spread over it."""
    ks = np.flatnonzero(gt.any(axis=(1, 2)))
    out = []
    for k in np.linspace(ks[0] + 1, ks[-1] - 1, n).round().astype(int):
        j, i = np.argwhere(gt[k]).mean(axis=0).round().astype(int)
        out.append((int(i), int(j), int(k)))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer clicks (a smoke run)")
    ap.add_argument("--backend", default="classical")
    ap.add_argument("--clicks", type=int, default=None, help="clicks per measurement (default 9, quick 5)")
    ap.add_argument("--idle", type=float, default=20.0, help="the server's session lease (s)")
    args = ap.parse_args()
    n_clicks = args.clicks or (5 if args.quick else 9)

    t = time.perf_counter()
    ct, gt = build_ct()
    print(f"CT: {ct.shape} {ct.array.dtype}, {ct.array.nbytes / 1e6:.1f} MB (built in {time.perf_counter() - t:.1f} s)")
    clicks = clicks_on(gt, n_clicks)
    ras = [ct.ijk_to_ras_points(np.array([p], float)) for p in clicks]

    # ---- one session: click round trip vs in-process, interleaved (shared cores drift) -----------
    srv = ServerProcess(args.backend, args.idle)
    try:
        local = SegmentationEngine(ct, args.backend)
        local.add_points("lesion", ras[0])  # warm-up (first session opening)
        t = time.perf_counter()
        remote = RemoteEngine(srv.url, ct)
        t_upload = time.perf_counter() - t
        upload_bytes = remote.stats["bytes_sent"]
        remote.segment("lesion", points=ras[0])  # warm-up
        t_local, t_remote, t_server, wire_bytes, wrong = [], [], [], [], 0
        view = local.view("axial")
        for r in ras:
            t = time.perf_counter()
            n, expected = local.add_points("lesion", r)
            t_local.append(time.perf_counter() - t)
            t = time.perf_counter()
            head = remote.segment("lesion", points=r)
            t_remote.append(time.perf_counter() - t)
            t_server.append(remote.last_server_ms / 1000)
            wire_bytes.append(remote.last_bytes)
            wrong += head["slice"] != n or not np.array_equal(view.slice(n, remote.labels("lesion")), expected)
        remote.close()
        med = statistics.median
        ratio = med(t_remote) / med(t_local)
        paired = med([a / b for a, b in zip(t_remote, t_local)])
        print(f"\nclick ({args.backend}, {len(clicks)} clicks, medians): in-process {1000 * med(t_local):.1f} ms, "
              f"server round trip {1000 * med(t_remote):.1f} ms -> ratio {ratio:.2f}, median of paired ratios "
              f"{paired:.2f} (target <= 1.5)")
        print(f"  split: server {1000 * med(t_server):.1f} ms (routing + compute + encoding), client + HTTP "
              f"{1000 * (med(t_remote) - med(t_server)):.1f} ms")
        print(f"  bytes per click: median {med(wire_bytes):.0f}, max {max(wire_bytes)} = "
              f"{100 * max(wire_bytes) / ct.array.nbytes:.4f} % of the volume's {ct.array.nbytes} bytes (target < 1 %)")
        print(f"  upload once: {upload_bytes / 1e6:.1f} MB compressed ({100 * upload_bytes / ct.array.nbytes:.0f} %), "
              f"{t_upload:.1f} s; wrong answers vs in-process: {wrong}")
        local.close()
        del local

        def concurrent_round(round_no: int) -> int:
            parts = [(s, s + 64) for s in np.linspace(0, 300 - 64, 8).round().astype(int)]
            results: dict[int, tuple[int, int, float]] = {}
            peak = [srv.rss_mb()]
            uploads0 = srv.info()["uploads"]

            def worker(w: int) -> None:
                k0, k1 = parts[w]
                sub = Volume(np.ascontiguousarray(ct.array[k0:k1]), ct.ijk_to_ras @ np.array(
                    [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, k0], [0, 0, 0, 1]], float))
                sub_gt = gt[k0:k1]
                ref = SegmentationEngine(sub, args.backend)
                bad, done = 0, 0
                t = time.perf_counter()
                r = RemoteEngine(srv.url, sub)
                ks = np.flatnonzero(sub_gt.any(axis=(1, 2)))
                targets = ks if len(ks) else [sub.shape[0] // 2]
                for c in range(2 if args.quick else 3):
                    k = int(targets[(w + c) % len(targets)])
                    pts = np.argwhere(sub_gt[k])
                    j, i = pts.mean(axis=0).round().astype(int) if len(pts) else (256, 256)
                    head = r.segment(f"s{c}", points=[[i, j, k]], space="ijk")
                    _, m = ref.add_points(f"s{c}", sub.ijk_to_ras_points(np.array([[i, j, k]], float)), slice_index=k)
                    bad += not np.array_equal(ref.view("axial").slice(head["slice"], r.labels(f"s{c}")), m)
                    done += 1
                    peak.append(srv.rss_mb())
                r.disconnect()  # the session is left to expire rather than closed
                ref.close()
                results[w] = (done, bad, time.perf_counter() - t)

            t = time.perf_counter()
            threads = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
            for th in threads:
                th.start()
            for th in threads:
                th.join(timeout=300)
            t_conc = time.perf_counter() - t
            done = sum(v[0] for v in results.values())
            bad = sum(v[1] for v in results.values())
            print(f"\nround {round_no}: 8 concurrent sessions: {len(results)}/8 finished, {done} clicks in {t_conc:.1f} s, "
                  f"wrong answers {bad}, uploads {srv.info()['uploads'] - uploads0}")
            held = srv.info()
            t = time.perf_counter()
            while srv.info()["sessions"] and time.perf_counter() - t < 120:
                time.sleep(0.5)
            after = srv.rss_mb()
            left = srv.info()
            print(f"server memory (RSS of the server process): baseline {baseline_mb:.0f} MB, peak {max(peak):.0f} MB, "
                  f"{held['sessions']} sessions / {held['volumes_held']} volumes held after the clicks; after expiry "
                  f"({time.perf_counter() - t:.1f} s, lease {args.idle:g} s) {after:.0f} MB -> {after - baseline_mb:+.0f} MB "
                  f"vs baseline; sessions left {left['sessions']}, volumes held {left['volumes_held']}, expired {left['expired']}")
            return bad

        # ---- 8 concurrent sessions, twice (a second round shows whether memory left after expiry grows) ----
        bad_total = 0
        baseline_mb = srv.rss_mb()
        for round_no in (1, 2):
            bad_total += concurrent_round(round_no)

    finally:
        srv.stop()
    return 0 if (wrong == 0 and bad_total == 0) else 1


if __name__ == "__main__":
    sys.exit(main())
