"""A SAM 2 session: one plane view of a volume as a video for sam2's video predictor.

Prompts go to frame ``n`` for slice ``n`` and come back at once with an object-presence score;
:meth:`Sam2Session.propagate` runs ``propagate_in_video`` forwards and backwards from the prompted slices,
keeps only a window of frames in the predictor's memory, and stops when the object has been absent for a few
slices, at a limit, or on cancel. Made by :meth:`SegAssistLib.backends.sam2.backend.Sam2Backend.open_session`.
"""

from __future__ import annotations

import contextlib
import logging
import math
from typing import TYPE_CHECKING, Callable, Iterator

import numpy as np

from SegAssistLib.backends.base import BackendSession, Direction, SliceResult, check_direction
from SegAssistLib.core.planes import PlaneView
from SegAssistLib.core.prompts import SlicePrompt
from SegAssistLib.errors import BackendError, OptionError, PromptError

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from SegAssistLib.backends.sam2.backend import Sam2Backend

log = logging.getLogger(__name__)


class Sam2Session(BackendSession):
    """One plane view as a SAM 2 video: prompts per slice and object, propagation, per-object clearing."""

    def __init__(self, backend: "Sam2Backend", view: PlaneView):
        super().__init__(view)
        from SegAssistLib.backends.sam2.frames import SliceFrames
        from SegAssistLib.core.windowing import default_window, get_window

        self.backend = backend
        self.predictor = backend.predictor
        if backend.window is None:
            window = default_window(view.volume.array, view.volume.metadata.get("modality"))
        else:
            try:
                window = get_window(backend.window, view.volume.array)
            except ValueError as exc:
                raise BackendError(str(exc)) from None
        self.window = window
        self.frames = SliceFrames(view, window, self.predictor.image_size, device=backend.device,
                                  cache_size=backend.frame_cache_size)
        self.state = self.predictor.init_state_from_frames(
            self.frames, self.frames.video_height, self.frames.video_width,
            offload_state_to_cpu=backend.offload_state_to_cpu,
        )
        self._points: dict[tuple[int, int], tuple[list[list[float]], list[int], tuple | None]] = {}
        self._keyframes: dict[int, set[int]] = {}

    # ---- helpers -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _model_call(self) -> Iterator[None]:
        from SegAssistLib.backends.sam2.quiet import no_sam2_progress_bars

        if self.state is None:
            raise BackendError("This SAM 2 session is closed; open a new one.")
        with self.backend.autocast(), no_sam2_progress_bars():
            yield

    def _obj_idx(self, object_id: int) -> int | None:
        return self.state["obj_id_to_idx"].get(object_id)

    def _object_score(self, obj_idx: int, frame: int) -> float:
        """sigmoid of sam2's object score logit for ``frame`` (latest output: temporary, then stored)."""
        for store in (self.state["temp_output_dict_per_obj"][obj_idx], self.state["output_dict_per_obj"][obj_idx]):
            for key in ("cond_frame_outputs", "non_cond_frame_outputs"):
                out = store[key].get(frame)
                if out is not None and out.get("object_score_logits") is not None:
                    logit = float(out["object_score_logits"].float().flatten()[0])
                    return 1.0 / (1.0 + math.exp(-max(min(logit, 60.0), -60.0)))
        return 0.0

    def _mask(self, logits: "torch.Tensor") -> np.ndarray:
        """Model-resolution logits (video H x W = view.model_shape) -> bool mask on the slice's pixels."""
        return self.view.mask_from_model(logits.float().cpu().numpy(), threshold=0.0)

    def _to_model_xy(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        mr, mc = self.view.pixel_to_model(np.asarray(rows, float), np.asarray(cols, float))
        return np.stack([np.asarray(mc, float), np.asarray(mr, float)], axis=-1)  # sam2 wants (x, y)

    # ---- protocol ------------------------------------------------------------------------------
    def add_prompt(self, slice_index: int, prompt: SlicePrompt, object_id: int = 1) -> SliceResult:
        n = self.view.check_slice(slice_index)
        if prompt.is_empty:
            raise PromptError("The prompt is empty: place a point, drag a box or give a non-empty mask.")
        prompt.check_inside(self.view.slice_shape)
        key = (int(object_id), n)
        points, labels, box = self._points.get(key, ([], [], None))
        has_mask = prompt.mask is not None and bool(prompt.mask.any())
        if has_mask:  # a mask starts this slice afresh; points given with it refine it
            points, labels, box = [], [], None
        points = points + [list(p) for p in self._to_model_xy(prompt.points[:, 0], prompt.points[:, 1])]
        labels = labels + [int(v) for v in prompt.labels]
        if prompt.box is not None:
            r0, c0, r1, c1 = prompt.box
            (x0, y0), (x1, y1) = self._to_model_xy(np.array([r0, r1]), np.array([c0, c1]))
            box = (float(x0), float(y0), float(x1), float(y1))
        with self._model_call():
            if has_mask:
                _, obj_ids, masks = self.predictor.add_new_mask(self.state, n, object_id, prompt.mask)
            if points or box is not None:
                _, obj_ids, masks = self.predictor.add_new_points_or_box(
                    self.state, n, object_id,
                    points=np.asarray(points, dtype=np.float32) if points else None,
                    labels=np.asarray(labels, dtype=np.int32) if points else None,
                    box=None if box is None else np.asarray(box, dtype=np.float32),
                    clear_old_points=True, normalize_coords=True,
                )
        self._points[key] = (points, labels, box)
        self._keyframes.setdefault(int(object_id), set()).add(n)
        i = list(obj_ids).index(object_id)
        return SliceResult(n, self._mask(masks[i, 0]), self._object_score(self._obj_idx(object_id), n), int(object_id))

    def keyframes(self) -> list[int]:
        """Slices that carry prompts (of any object), sorted."""
        return sorted(set().union(*self._keyframes.values())) if self._keyframes else []

    def propagate(
        self,
        direction: Direction = "both",
        start: int | None = None,
        max_slices: int | None = None,
        object_ids: list[int] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> Iterator[SliceResult]:
        """Stream results slice by slice: forwards from ``start`` (default: the first prompted slice) to the
        end, then backwards from it to slice 0 (``direction`` picks one or both). Each slice yields one result
        per object (``object_ids`` filters them). A direction stops after ``max_slices`` slices beyond
        ``start``, after ``stop_after`` consecutive slices where every object's presence score is below the
        threshold (never while a prompted slice lies ahead), or when ``should_stop()`` is true."""
        check_direction(direction)
        keyframes = self.keyframes()
        if not keyframes:
            raise PromptError("Nothing to propagate: add a prompt on a slice first.")
        wanted = list(self.state["obj_ids"]) if object_ids is None else [int(o) for o in object_ids]
        unknown = [o for o in wanted if o not in self.state["obj_id_to_idx"]]
        if unknown:
            raise PromptError(f"Objects {unknown} have no prompts in this session (known: {self.state['obj_ids']}).")
        start = keyframes[0] if start is None else self.view.check_slice(start, "start slice")
        if max_slices is not None and int(max_slices) < 0:
            raise OptionError("max_slices must be zero or positive.")
        return self._propagate(direction, start, max_slices, wanted, should_stop, keyframes)

    def _propagate(self, direction, start, max_slices, wanted, should_stop, keyframes) -> Iterator[SliceResult]:
        reverses = {"forward": [False], "backward": [True], "both": [False, True]}[direction]
        window = self._memory_window()
        yielded: set[int] = set()
        from SegAssistLib.backends.sam2.quiet import no_sam2_progress_bars

        for reverse in reverses:
            step = -1 if reverse else 1
            gen = self.predictor.propagate_in_video(self.state, start_frame_idx=start,
                                                    max_frame_num_to_track=max_slices, reverse=reverse)
            absent = 0
            # One autocast region for the whole pass (as sam2's examples do): torch keeps the low-precision
            # copies of the weights while it is open instead of casting them again for every slice.
            autocast = self.backend.autocast()
            autocast.__enter__()
            try:
                while True:
                    if self.state is None:
                        raise BackendError("This SAM 2 session was closed during propagation.")
                    with no_sam2_progress_bars():
                        item = next(gen, None)
                    if item is None:
                        break
                    frame, obj_ids, masks = item
                    results = []
                    scores = []
                    for obj_id in wanted:
                        idx = list(obj_ids).index(obj_id)
                        score = self._object_score(idx, frame)
                        scores.append(score)
                        results.append(SliceResult(int(frame), self._mask(masks[idx, 0]), score, int(obj_id)))
                    if not self.backend.keep_all_memory:
                        self._forget(frame - step * window, window, keyframes)
                    if frame not in yielded:
                        yielded.add(frame)
                        yield from results
                    if should_stop is not None and should_stop():
                        return
                    absent = absent + 1 if max(scores) < self.backend.object_score_threshold else 0
                    ahead = any((k > frame) if step > 0 else (k < frame) for k in keyframes)
                    if absent >= self.backend.stop_after and not ahead:
                        log.debug("object gone for %d slices at slice %d: stopping %s", absent, frame,
                                  "backwards" if reverse else "forwards")
                        break
            finally:
                gen.close()
                autocast.__exit__(None, None, None)

    def _memory_window(self) -> int:
        """How many slices back sam2 can still look (memory frames and object pointers), plus one."""
        p = self.predictor
        return max(p.max_obj_ptrs_in_encoder, p.num_maskmem * max(1, p.memory_temporal_stride_for_eval)) + 1

    def _forget(self, frame: int, window: int, keyframes: list[int]) -> None:
        """Drop sam2's stored output of ``frame`` unless it is near a prompted slice (needed by later passes)."""
        if frame < 0 or frame >= self.view.n_slices or any(abs(frame - k) <= window for k in keyframes):
            return
        for obj_output in self.state["output_dict_per_obj"].values():
            obj_output["non_cond_frame_outputs"].pop(frame, None)

    def clear_object(self, object_id: int) -> None:
        """Forget every prompt and result of ``object_id``; other objects keep theirs."""
        if self.state is None:
            raise BackendError("This SAM 2 session is closed; open a new one.")
        with self._model_call():
            self.predictor.remove_object(self.state, int(object_id), strict=False, need_output=False)
        self._keyframes.pop(int(object_id), None)
        for key in [k for k in self._points if k[0] == int(object_id)]:
            del self._points[key]

    def close(self) -> None:
        """Release frames, embeddings and sam2's per-session memory."""
        if self.state is not None:
            self.state.clear()
        self.state = None
        self.frames.clear()
        self._points.clear()
        self._keyframes.clear()
