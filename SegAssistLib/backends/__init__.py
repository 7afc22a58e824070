"""Segmentation backends behind one protocol (see :mod:`SegAssistLib.backends.base`).

Backends are found by name through the ``segassist.backends`` entry point group, so a lab's own model
registers from its own package without touching SegAssist.
"""

from SegAssistLib.backends.base import Backend, BackendSession, SliceResult
from SegAssistLib.backends.registry import available_backends, get_backend

__all__ = ["Backend", "BackendSession", "SliceResult", "available_backends", "get_backend"]
