"""Server sessions: one uploaded volume, its engine and labels per client, leased and expired when idle.

* **Lease.** Every request to a session renews it; a session idle for ``idle_s`` seconds is closed and its
  memory released. Its id is remembered (a bounded tombstone list), so the next request gets
  **410 Gone** with a message saying to create a new session and re-seed, rather than a puzzling 404.
* **Isolation.** Each session has its own :class:`SegmentationEngine`, labels and undo stack; nothing but
  the backend object (the loaded model) and the volumes store is shared. Ids are 128-bit random.
* **One upload.** Volumes live in a store keyed by :func:`~SegAssistLib.server.wire.content_hash` with a
  reference count; a session created with the hash of a volume the server holds skips the upload, and a
  session accepts exactly one upload. The store drops a volume when its last session goes.
* **GPU lock.** All compute (``with manager.compute():``) runs one at a time, so sessions never fight over
  the device; bookkeeping does not take it.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

from SegAssistLib.core.volume import Volume
from SegAssistLib.errors import ServerError, SessionExpired

log = logging.getLogger("segassist.server")

#: How many expired session ids are remembered to answer 410 instead of 404.
TOMBSTONES = 10_000


def release_memory() -> None:
    """Collect garbage and hand freed heap pages back to the OS (glibc keeps them otherwise, so a server that
    closed its sessions would still look as large as at its peak)."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl): nothing to trim
        pass


@dataclass
class UndoStep:
    """What an operation changed: the labels of ``segment`` inside ``box`` before it, and the keyframe it
    replaced (``keyframe`` = (plane, slice, previous Keyframe or None)) when it added one."""

    segment: str
    box: list[int] | None
    before: np.ndarray | None
    keyframe: tuple[str, int, Any] | None = None


@dataclass
class Session:
    """One client's state. ``labels[segment]`` is the bool (k, j, i) mask the client was last sent."""

    id: str
    backend_name: str
    volume_hash: str | None
    created: float
    last_used: float
    volume: Volume | None = None
    engine: Any = None
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    undo: list[UndoStep] = field(default_factory=list)
    uploads: int = 0
    busy: int = 0  # requests in flight (an upload's transfer); a busy session never expires
    lock: threading.Lock = field(default_factory=threading.Lock)

    def require_volume(self) -> Volume:
        if self.volume is None:
            raise ServerError(f"Session {self.id} has no volume yet: PUT /sessions/{self.id}/volume first.", 409)
        return self.volume

    def label(self, segment: str) -> np.ndarray:
        vol = self.require_volume()
        if segment not in self.labels:
            self.labels[segment] = np.zeros(vol.shape, dtype=bool)
        return self.labels[segment]

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close()
        self.engine = None
        self.volume = None
        self.labels.clear()
        self.results.clear()
        self.undo.clear()


