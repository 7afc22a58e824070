"""Segmentation backends behind one protocol (see :mod:`SegAssistLib.backends.base`).

Backends are found by name through the ``segassist.backends`` entry point group, so a lab's own model
registers from its own package without touching SegAssist.
"""

__all__ = ["Backend", "BackendSession", "SliceResult", "available_backends", "get_backend"]


def __getattr__(name: str):
    # Loaded on first use (base needs numpy), so `segassist --help` stays fast.
    if name in ("Backend", "BackendSession", "SliceResult"):
        from SegAssistLib.backends import base

        return getattr(base, name)
    if name in ("available_backends", "get_backend"):
        from SegAssistLib.backends import registry

        return getattr(registry, name)
    raise AttributeError(name)
