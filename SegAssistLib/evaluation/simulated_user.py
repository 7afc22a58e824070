"""A simulated user, as interactive-segmentation papers use it, to measure backends on ground truth.

From a ground-truth mask the user clicks where a person would (Xu et al. 2016; Sofiiuk et al., RITM 2022):

* the first click at the object's interior point farthest from its boundary;
* each next click at the centre (the point farthest from the boundary) of the largest error region —
  positive in a missed part of the object, negative in a wrongly included part;
* a box is the ground truth's bounding box; keyframes are every k-th slice of the object, first and
  last included, each prompted with the first click.

Quality is reported as Dice after n clicks and NoC@t (number of clicks to reach Dice t, or ``max_clicks + 1``
when never reached, the usual convention). Everything works on display-oriented plane-view slices, so the
same code drives any backend through the protocol of :mod:`SegAssistLib.backends.base`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from scipy import ndimage

from SegAssistLib.errors import OptionError, PromptError
from SegAssistLib.evaluation.metrics import dice
from SegAssistLib.core.planes import PlaneView
from SegAssistLib.core.prompts import SlicePrompt


def _centre(region: np.ndarray) -> tuple[int, int]:
    """The pixel of ``region`` farthest from its boundary (image edges count as boundary)."""
    dist = ndimage.distance_transform_edt(np.pad(region, 1))[1:-1, 1:-1]
    r, c = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return int(r), int(c)


def first_click(gt: np.ndarray) -> tuple[int, int]:
    """(row, col) of the ground truth's interior point farthest from its boundary."""
    gt = np.asarray(gt, bool)
    if not gt.any():
        raise PromptError("The ground-truth mask is empty on this slice: there is nothing to click on.")
    return _centre(gt)


def next_click(gt: np.ndarray, pred: np.ndarray) -> tuple[tuple[int, int], int] | None:
    """((row, col), label) at the centre of the largest error region, label 1 for a missed part (positive
    click) or 0 for a false part (negative click); None when the prediction is exact."""
    gt = np.asarray(gt, bool)
    pred = np.asarray(pred, bool)
    best = None
    for label, error in ((1, gt & ~pred), (0, pred & ~gt)):
        if not error.any():
            continue
        lab, n = ndimage.label(error)
        sizes = np.bincount(lab.ravel())[1:]
        k = int(np.argmax(sizes))
        if best is None or sizes[k] > best[0]:
            best = (int(sizes[k]), label, lab == k + 1)
    if best is None:
        return None
    return _centre(best[2]), best[1]


def box_from_mask(gt: np.ndarray) -> tuple[float, float, float, float]:
    """(row0, col0, row1, col1) bounding box of a 2D mask, in pixels."""
    gt = np.asarray(gt, bool)
    if not gt.any():
        raise PromptError("The ground-truth mask is empty on this slice: no box can be drawn.")
    rows, cols = np.flatnonzero(gt.any(1)), np.flatnonzero(gt.any(0))
    return float(rows[0]), float(cols[0]), float(rows[-1]), float(cols[-1])


def keyframes(view: PlaneView, gt3d: np.ndarray, every: int) -> list[int]:
    """Slices of ``view`` holding the object, every ``every``-th one, the first and last always included."""
    if every < 1:
        raise OptionError(f"every must be a whole number >= 1, not {every}.")
    present = [n for n in range(view.n_slices) if view.slice(n, gt3d).any()]
    if not present:
        raise PromptError("The ground-truth mask is empty: no keyframes.")
    chosen = present[::every]
    if chosen[-1] != present[-1]:
        chosen.append(present[-1])
    return chosen


