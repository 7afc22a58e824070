"""The SegAssist workflow on Slicer's MRML nodes: everything the SegAssist panel does, without Qt.

The Slicer module's ``SegAssistLogic`` holds one :class:`SegAssistWorkflow` (``logic.workflow``), so the
panel, the Python console inside Slicer and headless scripts (slicer-core, see
:func:`SegAssistLib.slicer.scene.headless_workflow`) run one implementation. Voxels move in and out of
nodes only through :mod:`SegAssistLib.slicer.nodes`; prompts come from :mod:`SegAssistLib.slicer.prompts`;
files through :mod:`SegAssistLib.slicer.exchange`; views through :mod:`SegAssistLib.slicer.views`; undo
through :mod:`SegAssistLib.slicer.undo` (SegAssist's own stack: the scene's undo setting is left alone).
The maths is in the engine (:mod:`SegAssistLib.engine.segmentation_engine`) and the interpolation package.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from SegAssistLib.core.colors import segment_color as default_segment_color
from SegAssistLib.core.segmentation import Segment, Segmentation, Terminology
from SegAssistLib.core.volume import Volume
from SegAssistLib.errors import PromptError, SegAssistError
from SegAssistLib.slicer import exchange, nodes, views
from SegAssistLib.slicer.prompts import combine_prompts, markups_from_node
from SegAssistLib.slicer.remote import ServerSetting, normalize_url
from SegAssistLib.slicer.undo import UndoStack

#: Node attribute set on volumes loaded from a DICOM folder: where their series lives (for DICOM SEG export).
DICOM_FOLDER_ATTRIBUTE = exchange.DICOM_FOLDER_ATTRIBUTE
#: Segment attribute listing the slices SegAssist used as keyframes, "<plane> <index>;..." (e.g.
#: "axial 12;axial 20"); stripped from exported files.
KEYFRAMES_TAG = exchange.KEYFRAMES_TAG

Progress = Callable[[int, int], None]


class SegAssistWorkflow:
    """Volume, segmentation and prompt nodes in a scene, driven through one :class:`SegmentationEngine` per
    volume. Every change SegAssist makes to a segmentation node is one step of :meth:`undo`.

    ``extrapolate`` (default True): the panel's Propagate continues past the first/last prompted slice, with
    the engine's guards (stops where the area grows or the confidence drops); False keeps every segment
    within its outermost keyframes."""

    extrapolate: bool = True

    def __init__(self, scene: Any = None, backend: str = "classical", backend_options: dict | None = None,
                 interpolation_method: str = "sdf", undo_limit: int = 30, server: str | None = None,
                 api_key: str | None = None):
        self._scene = scene
        self.server = ServerSetting(normalize_url(server), api_key or None)  # key in memory only (slicer.remote)
        self.backend_name = backend
        self.backend_options = dict(backend_options or {})
        self.interpolation_method = interpolation_method
        self._engines: dict[str, tuple[Any, tuple, int]] = {}
        self.last_result: Any = None
        self.history = UndoStack(undo_limit)
        self._running = 0
        self._reset_requested = False

    # ---- scene and settings ------------------------------------------------------------------------------
    @property
    def scene(self) -> Any:
        """The MRML scene (default: ``slicer.mrmlScene``)."""
        if self._scene is None:
            scene = getattr(nodes.slicer_modules()[0], "mrmlScene", None)
            if scene is None:
                raise SegAssistError("No MRML scene: pass one to SegAssistWorkflow(scene), use "
                                     "SegAssistLib.slicer.scene.headless_workflow(), or run inside Slicer.")
            return scene
        return self._scene

    @property
    def busy(self) -> bool:
        """True while a propagation runs (the panel disables its other buttons)."""
        return self._running > 0

    def set_backend(self, name: str, **options: Any) -> None:
        """Choose the backend ("classical", "sam2" or a registered one) and its options (e.g. model, checkpoint);
        open engines are closed, so the next prompt starts fresh."""
        from SegAssistLib.backends.registry import available_backends

        if name not in available_backends():
            raise SegAssistError(f"Unknown backend {name!r}; available: {', '.join(available_backends())}.")
        self.backend_name = name
        self.backend_options = dict(options)
        self.reset()

    def set_server(self, url: str | None, api_key: str | None = None) -> None:
        """Run the engine on the SegAssist server at ``url`` (``http://host:port``) with ``api_key``, or
        in-process for an empty URL. On a change, open engines (and remote sessions) are closed (:mod:`.remote`)."""
        setting = ServerSetting(normalize_url(url), api_key or None)
        if setting != self.server:
            self.server = setting
            self.reset()

    def reset(self) -> None:
        """Forget every engine (prompts, keyframes, cached propagation) and the undo history (e.g. the scene
        closes). During a propagation the reset is deferred: the run is cancelled at its next slice, writes
        nothing, and the engines are closed after it stopped, never under it."""
        if self._running:
            self._reset_requested = True
            return
        for engine, _, _ in self._engines.values():
            engine.close()
        self._engines.clear()
        self.last_result = None
        self.history.clear()
        self._reset_requested = False

    def engine(self, volume_node: Any) -> Any:
        """The :class:`~SegAssistLib.engine.segmentation_engine.SegmentationEngine` of a volume node, or its
        :class:`~SegAssistLib.server.client.RemoteEngine` when a server is set (new when the voxels, the
        backend or the server changed)."""
        from SegAssistLib.engine.segmentation_engine import SegmentationEngine

        require(volume_node, "vtkMRMLScalarVolumeNode", "input volume")
        key = volume_node.GetID()
        signature = (self.backend_name, tuple(sorted((k, repr(v)) for k, v in self.backend_options.items())),
                     self.server)
        mtime = int(volume_node.GetImageData().GetMTime()) if volume_node.GetImageData() else 0
        held = self._engines.get(key)
        if held is not None and held[1] == signature and held[2] == mtime:
            held[0].extrapolate = self.extrapolate
            return held[0]
        if held is not None:
            held[0].close()
        if self.server.remote:
            engine = self.server.engine(self.volume(volume_node))
            engine.extrapolate = self.extrapolate
        else:
            engine = SegmentationEngine(self.volume(volume_node), self.backend_name, self.backend_options,
                                        extrapolate=self.extrapolate)
        self._engines[key] = (engine, signature, mtime)
        return engine

    # ---- volumes -----------------------------------------------------------------------------------------
    def load_volume(self, path: str | os.PathLike, name: str | None = None, series_uid: str | None = None) -> Any:
        """Read a volume file or DICOM folder (SegAssist's readers) into a new scalar volume node."""
        return exchange.load_volume(self.scene, path, name, series_uid)

    def volume(self, volume_node: Any) -> Volume:
        """The node's voxels and geometry as a :class:`Volume` (a copy)."""
        require(volume_node, "vtkMRMLScalarVolumeNode", "input volume")
        return nodes.volume_from_volume_node(volume_node)

    # ---- segmentations and segments ----------------------------------------------------------------------
    def create_segmentation(self, volume_node: Any, name: str | None = None) -> Any:
        """A new segmentation node (with display) whose geometry follows ``volume_node``."""
        require(volume_node, "vtkMRMLScalarVolumeNode", "input volume")
        node = self.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", name or f"{volume_node.GetName()} segmentation")
        node.CreateDefaultDisplayNodes()
        node.SetReferenceImageGeometryParameterFromVolumeNode(volume_node)
        return node

    def read_segmentation(self, segmentation_node: Any, volume_node: Any) -> Segmentation:
        """The node's segments on ``volume_node``'s grid."""
        require(segmentation_node, "vtkMRMLSegmentationNode", "segmentation")
        return nodes.read_segmentation_from_node(segmentation_node, volume_node)

    def write_segmentation(self, segmentation: Segmentation, segmentation_node: Any, volume_node: Any,
                           segment_ids: Sequence[str] | None = None, label: str = "Edit segments") -> dict:
        """Write ``segment_ids`` (default all) of ``segmentation`` into the node as ONE undo step (only what
        changed is rewritten). Returns {segment id: rewritten extent or None}."""
        return self.history.record(label, segmentation_node, volume_node, lambda previous: nodes.write_segmentation_to_node(
            segmentation, segmentation_node, volume_node, segment_ids, undo=False, previous=previous))

    def reference_volume(self, segmentation_node: Any) -> Any:
        """The volume node a segmentation was created on (its reference geometry)."""
        require(segmentation_node, "vtkMRMLSegmentationNode", "segmentation")
        node = segmentation_node.GetNodeReference(segmentation_node.GetReferenceImageGeometryReferenceRole())
        if node is None:
            raise SegAssistError(
                f"Segmentation {segmentation_node.GetName()!r} has no reference volume: create it with "
                "create_segmentation(volume) or pass volume_node."
            )
        return node

    def add_segment(self, segmentation_node: Any, name: str, color: Sequence[float] | None = None,
                    terminology: Terminology | str | None = None, volume_node: Any = None) -> str:
        """Add an empty segment (name, colour in 0..1, terminology object or Slicer string); returns its id."""
        require(segmentation_node, "vtkMRMLSegmentationNode", "segmentation")
        if not name or not str(name).strip():
            raise SegAssistError("A segment needs a name (e.g. 'Tumor').")
        if isinstance(terminology, str):
            terminology = Terminology.from_slicer_string(terminology)
        volume_node = volume_node or self.reference_volume(segmentation_node)
        vtk_seg = segmentation_node.GetSegmentation()
        segment_id = vtk_seg.GenerateUniqueSegmentID(str(name).replace(" ", "_"))
        if color is None:
            color = default_segment_color(vtk_seg.GetNumberOfSegments())
        segmentation = Segmentation(*nodes.grid_of(volume_node))
        segmentation.add_segment(Segment(segment_id, str(name), tuple(color), terminology))
        self.write_segmentation(segmentation, segmentation_node, volume_node, [segment_id], f"Add segment {name}")
        return segment_id

    def set_segment_terminology(self, segmentation_node: Any, segment_id: str, terminology: Terminology | str,
                                color: Sequence[float] | None = None) -> None:
        """Change a segment's terminology (and optionally colour), as one undo step."""
        if isinstance(terminology, str):
            terminology = Terminology.from_slicer_string(terminology)
        volume_node = self.reference_volume(segmentation_node)
        seg = self.read_segmentation(segmentation_node, volume_node)
        segment = seg.segment(segment_id)
        segment.terminology = terminology
        if color is not None:
            segment.color = tuple(float(c) for c in color)  # type: ignore[assignment]
        self.write_segmentation(seg, segmentation_node, volume_node, [segment_id], f"Terminology of {segment.name}")

    def segment_mask(self, segmentation_node: Any, segment_id: str, volume_node: Any) -> np.ndarray:
        """A segment's bool (k, j, i) mask on the volume's grid."""
        return nodes.read_segment_mask(segmentation_node, segment_id, volume_node)

    # ---- prompts ---------------------------------------------------------------------------------------
    def create_prompt_node(self, segment_name: str, negative: bool = False, color: Sequence[float] | None = None) -> Any:
        """A point list for a segment's prompts (named "<segment> (negative)" for negative points)."""
        name = f"{segment_name} (negative)" if negative else segment_name
        node = self.scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", name)
        node.CreateDefaultDisplayNodes()
        display = node.GetDisplayNode()
        if display is not None:
            display.SetSelectedColor(*(color or ((0.9, 0.1, 0.1) if negative else (0.1, 0.8, 0.1))))
        return node

    def create_box_node(self, segment_name: str) -> Any:
        """An ROI node to drag as the box prompt of a segment (not a prompt until it is placed)."""
        node = self.scene.AddNewNodeByClass("vtkMRMLMarkupsROINode", f"{segment_name} box")
        node.CreateDefaultDisplayNodes()
        return node

    def segment_slice(self, volume_node: Any, segmentation_node: Any, segment_id: str, prompt_nodes: Sequence[Any],
                      plane: str = "axial", slice_index: int | None = None) -> tuple[int, np.ndarray]:
        """Apply the prompts of ``prompt_nodes`` (point lists, one ROI; unplaced ones are ignored) on one slice
        of ``plane``: the slice the points lie on, or ``slice_index``. The slice's mask is written into the
        segment (one undo step) and kept by the engine as a keyframe for :meth:`propagate`.
        Returns (slice index, 2D mask)."""
        pts, labels, box = combine_prompts(markups_from_node(n) for n in prompt_nodes if n is not None)
        return self.segment_slice_ras(volume_node, segmentation_node, segment_id, pts, labels, box, plane, slice_index)

    def segment_slice_ras(self, volume_node: Any, segmentation_node: Any, segment_id: str,
                          points_ras: np.ndarray | Sequence = (), labels: Sequence[int] = (),
                          box_ras: tuple[Sequence[float], Sequence[float]] | None = None, plane: str = "axial",
                          slice_index: int | None = None) -> tuple[int, np.ndarray]:
        """:meth:`segment_slice` with prompts given as RAS arrays instead of markups nodes."""
        seg = self.read_segmentation(segmentation_node, volume_node)
        seg.segment(segment_id)  # raises for an unknown id before any work
        engine = self.engine(volume_node)
        pts = np.asarray(points_ras, dtype=float).reshape(-1, 3)
        mask2d = None
        if box_ras is not None:
            slice_index, mask2d = engine.add_box(segment_id, box_ras[0], box_ras[1], plane, slice_index)
        if len(pts):
            slice_index, mask2d = engine.add_points(segment_id, pts, labels if len(labels) else None, plane, slice_index)
        if mask2d is None:
            raise PromptError("No prompt given: place at least one point or an ROI.")
        mask3d = seg.mask(segment_id).copy()
        engine.view(plane).write_slice(mask3d, slice_index, mask2d)
        seg.set_mask(segment_id, mask3d)
        self._note_keyframes(seg, segment_id, engine)
        self.write_segmentation(seg, segmentation_node, volume_node, [segment_id],
                                f"Segment {plane} slice {slice_index} of {seg.segment(segment_id).name}")
        return int(slice_index), mask2d

    def lock_slice(self, volume_node: Any, segmentation_node: Any, segment_id: str, plane: str, slice_index: int) -> np.ndarray:
        """Use the segment's current slice (e.g. drawn with the Segment Editor) as a locked, hand-drawn keyframe."""
        engine = self.engine(volume_node)
        mask2d = np.array(engine.view(plane).slice(slice_index, self.segment_mask(segmentation_node, segment_id, volume_node)))
        engine.set_keyframe_mask(segment_id, plane, slice_index, mask2d)
        return mask2d

    def lock_slice_in_view(self, volume_node: Any, segmentation_node: Any, segment_id: str, plane: str) -> int:
        """:meth:`lock_slice` for the slice a slice view of ``plane`` shows; returns its index."""
        slice_node = views.slice_node_for_plane(self.scene, plane)
        if slice_node is None:
            raise SegAssistError(f"No slice view shows the {plane} plane: choose a layout with one (or another plane).")
        k = views.slice_index_in_view(self.engine(volume_node).view(plane), slice_node)
        self.lock_slice(volume_node, segmentation_node, segment_id, plane, k)
        return k

    @staticmethod
    def _note_keyframes(seg: Segmentation, segment_id: str, engine: Any) -> None:
        kfs = engine.keyframes(segment_id)
        seg.segment(segment_id).attributes[KEYFRAMES_TAG] = ";".join(f"{k.plane} {k.slice_index}" for k in kfs)

    # ---- propagation and interpolation -----------------------------------------------------------------
    def propagate(self, volume_node: Any, segmentation_node: Any, segment_id: str, progress: Progress | None = None,
                  should_stop: Callable[[], bool] | None = None) -> Any:
        """Propagate the segment's keyframes through the volume and write the 3D mask as ONE undo step.

        ``progress(done, total)`` is called after every slice (the panel processes UI events there) and
        ``should_stop()`` is polled with it; when it returns True (or :meth:`reset` was called meanwhile, e.g.
        the scene closes), :class:`SegAssistLib.engine.segmentation_engine.Cancelled` is raised and the
        segmentation is left as it was. Returns the engine's result, also kept as :attr:`last_result`.
        """
        seg = self.read_segmentation(segmentation_node, volume_node)
        seg.segment(segment_id)
        engine = self.engine(volume_node)
        # A progress bar needs done <= total.
        report = None if progress is None else (lambda done, total: progress(done, max(total, done)))

        def stop() -> bool:
            return self._reset_requested or bool(should_stop and should_stop())

        self._running += 1
        try:
            result = engine.run(segment_id, progress=report, should_stop=stop)
            if self._reset_requested:  # reset() came from the last progress call: write nothing
                from SegAssistLib.engine.segmentation_engine import Cancelled

                raise Cancelled("The scene was closed during propagation; nothing was written.")
            seg.set_mask(segment_id, result.mask)
            self._note_keyframes(seg, segment_id, engine)
            self.write_segmentation(seg, segmentation_node, volume_node, [segment_id],
                                    f"Propagate {seg.segment(segment_id).name}")
        finally:
            self._running -= 1
            if self._reset_requested and not self._running:
                self.reset()
        self.last_result = result
        return result

    def interpolate(self, volume_node: Any, segmentation_node: Any, segment_id: str, plane: str = "auto",
                    method: str | None = None) -> np.ndarray:
        """Fill the slices between the segment's drawn/segmented slices (keyframes), as one undo step.
        Returns the indices of the keyframe slices used."""
        from SegAssistLib.operations.interpolate import interpolate_segmentation

        seg = self.read_segmentation(segmentation_node, volume_node)
        name = seg.segment(segment_id).name
        # The operations layer's rule (one for the CLI, batch and the panel); one segment, so no overlap question.
        (plan,) = interpolate_segmentation(seg, plane, [segment_id], method or self.interpolation_method,
                                           require_keyframes=True)
        self.write_segmentation(seg, segmentation_node, volume_node, [segment_id], f"Interpolate {name}")
        return np.asarray(plan.keyframes)

    def slices_to_review(self, limit: int = 20, threshold: float = 0.5) -> list[tuple[str, int, str]]:
        """(plane, slice index, why) of the last propagation's slices to check first (:func:`views.review_slices`)."""
        return views.review_slices(self.last_result, limit, threshold)

    def show_slice(self, volume_node: Any, plane: str, slice_index: int) -> bool:
        """Move the slice view of ``plane`` to ``slice_index`` of the volume; False when no view shows it."""
        return views.show_slice(self.scene, self.engine(volume_node).view(plane), slice_index) is not None

    # ---- import / export (SegAssistLib.slicer.exchange) ---------------------------------------------------
    def export_segmentation(self, segmentation_node: Any, path: str | os.PathLike, volume_node: Any = None,
                            reference: str | os.PathLike | None = None, segment_ids: Sequence[str] | None = None) -> list[Path]:
        """Write the node as .seg.nrrd, a labelmap (.nrrd/.nii.gz + colour table) or DICOM SEG (.dcm)."""
        return exchange.export_segmentation(self, segmentation_node, path, volume_node, reference, segment_ids)

    def import_segmentation(self, path: str | os.PathLike, volume_node: Any, segmentation_node: Any = None) -> Any:
        """Read .seg.nrrd / labelmap / DICOM SEG onto the volume's grid into a (new) segmentation node."""
        return exchange.import_segmentation(self, path, volume_node, segmentation_node)

    def import_ontology(self, path: str | os.PathLike, segmentation_node: Any, fmt: str | None = None) -> list[str]:
        """Apply an ontology's classes to the segments (one undo step); returns the ids of segments added."""
        return exchange.import_ontology(self, path, segmentation_node, fmt)

    def export_ontology(self, segmentation_node: Any, path: str | os.PathLike, fmt: str | None = None) -> Path:
        """Write the segments' classes (names, colours, terminology) in an ontology format."""
        return exchange.export_ontology(self, segmentation_node, path, fmt)

    def export_2d_dataset(self, volume_node: Any, segmentation_node: Any, path: str | os.PathLike,
                          plane: str = "axial", only_annotated: bool = True, **options: Any) -> list[Path]:
        """Slices of the volume with their segments as a 2D dataset (format from the file name)."""
        return exchange.export_2d_dataset(self, volume_node, segmentation_node, path, plane, only_annotated, **options)

    def import_2d_dataset(self, path: str | os.PathLike, name: str | None = None, **options: Any) -> tuple[Any, Any]:
        """A 2D dataset as a volume node (images stacked as slices) and a segmentation node."""
        return exchange.import_2d_dataset(self, path, name, **options)

    # ---- views (SegAssistLib.slicer.views) ----------------------------------------------------------------
    plane_of_slice_node = staticmethod(views.plane_of_slice_node)

    def plane_at_point(self, ras: Sequence[float], default: str = "axial") -> str:
        """The plane of the slice view the point lies in (the view the user clicked in), else ``default``."""
        return views.plane_at_point(self.scene, ras, default)

    # ---- undo --------------------------------------------------------------------------------------------
    @property
    def undo_levels(self) -> int:
        """How many SegAssist steps :meth:`undo` can revert."""
        return len(self.history)

    def undo(self) -> bool:
        """Revert the last SegAssist change (a slice, a propagation, an interpolation, an import) of any
        segmentation node; False when there is none. Other scene changes are not touched."""
        return self.history.undo() is not None

    def redo(self) -> bool:
        """Re-apply the last undone SegAssist change; False when there is none."""
        return self.history.redo() is not None


def require(node: Any, cls: str, what: str) -> None:
    """A clear error when ``node`` is missing or not a ``cls`` (e.g. no volume chosen in the panel)."""
    if node is None:
        raise SegAssistError(f"No {what} selected: choose one in the SegAssist panel (or pass a node).")
    if not node.IsA(cls):
        raise SegAssistError(f"The {what} {node.GetName()!r} is a {node.GetClassName()}, not a {cls}.")
