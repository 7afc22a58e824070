"""``RemoteEngine``: the torch-free client of a SegAssist server (numpy and the standard library only).

It uploads a volume once per session (skipped when the server already holds one with the same content
hash), sends prompts as small JSON, and applies each reply (the changed bounding box) to its local copy of
the labels, so ``labels(segment)`` is always the full mask. Every operation is journaled; when the server
answers 410 (the session expired while the user was away) the client opens a new session, uploads again,
replays the journal (re-seeding the server's engine) and retries, so the user sees no error.

Timing and traffic are counted in ``stats`` (bytes sent/received, server time from ``Server-Timing``).
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.parse
from typing import Any, Sequence

import numpy as np

from SegAssistLib.errors import RemoteError, SegAssistError
from SegAssistLib.server import wire

ENVELOPE = "application/x-segassist-envelope"


class RemoteKeyframe:
    """What :meth:`RemoteEngine.keyframes` lists (the fields the Slicer Logic reads of a local Keyframe)."""

    def __init__(self, plane: str, slice_index: int, locked: bool):
        self.plane, self.slice_index, self.locked = plane, int(slice_index), bool(locked)


class EngineAdapter:
    """:class:`RemoteEngine` with the methods of the local ``SegmentationEngine`` the Slicer Logic calls
    (``view``, ``add_points``, ``add_box``, ``set_keyframe_mask``, ``keyframes``, ``run``, ``close``), so the
    Logic can hold either (``extrapolate`` is sent with each propagation). Not available remotely: the disagreement map (zeros) and cancelling a running
    propagation (``progress`` is called once, at the end)."""

    def view(self, plane: str):
        from SegAssistLib.core.planes import PlaneView
        from SegAssistLib.core.volume import Volume

        if plane not in self._views:
            self._views[plane] = PlaneView(Volume(self.array, self.ijk_to_ras), plane)
        return self._views[plane]

    def add_points(self, segment_id: str, points_ras, labels=None, plane: str = "axial", slice_index: int | None = None):
        head = self.segment(segment_id, points=np.asarray(points_ras, float).reshape(-1, 3), labels=labels,
                            plane=plane, slice_index=slice_index)
        return head["slice"], np.array(self.view(plane).slice(head["slice"], self.labels(segment_id)))

    def add_box(self, segment_id: str, corner1_ras, corner2_ras, plane: str = "axial", slice_index: int | None = None):
        head = self.segment(segment_id, box=[corner1_ras, corner2_ras], plane=plane, slice_index=slice_index)
        return head["slice"], np.array(self.view(plane).slice(head["slice"], self.labels(segment_id)))

    def keyframes(self, segment_id: str, plane: str | None = None) -> list[RemoteKeyframe]:
        return [RemoteKeyframe(*k) for k in self._keyframes.get(segment_id, []) if plane in (None, k[0])]

    def run(self, segment_id: str, progress=None, should_stop=None) -> "RemoteResult":
        head = self.propagate(segment_id, extrapolate=self.extrapolate)
        if progress is not None:
            progress(1, 1)
        return RemoteResult(self.labels(segment_id).copy(), head)


class RemoteResult:
    """What :meth:`EngineAdapter.run` returns: the fields of a local ``EngineResult`` the Slicer Logic reads
    (``mask``, ``confidence``, ``review_queue``, ``probability``); ``disagreement`` is zeros remotely."""

    def __init__(self, mask: np.ndarray, head: dict):
        from SegAssistLib.engine.result import ReviewItem

        self.mask = mask
        self.confidence = {p: {int(n): v for n, v in c.items()} for p, c in head.get("confidence", {}).items()}
        self.review_queue = [ReviewItem(r["plane"], int(r["slice"]), r["risk"], r["confidence"], list(r["reasons"]))
                             for r in head.get("review", [])]

    @property
    def probability(self) -> np.ndarray:
        return self.mask.astype(np.float32)

    @property
    def disagreement(self) -> np.ndarray:
        return np.zeros(self.mask.shape, np.float32)


class RemoteEngine(EngineAdapter):
    """One volume on a SegAssist server, with the operations of the local engine.

    ``volume`` is a :class:`~SegAssistLib.core.volume.Volume` or anything with ``array`` (k, j, i) and
    ``ijk_to_ras`` (4x4). Points and boxes are RAS mm unless ``space="ijk"`` ((i, j, k) voxel indices).
    """

    def __init__(self, url: str, volume: Any, api_key: str | None = None, timeout: float = 300.0):
        parts = urllib.parse.urlsplit(url if "://" in url else "http://" + url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SegAssistError(f"Server URL {url!r} must look like http://HOST:PORT.")
        self._conn_args = (parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
        self._https = parts.scheme == "https"
        self._prefix = parts.path.rstrip("/")
        self._key = api_key
        self._timeout = timeout
        self._conn: http.client.HTTPConnection | None = None
        self.array = np.ascontiguousarray(volume.array)
        self.ijk_to_ras = np.asarray(volume.ijk_to_ras, dtype=float)
        self.volume_hash = wire.content_hash(self.array, self.ijk_to_ras)
        self._labels: dict[str, np.ndarray] = {}
        self._keyframes: dict[str, list] = {}
        self._views: dict[str, Any] = {}
        self._journal: list[tuple[str, Any]] = []
        self.extrapolate = False
        self.session: str | None = None
        self.stats = {"bytes_sent": 0, "bytes_received": 0, "uploads": 0, "server_ms": 0.0, "requests": 0,
                      "reseeds": 0}
        self.last_server_ms = 0.0
        self.last_bytes = 0
        self._open()

    # ---- transport ------------------------------------------------------------------------------
    def _request(self, method: str, path: str, body: bytes | None = None, content_type: str = "application/json"):
        headers = {"Content-Type": content_type}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        for attempt in range(2):
            if self._conn is None:
                cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
                self._conn = cls(*self._conn_args, timeout=self._timeout)
            try:
                self._conn.request(method, self._prefix + path, body=body, headers=headers)
                resp = self._conn.getresponse()
                data = resp.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self._conn.close()
                self._conn = None  # a kept-alive connection the server closed: reconnect once
                if attempt:
                    raise
            except OSError as exc:
                self._conn = None
                raise SegAssistError(f"Cannot reach the SegAssist server at {self._conn_args[0]}:"
                                     f"{self._conn_args[1]}: {exc}. Is `segassist serve` running?") from None
        timing = resp.getheader("Server-Timing") or ""
        server_ms = float(timing.partition("dur=")[2] or 0.0)
        sent = len(body or b"")
        self.stats["bytes_sent"] += sent
        self.stats["bytes_received"] += len(data)
        self.stats["server_ms"] += server_ms
        self.stats["requests"] += 1
        self.last_server_ms, self.last_bytes = server_ms, sent + len(data)
        if resp.status >= 400:
            try:
                message = json.loads(data)["error"]
            except (ValueError, KeyError, TypeError):
                message = data[:300].decode(errors="replace")
            raise RemoteError(resp.status, message)
        return resp.getheader("Content-Type") or "", data

    def _json(self, method: str, path: str, payload: dict | None = None) -> dict:
        _, data = self._request(method, path, json.dumps(payload or {}).encode())
        return json.loads(data)

    # ---- session --------------------------------------------------------------------------------
    def _open(self) -> None:
        env = None
        if not self._json("GET", f"/volumes/{self.volume_hash}").get("held"):
            # Compress before opening the session, so a short lease does not run out while we do.
            env = wire.pack(self.array, {"ijk_to_ras": self.ijk_to_ras.tolist(), "hash": self.volume_hash})
        for attempt in range(2):
            reply = self._json("POST", "/sessions", {"volume_hash": self.volume_hash})
            self.session = reply["session"]
            self.idle_s = float(reply.get("idle_s", 0))
            if not reply["needs_upload"]:
                return
            if env is None:
                env = wire.pack(self.array, {"ijk_to_ras": self.ijk_to_ras.tolist(), "hash": self.volume_hash})
            try:
                self._request("PUT", f"/sessions/{self.session}/volume", env, ENVELOPE)
            except RemoteError as exc:
                # The upload outlasted a short lease: open a new session and send again.
                if exc.status != 410 or attempt:
                    raise
                continue
            self.stats["uploads"] += 1
            return

    def _reseed(self) -> None:
        """A new session after a 410: upload (if needed) and replay every operation so far."""
        self.stats["reseeds"] += 1
        journal, self._journal = self._journal, []
        self._open()
        for op, payload in journal:
            self._call(op, payload, journal=True, retry=False)

    def _call(self, op: str, payload: Any, journal: bool = True, retry: bool = True) -> dict:
        if op == "keyframe":
            body, ctype = payload, ENVELOPE
        else:
            body, ctype = json.dumps(payload).encode(), "application/json"
        try:
            _, data = self._request("POST", f"/sessions/{self.session}/{op}", body, ctype)
        except RemoteError as exc:
            if exc.status != 410 or not retry:
                raise
            self._reseed()
            _, data = self._request("POST", f"/sessions/{self.session}/{op}", body, ctype)
        if journal:
            self._journal.append((op, payload))
        return self._apply(data)

    def _apply(self, data: bytes) -> dict:
        part, head = wire.unpack(data)
        seg = head["segment"]
        label = self._labels.setdefault(seg, np.zeros(self.array.shape, dtype=bool))
        if head.get("full"):
            label[...] = False
        wire.paste(label, head.get("box"), part)
        if "keyframes" in head:
            self._keyframes[seg] = head["keyframes"]
        return head

    def heartbeat(self) -> None:
        """Renew the lease (the panel calls this while the user is looking, not clicking)."""
        try:
            self._json("POST", f"/sessions/{self.session}/heartbeat")
        except RemoteError as exc:
            if exc.status != 410:
                raise
            self._reseed()

    def disconnect(self) -> None:
        """Drop the connection but keep the session: the server expires it after its idle time."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self.session = None

    def close(self) -> None:
        try:
            if self.session:
                self._json("DELETE", f"/sessions/{self.session}")
        except (RemoteError, SegAssistError):
            pass
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> "RemoteEngine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- operations -----------------------------------------------------------------------------
    def segment(self, segment: str, points: Sequence[Sequence[float]] = (), labels: Sequence[int] | None = None,
                box: Sequence[Sequence[float]] | None = None, plane: str = "axial", slice_index: int | None = None,
                space: str = "ras") -> dict:
        """Points (1 inside / 0 outside) and/or a box (two opposite corners) on one slice; returns the reply
        header (``slice``, ``score``, ``box``); :meth:`labels` has the updated mask."""
        pts = [[float(v) for v in p] for p in points]
        payload: dict[str, Any] = {"segment": segment, "plane": plane, "space": space, "points": pts,
                                   "labels": [int(v) for v in labels] if labels is not None else [1] * len(pts)}
        if box is not None:
            payload["box"] = [[float(v) for v in c] for c in box]
        if slice_index is not None:
            payload["slice"] = int(slice_index)
        return self._call("segment", payload)

    def set_keyframe_mask(self, segment: str, plane: str, slice_index: int, mask2d: np.ndarray) -> dict:
        """A hand-drawn slice (display-oriented, the plane's slice shape), sent cropped to its drawing."""
        mask2d = np.asarray(mask2d, dtype=bool)
        rows, cols = np.flatnonzero(mask2d.any(axis=1)), np.flatnonzero(mask2d.any(axis=0))
        rc = [int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1] if len(rows) else [0, 0, 0, 0]
        env = wire.pack(mask2d[rc[0]:rc[2], rc[1]:rc[3]],
                        {"segment": segment, "plane": plane, "slice": int(slice_index), "box": rc})
        return self._call("keyframe", env)

    def propagate(self, segment: str, extrapolate: bool = False) -> dict:
        """The engine's run on the server; ``extrapolate`` continues past the outermost keyframes."""
        return self._call("propagate", {"segment": segment, "extrapolate": bool(extrapolate)})

    def fuse(self, segment: str, planes: Sequence[str] | None = None, threshold: float = 0.5) -> dict:
        payload: dict[str, Any] = {"segment": segment, "threshold": float(threshold)}
        if planes is not None:
            payload["planes"] = list(planes)
        return self._call("fuse", payload)

    def interpolate(self, segment: str, plane: str = "auto") -> dict:
        return self._call("interpolate", {"segment": segment, "plane": plane})

    def undo(self) -> dict:
        return self._call("undo", {})

    def labels(self, segment: str) -> np.ndarray:
        """The segment's current bool (k, j, i) mask (a local copy kept in step with the server)."""
        return self._labels.get(segment, np.zeros(self.array.shape, dtype=bool))

    def fetch_labels(self, segment: str) -> np.ndarray:
        """Ask the server for the segment's whole labels (a resync; normally not needed)."""
        _, data = self._request("GET", f"/sessions/{self.session}/labels/{urllib.parse.quote(segment, safe='')}")
        self._apply(data)
        return self.labels(segment)


def wait_until_up(url: str, timeout: float = 20.0) -> None:
    """Poll ``GET /health`` until the server answers (for scripts and tests that start one)."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url.rstrip("/") + "/health", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise SegAssistError(f"No SegAssist server answered at {url} within {timeout:g} s.") from None
        time.sleep(0.05)
