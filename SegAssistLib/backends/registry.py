"""Finding backends by name: built-ins plus any registered under the ``segassist.backends`` entry point."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from SegAssistLib.errors import BackendError

_BUILTIN = {
    "classical": "SegAssistLib.backends.classical.backend:ClassicalBackend",
    "sam2": "SegAssistLib.backends.sam2.backend:Sam2Backend",
    "litemedsam": "SegAssistLib.backends.sam1.litemedsam:LiteMedSamBackend",
    "mobilesam": "SegAssistLib.backends.sam1.mobilesam:MobileSamBackend",
    "auto": "SegAssistLib.backends.auto:AutoBackend",
}


#: The entry-point group third-party backends register under (``[project.entry-points."segassist.backends"]``).
GROUP = "segassist.backends"


def registered_entry_points(group: str = GROUP) -> list:
    """The installed entry points of ``group``, on every Python SegAssist supports.

    ``entry_points(group=...)`` exists from Python 3.10; Python 3.9 (Slicer 5.8 ships 3.9.10) only offers
    ``entry_points()`` returning a dict of group -> entry points, and raises ``TypeError`` on the keyword.
    """
    found = entry_points()
    if hasattr(found, "select"):  # Python >= 3.10
        return list(found.select(group=group))
    return list(found.get(group, ()))


def available_backends() -> list[str]:
    """Names of every backend that can be asked for (built-in and registered)."""
    names = set(_BUILTIN)
    names.update(ep.name for ep in registered_entry_points())
    return sorted(names)


def get_backend(name: str, **options: Any):
    """Instantiate the backend called ``name`` with ``options`` (e.g. ``checkpoint=...`` for SAM 2)."""
    target = None
    for ep in registered_entry_points():
        if ep.name == name:
            target = ep.value
    target = target or _BUILTIN.get(name)
    if target is None:
        raise BackendError(f"Unknown backend {name!r}; available: {', '.join(available_backends())}.")
    module_name, _, attr = target.partition(":")
    import importlib

    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except ImportError as exc:
        raise BackendError(
            f"Backend {name!r} could not be loaded ({exc}). Install its dependencies, e.g. "
            "`pip install 'segassist[sam2]'` for SAM 2 (see README)."
        ) from exc
    import inspect

    try:  # an option this backend does not take (e.g. --checkpoint for classical) is the user's error
        inspect.signature(cls).bind(**options)
    except TypeError as exc:
        raise BackendError(f"Backend {name!r} does not take option(s) {sorted(options)} ({exc}).") from None
    return cls(**options)