def sparse_keyframes(view: PlaneView, gt3d: np.ndarray, every: int) -> tuple[np.ndarray, list[int], np.ndarray]:
    """What a user who drew every ``every``-th slice leaves: (mask with only the :func:`keyframes` drawn,
    the keyframes, mask of the hidden slices between the first and last keyframe). Used to score
    interpolation and the engine against the hidden truth."""
    keys = keyframes(view, gt3d, every)
    sparse = np.zeros_like(gt3d)
    hidden = np.zeros_like(gt3d)
    for n in range(keys[0], keys[-1] + 1):
        if n in keys:
            view.slice(n, sparse)[...] = view.slice(n, gt3d)
        else:
            view.slice(n, hidden)[...] = True
    return sparse, keys, hidden


def largest_slice(view: PlaneView, gt3d: np.ndarray) -> int:
    """The slice of ``view`` where the object is largest (where a person starts)."""
    areas = [int(view.slice(n, gt3d).sum()) for n in range(view.n_slices)]
    return int(np.argmax(areas))


@dataclass
class ClickRun:
    """Result of clicking on one slice: Dice after each click and the time each interaction took."""

    dices: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    clicks: list[tuple[int, int, int]] = field(default_factory=list)  # (row, col, label)

    def dice_at(self, n: int) -> float:
        """Dice after ``n`` clicks (the last value when fewer clicks were needed)."""
        return self.dices[min(n, len(self.dices)) - 1]

    def noc(self, threshold: float, max_clicks: int | None = None) -> int:
        """Clicks needed to reach ``threshold`` Dice; ``max_clicks + 1`` when never reached."""
        for i, d in enumerate(self.dices, start=1):
            if d >= threshold:
                return i
        return (max_clicks or len(self.dices)) + 1


def simulate_clicks(session, slice_index: int, gt2d: np.ndarray, max_clicks: int = 5,
                    object_id: int = 1, stop_at: float | None = None) -> ClickRun:
    """Click on ``slice_index`` of an open backend session following the ground truth ``gt2d``.

    Each click is added to the session as one more point (the backend accumulates them) and the Dice of
    the returned mask is recorded. Stops after ``max_clicks``, when the mask is exact, or at ``stop_at``.
    """
    run = ClickRun()
    pred = np.zeros_like(gt2d, dtype=bool)
    for i in range(max_clicks):
        if i == 0:
            (r, c), label = first_click(gt2d), 1
        else:
            nxt = next_click(gt2d, pred)
            if nxt is None:
                break
            (r, c), label = nxt
        t0 = time.perf_counter()
        result = session.add_prompt(slice_index, SlicePrompt(points=[[r, c]], labels=[label]), object_id)
        run.seconds.append(time.perf_counter() - t0)
        pred = result.mask
        run.clicks.append((r, c, label))
        run.dices.append(dice(pred, gt2d))
        if stop_at is not None and run.dices[-1] >= stop_at:
            break
    return run


def simulate_keyframes(session, view: PlaneView, gt3d: np.ndarray, every: int, clicks_per_keyframe: int = 1,
                       object_id: int = 1) -> tuple[np.ndarray, list[int]]:
    """The keyframe workflow: click on every ``every``-th slice of the object, then propagate to 3D.

    Returns the 3D (k, j, i) mask on the volume grid and the keyframes used.
    """
    keys = keyframes(view, gt3d, every)
    for n in keys:
        simulate_clicks(session, n, np.asarray(view.slice(n, gt3d), bool), clicks_per_keyframe, object_id)
    out = np.zeros(view.volume.shape, dtype=bool)
    for res in session.propagate("both", object_ids=[object_id]):
        view.write_slice(out, res.slice_index, res.mask)
    return out, keys


def clicks_to_ras(view: PlaneView, slice_index: int, clicks: Sequence[tuple[int, int, int]]) -> list[dict]:
    """Clicks as RAS points (what Slicer markups and stored prompt files hold)."""
    out = []
    for r, c, label in clicks:
        ras = view.pixel_to_ras(slice_index, np.array(float(r)), np.array(float(c)))
        out.append({"ras": [round(float(x), 3) for x in ras], "positive": bool(label)})
    return out
