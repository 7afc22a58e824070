"""The API key: compared in constant time, required whenever the server listens beyond localhost.

Clients send ``Authorization: Bearer KEY`` (the SegAssist client, curl) or HTTP Basic auth with the key as
password (Label Studio's ML-backend "Basic Authentication" setting). ``GET /health`` stays open: it says
only that the server is up, and Label Studio polls it with a 1 s timeout.
"""

from __future__ import annotations

import base64
import hmac
import ipaddress

from SegAssistLib.errors import SegAssistError

OPEN_PATHS = frozenset({"/health"})


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``; False for 0.0.0.0, :: and every other address."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_config(host: str, api_key: str | None) -> None:
    """Refuse to listen beyond localhost without a key (a SegAssistError that says how to fix it)."""
    if not api_key and not is_loopback(host):
        raise SegAssistError(
            f"Listening on {host} exposes the server to the network: give an API key (--api-key KEY or "
            "SEGASSIST_API_KEY), or listen on 127.0.0.1 only."
        )


def presented_key(authorization: str | None) -> str | None:
    """The key a request presents in its Authorization header (Bearer, Token or Basic password)."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    scheme = scheme.lower()
    if scheme in ("bearer", "token"):
        return value.strip()
    if scheme == "basic":
        try:
            _, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return password
    return None


def key_matches(expected: str, authorization: str | None) -> bool:
    """Constant-time comparison of the presented key with the expected one."""
    given = presented_key(authorization)
    if given is None:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())
