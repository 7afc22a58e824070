"""The Slicer panel's "Server" setting: run the workflow's engine on a SegAssist server (``segassist serve``).

``SegAssistWorkflow(server=URL, api_key=KEY)`` or ``workflow.set_server(URL, KEY)`` makes
:meth:`~SegAssistLib.slicer.workflow.SegAssistWorkflow.engine` build a torch-free
:class:`~SegAssistLib.server.client.RemoteEngine` instead of a local ``SegmentationEngine``; an empty URL is
local. The API key lives only in memory (:class:`ServerSetting`, whose repr hides it): it is never written
to the scene's parameter node, so a saved or shared scene does not carry it. Slicer asks for it again after
a restart.

Remotely the panel does everything it does locally except cancelling a running propagation (the server
answers when it is done) and the plane-disagreement map (zeros).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from SegAssistLib.errors import RemoteError, SegAssistError

#: The panel's Local/Remote choice (the parameter node's ``serverMode``).
SERVER_MODES = ["local", "remote"]


@dataclass(frozen=True)
class ServerSetting:
    """Where the engine runs: ``url`` "" is in-process; ``api_key`` is kept in memory only (hidden in repr)."""

    url: str = ""
    api_key: str | None = field(default=None, repr=False)

    @property
    def remote(self) -> bool:
        return bool(self.url)

    def engine(self, volume: Any) -> Any:
        """A :class:`RemoteEngine` for ``volume`` (a session on the server), with errors that say what to do."""
        from SegAssistLib.server.client import RemoteEngine

        try:
            return RemoteEngine(self.url, volume, api_key=self.api_key or None)
        except RemoteError as exc:
            raise explain(exc, self.url) from None


def normalize_url(url: str | None) -> str:
    """"" for local; otherwise ``http://host:port`` (scheme added when missing, trailing "/" dropped)."""
    url = (url or "").strip()
    if not url:
        return ""
    url = url if "://" in url else "http://" + url
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SegAssistError(f"Server URL {url!r} must look like http://HOST:PORT (or leave it empty for local).")
    return url.rstrip("/")


def explain(exc: RemoteError, url: str) -> SegAssistError:
    """A 401/403 as an error that tells the user to fix the key; other refusals unchanged."""
    if exc.status in (401, 403):
        err = RemoteError(exc.status, f"the server at {url} refused the API key. Enter the key it was started "
                                      "with (segassist serve --api-key) in the SegAssist panel's Server section")
        return err
    return exc


def server_capabilities(url: str, api_key: str | None = None, timeout: float = 5.0) -> dict:
    """``GET /capabilities`` of the server (version, backend, auth, sessions): the panel's "Test connection"."""
    url = normalize_url(url)
    if not url:
        raise SegAssistError("No server URL: enter one (e.g. http://gpu-box:8765) or choose local.")
    request = urllib.request.Request(url + "/capabilities")
    if api_key:
        request.add_header("Authorization", f"Bearer {api_key}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read())["error"]
        except (ValueError, KeyError, TypeError):
            message = exc.reason
        raise explain(RemoteError(exc.code, str(message)), url) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SegAssistError(f"Cannot reach the SegAssist server at {url}: {reason}. "
                             "Is `segassist serve` running there?") from None


def describe(capabilities: dict) -> str:
    """One line for the panel: version, backend, whether the server requires a key, sessions in use."""
    auth = "key required" if capabilities.get("auth") else "no key"
    return (f"SegAssist {capabilities.get('version', '?')} server, backend {capabilities.get('backend', '?')}, "
            f"{auth}, {capabilities.get('sessions', 0)}/{capabilities.get('max_sessions', '?')} sessions.")
