"""The SegAssist workflow on Slicer's MRML nodes: everything the SegAssist panel does, without Qt.

The Slicer module's ``SegAssistLogic`` is a thin subclass of :class:`SegAssistWorkflow`, so the panel, the
Python console inside Slicer and the headless tests (slicer-core) run one implementation::

    wf = SegAssistWorkflow()                                  # slicer.mrmlScene, classical backend
    volume = wf.load_volume("lung2_image.nrrd")               # or a DICOM folder
    seg = wf.create_segmentation(volume)
    tumour = wf.add_segment(seg, "Tumor", color=(0.9, 0.3, 0.2))
    points = wf.create_prompt_node("Tumor")                   # place points in any slice view
    wf.segment_slice(volume, seg, tumour, [points], plane="axial")   # the clicked slice, one undo step
    wf.propagate(volume, seg, tumour, progress=print)         # whole volume, one undo step
    wf.interpolate(volume, seg, tumour)                       # fill between keyframes, one undo step
    wf.export_segmentation(seg, "tumor.seg.nrrd", volume)     # or .dcm (DICOM SEG), .nii.gz (labelmap)
    wf.undo()                                                 # back to before the interpolation

Voxels move in and out of nodes only through :mod:`SegAssistLib.slicer.nodes`; the maths is in the engine
(:mod:`SegAssistLib.engine.segmentation_engine`), the interpolation package and the readers/writers. Prompt conventions
(negative points, point-list names, ROIs as boxes) are those of :mod:`SegAssistLib.io.markups`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from SegAssistLib.errors import PromptError, SegAssistError
from SegAssistLib.io.markups import MarkupPrompt, is_negative_list_name, point_is_negative, segment_name_of_list
from SegAssistLib.core.segmentation import Segment, Segmentation, Terminology
from SegAssistLib.core.volume import Volume

log = logging.getLogger(__name__)

#: Node attribute set on volumes loaded from a DICOM folder: where their series lives (for DICOM SEG export).
DICOM_FOLDER_ATTRIBUTE = "SegAssist.DICOMFolder"
#: Segment tag recording which slices SegAssist treated as keyframes ("axial:12,axial:20").
KEYFRAMES_TAG = "SegAssist.Keyframes"

Progress = Callable[[int, int], None]


def _slicer() -> Any:
    from SegAssistLib.slicer.nodes import _modules

    return _modules()[0]


# ---- markups nodes -> prompts -----------------------------------------------------------------------------
def markups_from_node(node: Any) -> MarkupPrompt:
    """A :class:`MarkupPrompt` (RAS, world coordinates) from a point-list or ROI markups node.

    Same conventions as ``.mrk.json`` files: a point is negative when its label starts with ``-`` or its
    description says "negative"/"exclude", or when the list's name ends with ``-`` / ``(negative)``; an ROI
    is a box given by its world-space bounds. Points not yet placed are ignored.
    """
    if node is None:
        raise PromptError("No markups node given: place points or an ROI first.")
    name = node.GetName() or "Segment_1"
    if node.IsA("vtkMRMLMarkupsROINode"):
        bounds = [0.0] * 6
        node.GetRASBounds(bounds)
        lo, hi = np.array(bounds[0::2]), np.array(bounds[1::2])
        if not np.all(np.isfinite(bounds)) or np.any(hi < lo):
            raise PromptError(f"ROI {name!r} is not placed yet: drag it over the object in a slice view.")
        return MarkupPrompt(segment_name_of_list(name), box_ras=(lo, hi), source=node.GetID() or name)
    if not node.IsA("vtkMRMLMarkupsFiducialNode"):
        raise PromptError(f"Node {name!r} ({node.GetClassName()}) is not a point list or an ROI; use those as prompts.")
    negative_list = is_negative_list_name(name)
    points, labels = [], []
    for n in range(node.GetNumberOfControlPoints()):
        if node.GetNthControlPointPositionStatus(n) != node.PositionDefined:
            continue
        pos = [0.0, 0.0, 0.0]
        node.GetNthControlPointPositionWorld(n, pos)
        negative = negative_list or point_is_negative(
            node.GetNthControlPointLabel(n) or "", node.GetNthControlPointDescription(n) or ""
        )
        points.append(pos)
        labels.append(0 if negative else 1)
    return MarkupPrompt(
        segment_name_of_list(name), np.array(points, dtype=float).reshape(-1, 3), np.array(labels, dtype=int),
        None, node.GetID() or name,
    )


def combine_prompts(prompts: Iterable[MarkupPrompt]) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
    """Points (N, 3), labels (N,) and the box of several markups, for one slice of one segment."""
    points, labels, boxes = [], [], []
    for p in prompts:
        if len(p.points_ras):
            points.append(np.asarray(p.points_ras, dtype=float).reshape(-1, 3))
            labels.append(np.asarray(p.labels, dtype=int).reshape(-1))
        if p.box_ras is not None:
            boxes.append(p.box_ras)
    if len(boxes) > 1:
        raise PromptError(f"{len(boxes)} ROIs given; a slice takes one box prompt. Remove the extra ROIs.")
    pts = np.concatenate(points) if points else np.zeros((0, 3))
    labs = np.concatenate(labels) if labels else np.zeros((0,), dtype=int)
    if len(pts) == 0 and not boxes:
        raise PromptError("The markups hold no placed points and no ROI: place a point or an ROI on the object.")
    if len(pts) and not (labs == 1).any() and not boxes:
        raise PromptError("Only negative points were given: place at least one positive point (or an ROI) on the object.")
    return pts, labs, (boxes[0] if boxes else None)


# ---- the workflow -----------------------------------------------------------------------------------------
class SegAssistWorkflow:
    """Volume, segmentation and prompt nodes in a scene, driven through one :class:`SegmentationEngine` per
    volume. Every change to a segmentation node is one undo step (``undo()`` reverts it).

    ``extrapolate`` (default True): the panel's Propagate continues past the first/last prompted slice, with
    the engine's guards (stops where the area grows or the confidence drops); False keeps every segment
    within its outermost keyframes."""

    extrapolate: bool = True

    def __init__(self, scene: Any = None, backend: str = "classical", backend_options: dict | None = None,
                 undo: bool = True, interpolation_method: str = "sdf"):
        self._scene = scene
        self.backend_name = backend
        self.backend_options = dict(backend_options or {})
        self.interpolation_method = interpolation_method
        self._engines: dict[str, tuple[Any, tuple, int]] = {}
        self.last_result: Any = None
        self._undo = undo

    # ---- scene and settings ------------------------------------------------------------------------------
    @property
    def scene(self) -> Any:
        """The MRML scene (default: ``slicer.mrmlScene``)."""
        if self._scene is None:
            slicer = _slicer()
            scene = getattr(slicer, "mrmlScene", None)
            if scene is None:
                raise SegAssistError("No MRML scene: pass one to SegAssistWorkflow(scene) or run inside Slicer.")
            return scene
        return self._scene

    def _begin_undoable(self) -> None:
        if self._undo and not self.scene.GetUndoFlag():
            self.scene.SetUndoOn()

    def set_backend(self, name: str, **options: Any) -> None:
        """Choose the backend ("classical", "sam2" or a registered one) and its options (e.g. model, checkpoint);
        open engines are closed, so the next prompt starts fresh."""
        from SegAssistLib.backends.registry import available_backends

        if name not in available_backends():
            raise SegAssistError(f"Unknown backend {name!r}; available: {', '.join(available_backends())}.")
        self.backend_name = name
        self.backend_options = dict(options)
        self.reset()

    def reset(self) -> None:
        """Forget every engine (prompts, keyframes, cached propagation)."""
        for engine, _, _ in self._engines.values():
            engine.close()
        self._engines.clear()
        self.last_result = None

    def engine(self, volume_node: Any) -> Any:
        """The :class:`~SegAssistLib.engine.segmentation_engine.SegmentationEngine` of a volume node (new when the voxels or the
        backend changed)."""
        from SegAssistLib.engine.segmentation_engine import SegmentationEngine

        self._require(volume_node, "vtkMRMLScalarVolumeNode", "input volume")
        key = volume_node.GetID()
        signature = (self.backend_name, tuple(sorted((k, repr(v)) for k, v in self.backend_options.items())))
        mtime = int(volume_node.GetImageData().GetMTime()) if volume_node.GetImageData() else 0
        held = self._engines.get(key)
        if held is not None and held[1] == signature and held[2] == mtime:
            held[0].extrapolate = self.extrapolate
            return held[0]
        if held is not None:
            held[0].close()
        engine = SegmentationEngine(self.volume(volume_node), self.backend_name, self.backend_options,
                                    extrapolate=self.extrapolate)
        self._engines[key] = (engine, signature, mtime)
        return engine

    @staticmethod
    def _require(node: Any, cls: str, what: str) -> None:
        if node is None:
            raise SegAssistError(f"No {what} selected: choose one in the SegAssist panel (or pass a node).")
        if not node.IsA(cls):
            raise SegAssistError(f"The {what} {node.GetName()!r} is a {node.GetClassName()}, not a {cls}.")

    # ---- volumes -----------------------------------------------------------------------------------------
    def load_volume(self, path: str | os.PathLike, name: str | None = None, series_uid: str | None = None) -> Any:
        """Read a volume file or DICOM folder (SegAssist's readers) into a new scalar volume node."""
        from SegAssistLib.io.volumes import read_volume
        from SegAssistLib.slicer.nodes import volume_node_from_volume

        p = Path(path)
        volume = read_volume(p, series_uid)
        node_name = name or (p.name if p.is_dir() else p.name.split(".")[0])
        node = volume_node_from_volume(self.scene, volume, node_name)
        node.CreateDefaultDisplayNodes()
        if p.is_dir():
            node.SetAttribute(DICOM_FOLDER_ATTRIBUTE, str(p.resolve()))
        return node

    def volume(self, volume_node: Any) -> Volume:
        """The node's voxels and geometry as a :class:`Volume` (a copy)."""
        from SegAssistLib.slicer.nodes import volume_from_volume_node

        self._require(volume_node, "vtkMRMLScalarVolumeNode", "input volume")
        return volume_from_volume_node(volume_node)

    # ---- segmentations and segments ----------------------------------------------------------------------
    def create_segmentation(self, volume_node: Any, name: str | None = None) -> Any:
        """A new segmentation node (with display) whose geometry follows ``volume_node``."""
        self._require(volume_node, "vtkMRMLScalarVolumeNode", "input volume")
        node = self.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", name or f"{volume_node.GetName()} segmentation")
        node.CreateDefaultDisplayNodes()
        node.SetReferenceImageGeometryParameterFromVolumeNode(volume_node)
        return node

    def read_segmentation(self, segmentation_node: Any, volume_node: Any) -> Segmentation:
        """The node's segments on ``volume_node``'s grid."""
        from SegAssistLib.slicer.nodes import read_segmentation_from_node

        self._require(segmentation_node, "vtkMRMLSegmentationNode", "segmentation")
        return read_segmentation_from_node(segmentation_node, volume_node)

    def _write(self, segmentation: Segmentation, segmentation_node: Any, volume_node: Any,
               segment_ids: Sequence[str] | None = None) -> dict:
        from SegAssistLib.slicer.nodes import write_segmentation_to_node

        self._begin_undoable()
        return write_segmentation_to_node(segmentation, segmentation_node, volume_node, segment_ids, undo=self._undo)

    def add_segment(self, segmentation_node: Any, name: str, color: Sequence[float] | None = None,
                    terminology: Terminology | str | None = None, volume_node: Any = None) -> str:
        """Add an empty segment (name, colour in 0..1, terminology object or Slicer string); returns its id."""
        self._require(segmentation_node, "vtkMRMLSegmentationNode", "segmentation")
        if not name or not str(name).strip():
            raise SegAssistError("A segment needs a name (e.g. 'Tumor').")
        if isinstance(terminology, str):
            terminology = Terminology.from_slicer_string(terminology)
        volume_node = volume_node or self._reference_volume(segmentation_node)
        vtk_seg = segmentation_node.GetSegmentation()
        segment_id = vtk_seg.GenerateUniqueSegmentID(str(name).replace(" ", "_"))
        if color is None:
            color = _default_color(vtk_seg.GetNumberOfSegments())
        segmentation = Segmentation(*self._grid(volume_node))
        segmentation.add_segment(Segment(segment_id, str(name), tuple(color), terminology))
        self._write(segmentation, segmentation_node, volume_node, [segment_id])
        return segment_id

    def set_segment_terminology(self, segmentation_node: Any, segment_id: str, terminology: Terminology | str,
                                color: Sequence[float] | None = None) -> None:
        """Change a segment's terminology (and optionally colour), as one undo step."""
        if isinstance(terminology, str):
            terminology = Terminology.from_slicer_string(terminology)
        volume_node = self._reference_volume(segmentation_node)
        seg = self.read_segmentation(segmentation_node, volume_node)
        segment = seg.segment(segment_id)
        segment.terminology = terminology
        if color is not None:
            segment.color = tuple(float(c) for c in color)  # type: ignore[assignment]
        self._write(seg, segmentation_node, volume_node, [segment_id])

    def _reference_volume(self, segmentation_node: Any) -> Any:
        node = segmentation_node.GetNodeReference(segmentation_node.GetReferenceImageGeometryReferenceRole())
        if node is None:
            raise SegAssistError(
                f"Segmentation {segmentation_node.GetName()!r} has no reference volume: create it with "
                "create_segmentation(volume) or pass volume_node."
            )
        return node

    @staticmethod
    def _grid(volume_node: Any) -> tuple[tuple[int, int, int], np.ndarray]:
        from SegAssistLib.slicer.nodes import _grid_of

        return _grid_of(volume_node)

    def segment_mask(self, segmentation_node: Any, segment_id: str, volume_node: Any) -> np.ndarray:
        """A segment's bool (k, j, i) mask on the volume's grid."""
        return self.read_segmentation(segmentation_node, volume_node).mask(segment_id)

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
        """An ROI node to drag as the box prompt of a segment."""
        node = self.scene.AddNewNodeByClass("vtkMRMLMarkupsROINode", f"{segment_name} box")
        node.CreateDefaultDisplayNodes()
        return node

    def segment_slice(self, volume_node: Any, segmentation_node: Any, segment_id: str, prompt_nodes: Sequence[Any],
                      plane: str = "axial", slice_index: int | None = None) -> tuple[int, np.ndarray]:
        """Apply the prompts of ``prompt_nodes`` (point lists, one ROI) on one slice of ``plane``.

        The slice is the one the points lie on (or ``slice_index``, e.g. the slice shown in the view the user
        clicked in). The slice's new mask is written into the segment (one undo step) and kept by the engine as
        a keyframe for :meth:`propagate`. Returns (slice index, 2D mask).
        """
        pts, labels, box = combine_prompts(markups_from_node(n) for n in prompt_nodes)
        return self.segment_slice_ras(volume_node, segmentation_node, segment_id, pts, labels, box, plane, slice_index)

    def segment_slice_ras(self, volume_node: Any, segmentation_node: Any, segment_id: str,
                          points_ras: np.ndarray | Sequence = (), labels: Sequence[int] = (),
                          box_ras: tuple[Sequence[float], Sequence[float]] | None = None, plane: str = "axial",
                          slice_index: int | None = None) -> tuple[int, np.ndarray]:
        """:meth:`segment_slice` with prompts given as RAS arrays instead of markups nodes."""
        self._require(segmentation_node, "vtkMRMLSegmentationNode", "segmentation")
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
        self._write(seg, segmentation_node, volume_node, [segment_id])
        return int(slice_index), mask2d

    def lock_slice(self, volume_node: Any, segmentation_node: Any, segment_id: str, plane: str, slice_index: int) -> np.ndarray:
        """Use the segment's current slice (e.g. drawn with the Segment Editor) as a locked, hand-drawn keyframe."""
        engine = self.engine(volume_node)
        mask2d = np.array(engine.view(plane).slice(slice_index, self.segment_mask(segmentation_node, segment_id, volume_node)))
        engine.set_keyframe_mask(segment_id, plane, slice_index, mask2d)
        return mask2d

    @staticmethod
    def _note_keyframes(seg: Segmentation, segment_id: str, engine: Any) -> None:
        kfs = engine.keyframes(segment_id)
        seg.segment(segment_id).attributes[KEYFRAMES_TAG] = ";".join(f"{k.plane} {k.slice_index}" for k in kfs)

    # ---- propagation and interpolation -----------------------------------------------------------------
    def propagate(self, volume_node: Any, segmentation_node: Any, segment_id: str, progress: Progress | None = None,
                  should_stop: Callable[[], bool] | None = None) -> Any:
        """Propagate the segment's keyframes through the volume and write the 3D mask as ONE undo step.

        ``progress(done, total)`` is called after every slice (the panel processes UI events there) and
        ``should_stop()`` is polled with it; when it returns True, :class:`SegAssistLib.engine.segmentation_engine.Cancelled` is
        raised and the segmentation is left as it was. Returns the engine's result (mask, probability,
        disagreement, per-slice confidence), also kept as :attr:`last_result`.
        """
        seg = self.read_segmentation(segmentation_node, volume_node)
        seg.segment(segment_id)
        engine = self.engine(volume_node)
        report = None
        if progress is not None:
            # A progress bar needs done <= total; never pass on a total smaller than what is already done.
            def report(done: int, total: int) -> None:
                progress(done, max(total, done))
        result = engine.run(segment_id, progress=report, should_stop=should_stop)
        seg.set_mask(segment_id, result.mask)
        self._note_keyframes(seg, segment_id, engine)
        self._write(seg, segmentation_node, volume_node, [segment_id])
        self.last_result = result
        return result

    def interpolate(self, volume_node: Any, segmentation_node: Any, segment_id: str, plane: str = "auto",
                    method: str | None = None) -> np.ndarray:
        """Fill the slices between the segment's drawn/segmented slices (keyframes), as one undo step.
        Returns the indices of the keyframe slices used."""
        from SegAssistLib.interpolation import choose_plane, interpolate_keyframes, occupied_slices
        from SegAssistLib.core.planes import PlaneView

        volume = self.volume(volume_node)
        seg = self.read_segmentation(segmentation_node, volume_node)
        mask = seg.mask(segment_id)
        if not mask.any():
            raise SegAssistError(f"Segment {seg.segment(segment_id).name!r} is empty: draw or segment two slices first.")
        resolved = choose_plane(mask, volume) if plane == "auto" else plane
        keys = occupied_slices(mask, PlaneView(volume, resolved)) if resolved else np.zeros(0, int)
        if len(keys) < 2:
            raise SegAssistError(
                f"Segment {seg.segment(segment_id).name!r} covers fewer than two {resolved or plane} slices: "
                "interpolation needs at least two keyframes with empty slices between them."
            )
        seg.set_mask(segment_id, interpolate_keyframes(mask, volume, resolved, None, method or self.interpolation_method))
        self._write(seg, segmentation_node, volume_node, [segment_id])
        return keys

    # ---- import / export -------------------------------------------------------------------------------
    def export_segmentation(self, segmentation_node: Any, path: str | os.PathLike, volume_node: Any = None,
                            reference: str | os.PathLike | None = None, segment_ids: Sequence[str] | None = None) -> list[Path]:
        """Write the node as .seg.nrrd, a labelmap (.nrrd/.nii.gz + colour table) or DICOM SEG (.dcm).

        DICOM SEG needs the DICOM series the volume came from: ``reference`` or the folder the volume was
        loaded from with :meth:`load_volume`. Files are written atomically.
        """
        from SegAssistLib.io.segmentation_files import DICOM_SEG, segmentation_format, write_segmentation

        fmt = segmentation_format(path)
        volume_node = volume_node or self._reference_volume(segmentation_node)
        seg = self.read_segmentation(segmentation_node, volume_node)
        if segment_ids is not None:
            for sid in [s for s in seg.segment_ids if s not in set(segment_ids)]:
                seg.remove_segment(sid)
        for s in seg:
            s.attributes.pop(KEYFRAMES_TAG, None)
        if fmt == DICOM_SEG:
            reference = reference or volume_node.GetAttribute(DICOM_FOLDER_ATTRIBUTE)
            if not reference:
                raise SegAssistError(
                    f"{path}: a DICOM SEG references the DICOM series of its volume, but volume "
                    f"{volume_node.GetName()!r} was not loaded from a DICOM folder; pass reference=FOLDER."
                )
            return write_segmentation(seg, path, reference=reference)
        return write_segmentation(seg, path)

    def import_segmentation(self, path: str | os.PathLike, volume_node: Any, segmentation_node: Any = None) -> Any:
        """Read .seg.nrrd / labelmap / DICOM SEG onto the volume's grid into a (new) segmentation node."""
        from SegAssistLib.io.segmentation_files import read_segmentation

        seg = read_segmentation(path, self.volume(volume_node))
        if segmentation_node is None:
            segmentation_node = self.create_segmentation(volume_node, Path(path).name.split(".")[0])
        self._write(seg, segmentation_node, volume_node)
        return segmentation_node

    def import_ontology(self, path: str | os.PathLike, segmentation_node: Any, fmt: str | None = None) -> list[str]:
        """Read an ontology (Slicer colour table / terminology, COCO, Label Studio, Encord, CVAT): segments
        matching a class take its colour and terminology, missing classes become empty segments. One undo step.
        Returns the ids of the segments added."""
        from SegAssistLib.formats.ontology import apply_to_segments, class_to_segment, read_ontology

        ontology = read_ontology(path, fmt)
        volume_node = self._reference_volume(segmentation_node)
        seg = self.read_segmentation(segmentation_node, volume_node)
        apply_to_segments(ontology, seg)
        names = {s.name for s in seg}
        added = []
        for cls in ontology:
            if cls.name in names:
                continue
            sid = segmentation_node.GetSegmentation().GenerateUniqueSegmentID(cls.name.replace(" ", "_"))
            while sid in seg:
                sid += "_"
            seg.add_segment(class_to_segment(cls, sid))
            added.append(sid)
        self._write(seg, segmentation_node, volume_node)
        return added

    def export_ontology(self, segmentation_node: Any, path: str | os.PathLike, fmt: str | None = None) -> Path:
        """Write the segments' classes (names, colours, terminology) in an ontology format."""
        from SegAssistLib.formats.ontology import ontology_from_segmentation, write_ontology

        seg = self.read_segmentation(segmentation_node, self._reference_volume(segmentation_node))
        for s in seg:
            s.attributes.pop(KEYFRAMES_TAG, None)
        return write_ontology(ontology_from_segmentation(seg), path, fmt)

    def export_2d_dataset(self, volume_node: Any, segmentation_node: Any, json_path: str | os.PathLike,
                          plane: str = "axial", only_annotated: bool = True) -> Path:
        """Slices of the volume with their segments as a COCO dataset (JSON with RLE masks, stuff included,
        images written beside it), keeping each slice's position so :meth:`import_2d_dataset` restores the grid."""
        from SegAssistLib.formats.datasets2d.coco_instances import write_coco_instances
        from SegAssistLib.formats.datasets2d.volume_slices import export_slices, write_images

        seg = self.read_segmentation(segmentation_node, volume_node)
        for s in seg:
            s.attributes.pop(KEYFRAMES_TAG, None)
        dataset = export_slices(self.volume(volume_node), seg, plane, only_annotated=only_annotated)
        if not dataset.samples:
            raise SegAssistError(f"{json_path}: no {plane} slice holds a segment; nothing to export.")
        write_images(dataset, Path(json_path).parent)
        return write_coco_instances(dataset, json_path, include_stuff=True)

    def import_2d_dataset(self, json_path: str | os.PathLike, name: str | None = None,
                          link_instances: float | None = None) -> tuple[Any, Any]:
        """A COCO dataset (images beside the JSON) as a volume node (images stacked as slices) and a
        segmentation node with one segment per class or instance; with ``link_instances`` (a minimum IoU)
        instances that overlap from slice to slice become one 3D segment."""
        from SegAssistLib.formats.datasets2d.coco_instances import read_coco_instances
        from SegAssistLib.formats.datasets2d.volume_slices import import_stack
        from SegAssistLib.slicer.nodes import volume_node_from_volume

        dataset = read_coco_instances(json_path)
        volume, seg = import_stack(dataset, link_instances=link_instances)
        node_name = name or Path(json_path).name.split(".")[0]
        volume_node = volume_node_from_volume(self.scene, volume, node_name)
        volume_node.CreateDefaultDisplayNodes()
        segmentation_node = self.create_segmentation(volume_node, f"{node_name} segmentation")
        self._write(seg, segmentation_node, volume_node)
        return volume_node, segmentation_node

    # ---- views -----------------------------------------------------------------------------------------
    @staticmethod
    def plane_of_slice_node(slice_node: Any) -> str:
        """"axial", "coronal" or "sagittal": the plane a slice view shows (by its normal, so rotated views too)."""
        m = slice_node.GetSliceToRAS()
        normal = np.abs([m.GetElement(r, 2) for r in range(3)])
        return ("sagittal", "coronal", "axial")[int(np.argmax(normal))]

    def plane_at_point(self, ras: Sequence[float], default: str = "axial") -> str:
        """The plane of the slice view whose displayed slice passes through ``ras`` (the view the user clicked
        in); ``default`` when none does."""
        best = None
        for n in range(self.scene.GetNumberOfNodesByClass("vtkMRMLSliceNode")):
            node = self.scene.GetNthNodeByClass(n, "vtkMRMLSliceNode")
            m = node.GetSliceToRAS()
            normal = np.array([m.GetElement(r, 2) for r in range(3)])
            origin = np.array([m.GetElement(r, 3) for r in range(3)])
            distance = abs(float(np.dot(np.asarray(ras, dtype=float) - origin, normal)))
            if best is None or distance < best[0]:
                best = (distance, node)
        if best is None or best[0] > 0.5:
            return default
        return self.plane_of_slice_node(best[1])

    # ---- undo --------------------------------------------------------------------------------------------
    def undo(self) -> bool:
        """Revert the last SegAssist change (a slice, a propagation, an interpolation, an import)."""
        if self.scene.GetNumberOfUndoLevels() == 0:
            return False
        self.scene.Undo()
        return True

    def redo(self) -> bool:
        if self.scene.GetNumberOfRedoLevels() == 0:
            return False
        self.scene.Redo()
        return True


def _default_color(n: int) -> tuple[float, float, float]:
    """Distinct colours for new segments (Slicer's GenericAnatomyColors-like hues)."""
    palette = [(0.5, 0.68, 0.5), (0.94, 0.84, 0.57), (0.69, 0.48, 0.4), (0.44, 0.71, 0.83), (0.85, 0.4, 0.4),
               (0.6, 0.5, 0.8), (0.9, 0.6, 0.3), (0.4, 0.8, 0.7)]
    return palette[n % len(palette)]
