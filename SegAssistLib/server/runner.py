"""Running the server: in the foreground (``segassist serve``) or on a background thread (tests, benchmarks)."""

from __future__ import annotations

import logging
import socket
import sys
import threading

from SegAssistLib.server import auth
from SegAssistLib.server.app import JsonLogFormatter, create_app
from SegAssistLib.server.label_studio import LabelStudioBackend
from SegAssistLib.server.sessions import SessionManager


def json_logging(level: int = logging.INFO) -> None:
    """Send the server's logs to stderr as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    logger = logging.getLogger("segassist.server")
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False


def build(backend: str = "classical", backend_options: dict | None = None, max_sessions: int = 8,
          idle_s: float = 600.0, api_key: str | None = None, host: str = "127.0.0.1",
          label_studio_url: str | None = None, label_studio_token: str | None = None, sweep_s: float | None = None):
    """(app, manager, label_studio) for these settings; refuses a non-loopback host without a key."""
    auth.check_config(host, api_key)
    manager = SessionManager(backend, backend_options, max_sessions=max_sessions, idle_s=idle_s)
    ls = LabelStudioBackend(manager, label_studio_url, label_studio_token)
    return create_app(manager, api_key, ls, sweep_s=sweep_s), manager, ls


class ServerThread:
    """uvicorn on a free port of 127.0.0.1 in a daemon thread; ``url`` once started. A context manager."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0):
        import uvicorn

        if port == 0:
            with socket.socket() as s:
                s.bind((host, 0))
                port = s.getsockname()[1]
        self.url = f"http://{host}:{port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                                    access_log=False, lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "ServerThread":
        self.thread.start()
        from SegAssistLib.server.client import wait_until_up

        wait_until_up(self.url)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
