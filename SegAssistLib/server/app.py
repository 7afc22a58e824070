"""The SegAssist HTTP server: one process, one backend, many sessions (Starlette on uvicorn).

Routes (JSON unless noted; arrays travel as :mod:`~SegAssistLib.server.wire` envelopes):

=========================================  =====================================================
``GET  /health``                           up or not (open, no key; Label Studio polls it)
``GET  /capabilities``                     version, backend, operations, limits, auth
``GET  /volumes/{hash}``                   ``{"held": bool}``: whether an upload can be skipped
``POST /sessions``                         ``{"volume_hash"?}`` -> ``{"session", "needs_upload", "idle_s"}``
``PUT  /sessions/{id}/volume``             envelope: the volume (array + ``ijk_to_ras``, ``hash``)
``POST /sessions/{id}/heartbeat``          renews the lease
``POST /sessions/{id}/{op}``               ``segment`` / ``propagate`` / ``fuse`` / ``interpolate`` /
                                           ``undo``: JSON in, envelope of the changed box out
``POST /sessions/{id}/keyframe``           envelope: a drawn slice, cropped, with its box
``GET  /sessions/{id}/labels/{segment}``   envelope: the segment's whole labels (resync)
``DELETE /sessions/{id}``                  closes the session
``POST /predict`` ``/setup`` ``/webhook``  Label Studio's ML-backend protocol
=========================================  =====================================================

Errors are JSON ``{"error": message}`` with a 4xx status (401 without the key, 410 for an expired session,
422 for a malformed payload); an unexpected failure is logged with its traceback and answered 500 with a
one-line message, never the traceback. Every request is logged as one JSON line (method, path, status,
milliseconds, session).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from SegAssistLib.errors import SegAssistError, ServerError
from SegAssistLib.server import auth, operations, wire
from SegAssistLib.server.label_studio import LabelStudioBackend
from SegAssistLib.server.sessions import SessionManager

log = logging.getLogger("segassist.server")
ENVELOPE = "application/x-segassist-envelope"
#: Largest request body (a compressed volume), bytes.
MAX_BODY = 2 << 30


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: time, level, message and the record's extra fields."""

    _skip = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        out = {"t": round(record.created, 3), "level": record.levelname.lower(), "msg": record.getMessage()}
        out.update({k: v for k, v in vars(record).items() if k not in self._skip})
        if record.exc_info:
            out["traceback"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _json(request: Request) -> dict:
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ServerError(f"The request body is not valid JSON: {exc}.", 400) from None
    if not isinstance(body, dict):
        raise ServerError("The request body must be a JSON object.", 422)
    return body


async def _envelope(request: Request):
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise ServerError(f"Request body over {MAX_BODY} bytes.", 413)
    try:
        return await run_in_threadpool(wire.unpack, raw)
    except wire.WireError as exc:
        raise ServerError(str(exc), 400) from None


def _change_response(change: operations.Change) -> Response:
    return Response(change.envelope(), media_type=ENVELOPE)


def create_app(manager: SessionManager, api_key: str | None = None, label_studio: LabelStudioBackend | None = None,
               sweep_s: float | None = None) -> Starlette:
    """The ASGI app over ``manager``; ``api_key`` None means no key (allowed on localhost only, see cli)."""
    from SegAssistLib import __version__

    ls = label_studio or LabelStudioBackend(manager)
    sweep = sweep_s if sweep_s is not None else max(0.05, min(30.0, manager.idle_s / 4))

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "UP", "model_class": "SegAssist", "backend": manager.backend_name})

    async def capabilities(request: Request) -> Response:
        from SegAssistLib.backends.registry import available_backends

        return JSONResponse({
            "version": __version__, "backend": manager.backend_name, "backends": available_backends(),
            "operations": sorted([*operations.OPERATIONS, "keyframe", "labels"]), "codecs": ["zlib"],
            "auth": bool(api_key), "label_studio": {"rle_encoder": ls.encoder_name, **ls.stats},
            **manager.info(),
        })

    async def create_session(request: Request) -> Response:
        body = await _json(request)
        h = body.get("volume_hash")
        if h is not None and not isinstance(h, str):
            raise ServerError("Field 'volume_hash' must be a string (SHA-256 hex).", 422)
        s, needs = manager.create(h)
        request.state.session = s.id
        return JSONResponse({"session": s.id, "needs_upload": needs, "idle_s": manager.idle_s}, status_code=201)

    async def upload(request: Request) -> Response:
        s = manager.get(request.path_params["sid"])
        request.state.session = s.id
        with manager.busy(s):  # a large volume's transfer and decompression must not count as idle time
            arr, head = await _envelope(request)
        if arr.ndim != 3 or min(arr.shape) < 1:
            raise ServerError(f"A volume must be a non-empty 3D (k, j, i) array; got shape {arr.shape}.", 422)
        matrix = head.get("ijk_to_ras")
        try:
            from SegAssistLib.core.volume import Volume
            import numpy as np

            volume = Volume(arr, np.asarray(matrix, dtype=float).reshape(4, 4))
        except (TypeError, ValueError) as exc:
            raise ServerError(f"Header 'ijk_to_ras' must be a 4x4 matrix: {exc}.", 422) from None
        digest = await run_in_threadpool(wire.content_hash, arr, volume.ijk_to_ras)
        if head.get("hash") not in (None, digest):
            raise ServerError("The volume's content hash does not match the one sent: the upload was corrupted "
                              "or hashed differently; upload again.", 400)
        manager.upload(s, volume, digest)
        return JSONResponse({"session": s.id, "volume_hash": digest, "shape": list(arr.shape)})

    async def volume_held(request: Request) -> Response:
        return JSONResponse({"held": manager.holds(request.path_params["digest"])})

    async def heartbeat(request: Request) -> Response:
        s = manager.get(request.path_params["sid"])
        return JSONResponse({"session": s.id, "idle_s": manager.idle_s})

    async def operation(request: Request) -> Response:
        name = request.path_params["op"]
        s = manager.get(request.path_params["sid"])
        request.state.session = s.id
        if name == "keyframe":
            arr, head = await _envelope(request)
            fn, args = operations.keyframe, (head, arr)
        elif name in operations.OPERATIONS:
            fn, args = operations.OPERATIONS[name], (await _json(request),)
        else:
            raise ServerError(f"Unknown operation {name!r}; one of {', '.join(operations.OPERATIONS)}, keyframe.", 404)

        def run():
            with s.lock:
                s.require_volume()
                return fn(manager, s, *args)

        return _change_response(await run_in_threadpool(run))

    async def labels(request: Request) -> Response:
        s = manager.get(request.path_params["sid"])

        def run():
            with s.lock:
                return operations.labels(manager, s, request.path_params["segment"])

        return _change_response(await run_in_threadpool(run))

    async def delete(request: Request) -> Response:
        manager.get(request.path_params["sid"])
        await run_in_threadpool(manager.close, request.path_params["sid"])
        return JSONResponse({"closed": request.path_params["sid"]})

    async def predict(request: Request) -> Response:
        body = await _json(request)
        return JSONResponse(await run_in_threadpool(ls.predict, body))

    async def setup(request: Request) -> Response:
        return JSONResponse(ls.setup(await _json(request)))

    async def webhook(request: Request) -> Response:
        await _json(request)
        return JSONResponse({"status": "ok"})

    routes = [
        Route("/health", health), Route("/capabilities", capabilities),
        Route("/sessions", create_session, methods=["POST"]), Route("/volumes/{digest}", volume_held),
        Route("/sessions/{sid}/volume", upload, methods=["PUT"]),
        Route("/sessions/{sid}/heartbeat", heartbeat, methods=["POST"]),
        Route("/sessions/{sid}/labels/{segment}", labels),
        Route("/sessions/{sid}/{op}", operation, methods=["POST"]),
        Route("/sessions/{sid}", delete, methods=["DELETE"]),
        Route("/predict", predict, methods=["POST"]), Route("/setup", setup, methods=["POST"]),
        Route("/webhook", webhook, methods=["POST"]),
    ]

    @asynccontextmanager
    async def lifespan(app):
        async def sweeper():
            while True:
                await asyncio.sleep(sweep)
                await run_in_threadpool(manager.expire_idle)

        task = asyncio.create_task(sweeper())
        try:
            yield
        finally:
            task.cancel()
            manager.close_all()

    async def guard(request: Request, call_next):
        t0 = time.perf_counter()
        request.state.session = None
        if api_key and request.url.path not in auth.OPEN_PATHS and not auth.key_matches(
                api_key, request.headers.get("authorization")):
            response = _error(401, "Missing or wrong API key: send 'Authorization: Bearer KEY'.")
        else:
            try:
                response = await call_next(request)
            except ServerError as exc:
                response = _error(exc.status, str(exc))
            except SegAssistError as exc:  # PromptError, GeometryError...: the user's input was unusable
                response = _error(422, str(exc))
            except Exception:
                log.exception("unexpected error", extra={"path": request.url.path})
                response = _error(500, "Internal error in the SegAssist server; see its log.")
        ms = round(1000 * (time.perf_counter() - t0), 2)
        response.headers["Server-Timing"] = f"app;dur={ms}"
        sid = getattr(request.state, "session", None)
        log.info("request", extra={"method": request.method, "path": request.url.path,
                                   "status": response.status_code, "ms": ms,
                                   **({"session": sid} if sid else {})})
        return response

    return Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(BaseHTTPMiddleware, dispatch=guard)])
