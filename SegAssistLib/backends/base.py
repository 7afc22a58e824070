"""The backend protocol shared by SAM 2, the classical backend and third-party models.

A backend opens a *session* on a plane view of a volume. In a session the caller adds prompts on a slice
and gets that slice's mask and a score back at once, then propagates from the prompted slices forwards and
backwards, receiving one :class:`SliceResult` at a time (streamed, so a progress bar and cancel work).
Backends never see MRML; masks are display-oriented 2D arrays of the plane view's slice shape.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Callable, Iterator, Literal

import numpy as np

from SegAssistLib.core.planes import PlaneView
from SegAssistLib.core.prompts import SlicePrompt
from SegAssistLib.errors import OptionError

Direction = Literal["forward", "backward", "both"]


def check_direction(direction: str) -> None:
    """A ValueError unless ``direction`` is one of :data:`Direction`'s values (for ``propagate``)."""
    if direction not in ("forward", "backward", "both"):
        raise OptionError(f"direction must be 'forward', 'backward' or 'both', not {direction!r}.")


@dataclass
class SliceResult:
    """One slice's result for one object: ``mask`` is bool (rows, cols) of the plane view's slice shape;
    ``score`` is the backend's confidence in [0, 1]; ``review_weight`` how far that score may rank a
    prompted slice in the engine's review queue (its backend's :attr:`Backend.review_weight`)."""

    slice_index: int
    mask: np.ndarray
    score: float
    object_id: int = 1
    review_weight: float = 0.0


class BackendSession(ABC):
    """Interactive state for one plane view: prompts, cached embeddings, per-object results."""

    def __init__(self, view: PlaneView):
        self.view = view

    @abstractmethod
    def add_prompt(self, slice_index: int, prompt: SlicePrompt, object_id: int = 1) -> SliceResult:
        """Add ``prompt`` for ``object_id`` on ``slice_index`` (accumulating with earlier prompts on that
        slice) and return that slice's new mask at once."""

    @abstractmethod
    def propagate(
        self,
        direction: Direction = "both",
        start: int | None = None,
        max_slices: int | None = None,
        object_ids: list[int] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> Iterator[SliceResult]:
        """Yield results slice by slice away from the prompted slices (or from ``start``).

        Stops at the volume's end, after ``max_slices``, when the object is gone, or as soon as
        ``should_stop()`` returns True (the cancel button).
        """

    def clear_object(self, object_id: int) -> None:
        """Forget every prompt of ``object_id`` (default: not supported)."""
        raise NotImplementedError(f"{type(self).__name__} cannot clear single objects; open a new session.")

    def close(self) -> None:
        """Release memory held by the session (embeddings, caches)."""

    def __enter__(self) -> "BackendSession":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Backend(ABC):
    """A segmentation method. Construct cheaply; load models lazily in :meth:`open_session`."""

    #: Short name used on the command line and in the panel.
    name: str = ""
    #: In [0, 1]: how much this backend's score counts, against the written contour's edge agreement, in the
    #: review risk of a slice it was prompted on (:func:`SegAssistLib.engine.result.slice_risk`). 0 unless
    #: measured to help on the development set's tuning half (docs/BENCHMARKS.md): a score that does not
    #: rank slices by Dice would only push good slices up the queue. Sessions put it on every
    #: :class:`SliceResult` they return, so it survives routing by ``auto``.
    review_weight: float = 0.0

    @abstractmethod
    def open_session(self, view: PlaneView) -> BackendSession:
        """Start an interactive session on ``view``."""