class SessionManager:
    """All sessions of one server process, the shared backend and the volumes store."""

    def __init__(self, backend: str = "classical", backend_options: dict | None = None, max_sessions: int = 8,
                 idle_s: float = 600.0, max_undo: int = 20):
        from SegAssistLib.backends.registry import get_backend

        self.backend_name = backend
        self.backend = get_backend(backend, **(backend_options or {}))
        self.max_sessions = int(max_sessions)
        self.idle_s = float(idle_s)
        self.max_undo = int(max_undo)
        self._sessions: dict[str, Session] = {}
        self._tombstones: OrderedDict[str, float] = OrderedDict()
        self._volumes: dict[str, tuple[Volume, int]] = {}
        self._lock = threading.Lock()
        self._gpu = threading.Lock()
        self.stats = {"created": 0, "expired": 0, "uploads": 0, "compute_s": 0.0}

    # ---- lifecycle ------------------------------------------------------------------------------
    def create(self, volume_hash: str | None = None) -> tuple[Session, bool]:
        """A new session; (session, needs_upload). With ``volume_hash`` of a held volume, no upload is needed."""
        self.expire_idle()
        with self._lock:
            if len(self._sessions) >= self.max_sessions:
                raise ServerError(f"The server holds its maximum of {self.max_sessions} sessions; close one "
                                  "(DELETE /sessions/ID) or retry when an idle one has expired.", 503)
            now = time.monotonic()
            s = Session(secrets.token_hex(16), self.backend_name, None, now, now)
            held = self._volumes.get(volume_hash) if volume_hash else None
            if held is not None:
                self._attach(s, volume_hash, held[0])
            self._sessions[s.id] = s
            self.stats["created"] += 1
        log.info("session created", extra={"session": s.id, "reused_volume": held is not None})
        return s, held is None

    def _attach(self, s: Session, volume_hash: str, volume: Volume) -> None:
        """Give ``s`` the volume (caller holds ``_lock``); its engine is built on first use."""
        vol, refs = self._volumes.get(volume_hash, (volume, 0))
        self._volumes[volume_hash] = (vol, refs + 1)
        s.volume, s.volume_hash = vol, volume_hash

    def holds(self, volume_hash: str) -> bool:
        """Whether a volume with this content hash is in the store (a new session would skip its upload)."""
        with self._lock:
            return volume_hash in self._volumes

    def upload(self, s: Session, volume: Volume, volume_hash: str) -> None:
        """The session's one upload; a second one is a 409 (create a new session for another volume)."""
        with self._lock:
            if s.volume is not None:
                raise ServerError(f"Session {s.id} already has its volume; a session takes exactly one upload. "
                                  "Create a new session for another volume.", 409)
            self._attach(s, volume_hash, volume)
            s.uploads += 1
            self.stats["uploads"] += 1

    def get(self, session_id: str) -> Session:
        """The live session ``session_id`` (renewing its lease), or 410 if it expired, 404 if never known."""
        self.expire_idle()
        with self._lock:
            s = self._sessions.get(session_id)
            if s is None:
                if session_id in self._tombstones:
                    raise SessionExpired(f"Session {session_id} expired after {self.idle_s:g} s idle and was "
                                         "released; create a new session, upload the volume and re-seed it.")
                raise ServerError(f"No session {session_id!r} on this server; create one with POST /sessions.", 404)
            s.last_used = time.monotonic()
            return s

    def close(self, session_id: str, expired: bool = False) -> None:
        with self._lock:
            s = self._sessions.pop(session_id, None)
            if s is None:
                return
            if expired:
                self._tombstones[session_id] = time.monotonic()
                while len(self._tombstones) > TOMBSTONES:
                    self._tombstones.popitem(last=False)
                self.stats["expired"] += 1
            if s.volume_hash in self._volumes:
                vol, refs = self._volumes[s.volume_hash]
                if refs <= 1:
                    del self._volumes[s.volume_hash]
                else:
                    self._volumes[s.volume_hash] = (vol, refs - 1)
        with s.lock:  # wait for a running operation of that session before freeing its arrays
            s.close()
        release_memory()
        log.info("session closed", extra={"session": session_id, "expired": expired})

    def expire_idle(self) -> int:
        """Close every session idle longer than ``idle_s``; returns how many."""
        now = time.monotonic()
        with self._lock:
            stale = [sid for sid, s in self._sessions.items()
                     if now - s.last_used > self.idle_s and not s.busy and not s.lock.locked()]
        for sid in stale:
            self.close(sid, expired=True)
        return len(stale)

    @contextmanager
    def busy(self, s: Session) -> Iterator[None]:
        """Keep ``s`` from expiring while a request works on it; renews its lease at the end."""
        with self._lock:
            s.busy += 1
        try:
            yield
        finally:
            with self._lock:
                s.busy -= 1
                s.last_used = time.monotonic()

    def close_all(self) -> None:
        for sid in list(self._sessions):
            self.close(sid)

    # ---- compute --------------------------------------------------------------------------------
    @contextmanager
    def compute(self) -> Iterator[None]:
        """The device lock: one computation at a time across all sessions."""
        with self._gpu:
            t0 = time.perf_counter()
            try:
                yield
            finally:
                self.stats["compute_s"] += time.perf_counter() - t0

    def engine(self, s: Session):
        """The session's engine, built on first use from its volume and the shared backend."""
        if s.engine is None:
            from SegAssistLib.engine import SegmentationEngine

            s.engine = SegmentationEngine(s.require_volume(), self.backend)
        return s.engine

    def info(self) -> dict[str, Any]:
        with self._lock:
            return {"sessions": len(self._sessions), "max_sessions": self.max_sessions, "idle_s": self.idle_s,
                    "volumes_held": len(self._volumes), **{k: v for k, v in self.stats.items()}}
