"""MRML glue: SegAssist volumes and segmentations in and out of Slicer's nodes.

Importable only where ``slicer`` exists (inside the Slicer application, or with ``slicer-core`` installed):
the VTK/Slicer imports happen inside the functions, and a clear :class:`SegAssistError` says what to
install otherwise. The glue never does the maths; it only moves voxels and metadata:

* :func:`volume_node_from_volume` / :func:`volume_from_volume_node` - scalar volume nodes (kji arrays, RAS);
* :func:`write_segmentation_to_node` - writes a :class:`Segmentation` into a ``vtkMRMLSegmentationNode``
  aligned with a volume node, rewriting only the segments and the region whose voxels or metadata changed,
  as one undoable step (``scene.Undo()`` restores the previous state);
* :func:`read_segmentation_from_node` - the node's segments back as a :class:`Segmentation` on a volume grid.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from SegAssistLib.errors import GeometryError, SegAssistError
from SegAssistLib.core.segmentation import Segment, Segmentation
from SegAssistLib.core.volume import Volume


def slicer_modules() -> tuple[Any, Any]:
    """(slicer, vtk), or a SegAssistError saying how to get them."""
    try:
        import slicer
        import vtk

        slicer.vtkMRMLSegmentationNode  # noqa: B018  (the unrelated PyPI "slicer" package lacks it)
    except (ImportError, AttributeError):
        raise SegAssistError(
            "Slicer's MRML is not available: run inside 3D Slicer, or install the headless MRML with "
            "`pip install segassist[slicer]` (slicer-core). Never install the unrelated PyPI package 'slicer'."
        ) from None
    return slicer, vtk


# ---- matrices and images ---------------------------------------------------------------------------------
def vtk_matrix(m: np.ndarray) -> Any:
    """A vtkMatrix4x4 holding the 4x4 numpy matrix ``m``."""
    _, vtk = slicer_modules()
    out = vtk.vtkMatrix4x4()
    for r in range(4):
        for c in range(4):
            out.SetElement(r, c, float(m[r, c]))
    return out


def numpy_matrix(m: Any) -> np.ndarray:
    """A 4x4 numpy array from a vtkMatrix4x4."""
    return np.array([[m.GetElement(r, c) for c in range(4)] for r in range(4)])


def _array_of(image: Any) -> np.ndarray:
    """The (k, j, i) numpy view of a single-component vtkImageData's scalars (shares memory)."""
    from vtk.util.numpy_support import vtk_to_numpy

    dims = image.GetDimensions()
    return vtk_to_numpy(image.GetPointData().GetScalars()).reshape(dims[::-1])


def _fill_image(image: Any, array: np.ndarray) -> None:
    """Copy a (k, j, i) array into ``image``'s scalars (dimensions must already match)."""
    _array_of(image)[...] = array


# ---- volume nodes ----------------------------------------------------------------------------------------
def volume_node_from_volume(scene: Any, volume: Volume, name: str = "Volume", node: Any = None) -> Any:
    """Add (or update ``node``) a ``vtkMRMLScalarVolumeNode`` holding a copy of ``volume`` in RAS."""
    slicer, vtk = slicer_modules()
    from vtk.util.numpy_support import get_vtk_array_type

    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", name)
    array = np.ascontiguousarray(volume.array)
    if array.dtype == np.bool_:
        array = array.astype(np.uint8)
    image = vtk.vtkImageData()
    image.SetDimensions(*volume.size_ijk)
    image.AllocateScalars(get_vtk_array_type(array.dtype), 1)
    _fill_image(image, array)
    node.SetIJKToRASMatrix(vtk_matrix(volume.ijk_to_ras))
    node.SetAndObserveImageData(image)
    return node


def volume_from_volume_node(node: Any) -> Volume:
    """A :class:`Volume` (array copied) from a scalar volume node; the node must not be under a transform."""
    slicer, vtk = slicer_modules()
    if node is None or node.GetImageData() is None:
        raise SegAssistError("The volume node holds no image data.")
    if node.GetParentTransformNode() is not None:
        raise GeometryError(
            f"Volume node {node.GetName()!r} is under a transform: harden the transform first (Data module)."
        )
    m = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(m)
    return Volume(_array_of(node.GetImageData()).copy(), numpy_matrix(m), {"source": node.GetName()})


def _geometry_image(shape: tuple[int, int, int], ijk_to_ras: np.ndarray, extent: list[int] | None = None) -> Any:
    """An empty (or region-sized) uint8 vtkOrientedImageData on a grid; ``extent`` is (i0, i1, j0, j1, k0, k1)."""
    slicer, vtk = slicer_modules()
    k, j, i = shape
    image = slicer.vtkOrientedImageData()
    image.SetExtent(*(extent or [0, i - 1, 0, j - 1, 0, k - 1]))
    image.SetImageToWorldMatrix(vtk_matrix(ijk_to_ras))
    image.AllocateScalars(vtk.VTK_UNSIGNED_CHAR, 1)
    return image


def _node_segment_mask(segmentation_node: Any, segment_id: str, shape: tuple[int, int, int], ijk_to_ras: np.ndarray) -> np.ndarray:
    """A segment's binary labelmap resampled (exactly, when aligned) onto the grid, as bool (k, j, i)."""
    slicer, vtk = slicer_modules()
    logic = slicer.vtkSlicerSegmentationsModuleLogic
    image = slicer.vtkOrientedImageData()
    if not logic.GetSegmentBinaryLabelmapRepresentation(segmentation_node, segment_id, image, False):
        raise SegAssistError(f"Segment {segment_id!r} of node {segmentation_node.GetName()!r} has no binary labelmap.")
    reference = _geometry_image(shape, ijk_to_ras)
    out = slicer.vtkOrientedImageData()
    if not slicer.vtkOrientedImageDataResample.ResampleOrientedImageToReferenceOrientedImage(image, reference, out, False, True):
        raise SegAssistError(f"Segment {segment_id!r} could not be resampled onto the reference grid.")
    # The representation is the layer's shared labelmap: keep only this segment's label value.
    label = segmentation_node.GetSegmentation().GetSegment(segment_id).GetLabelValue()
    return _array_of(out) == label


# ---- segmentation nodes ----------------------------------------------------------------------------------
def grid_of(volume_node: Any) -> tuple[tuple[int, int, int], np.ndarray]:
    """(shape (k, j, i), IJK-to-RAS 4x4) of a scalar volume node's voxel grid."""
    slicer, vtk = slicer_modules()
    m = vtk.vtkMatrix4x4()
    volume_node.GetIJKToRASMatrix(m)
    return tuple(volume_node.GetImageData().GetDimensions()[::-1]), numpy_matrix(m)  # type: ignore[return-value]


def read_segment_mask(segmentation_node: Any, segment_id: str, volume_node: Any) -> np.ndarray:
    """One segment's bool (k, j, i) mask on ``volume_node``'s grid (cheaper than reading every segment)."""
    shape, ijk_to_ras = grid_of(volume_node)
    return _node_segment_mask(segmentation_node, segment_id, shape, ijk_to_ras)


def read_segment_metadata(segmentation_node: Any, segment_id: str) -> Segment:
    """A segment's name, colour, terminology and attributes (no voxels) as a :class:`Segment`."""
    from SegAssistLib.io.seg_nrrd import ATTRIBUTE_KEYS_TAG, STATUS_TAG, TERMINOLOGY_TAG, terminology_from_tag

    s = segmentation_node.GetSegmentation().GetSegment(segment_id)
    if s is None:
        raise SegAssistError(f"No segment {segment_id!r} in segmentation {segmentation_node.GetName()!r}.")
    keys = _get_tag(s, ATTRIBUTE_KEYS_TAG)
    names = [k for k in keys.split(",") if k] if keys else []
    if s.HasTag(STATUS_TAG) and STATUS_TAG not in names:
        names.append(STATUS_TAG)
    attributes = {k: _get_tag(s, k) for k in names if s.HasTag(k)}
    terminology = terminology_from_tag(_get_tag(s, TERMINOLOGY_TAG), f"segment {segment_id!r}")
    return Segment(segment_id, s.GetName(), tuple(s.GetColor()), terminology, attributes)


def _get_tag(vtk_segment: Any, key: str) -> str | None:
    """A segment tag's value, or None (vtkSegment.GetTag fills an output argument)."""
    _, vtk = slicer_modules()
    value = vtk.reference("")
    return str(value) if vtk_segment.GetTag(key, value) else None


def _set_metadata(vtk_segment: Any, segment: Segment) -> bool:
    """Copy name, colour, terminology and attributes onto a vtkSegment; True when something changed."""
    from SegAssistLib.io.seg_nrrd import ATTRIBUTE_KEYS_TAG, TERMINOLOGY_TAG, segment_tags

    tags = segment_tags(segment)
    tags[ATTRIBUTE_KEYS_TAG] = ",".join(sorted(k for k in tags if k != TERMINOLOGY_TAG))
    changed = False
    if vtk_segment.GetName() != segment.name:
        vtk_segment.SetName(segment.name)
        changed = True
    if not np.allclose(vtk_segment.GetColor(), segment.color, atol=1e-6):
        vtk_segment.SetColor(*segment.color)
        changed = True
    old_keys = _get_tag(vtk_segment, ATTRIBUTE_KEYS_TAG) or ""
    for key in old_keys.split(","):
        if key and key not in tags:
            vtk_segment.RemoveTag(key)
            changed = True
    if TERMINOLOGY_TAG not in tags and vtk_segment.HasTag(TERMINOLOGY_TAG):
        vtk_segment.RemoveTag(TERMINOLOGY_TAG)
        changed = True
    for key, value in tags.items():
        if _get_tag(vtk_segment, key) != value:
            vtk_segment.SetTag(key, value)
            changed = True
    return changed


def bounding_extent(diff: np.ndarray) -> list[int] | None:
    """(i0, i1, j0, j1, k0, k1) of the True voxels, or None when there are none."""
    idx = [np.flatnonzero(diff.any(axis=axes)) for axes in ((1, 2), (0, 2), (0, 1))]  # k, j, i
    if any(len(x) == 0 for x in idx):
        return None
    (k0, k1), (j0, j1), (i0, i1) = ((int(x[0]), int(x[-1])) for x in idx)
    return [i0, i1, j0, j1, k0, k1]


def write_segmentation_to_node(
    segmentation: Segmentation,
    segmentation_node: Any,
    volume_node: Any,
    segment_ids: Iterable[str] | None = None,
    undo: bool = True,
    previous: dict[str, Any] | None = None,
) -> dict[str, list[int] | None]:
    """Write segments of ``segmentation`` into ``segmentation_node``, aligned with ``volume_node``.

    Only ``segment_ids`` (default: all) are considered, and of those only segments whose voxels or metadata
    differ from the node are touched; voxels are rewritten only inside the bounding box of the change, so
    other segments and other regions stay as they were. Segments are matched by id (new ids are added).
    With ``undo`` (and the scene's undo switched on) the whole write is one ``scene.Undo()`` step.
    Returns {segment id: rewritten extent (i0, i1, j0, j1, k0, k1), or None when only metadata changed}.
    With ``previous`` (a dict), what each segment held before is put there, for SegAssist's own undo:
    {segment id: :class:`SegAssistLib.slicer.undo.SegmentState`} (absent, or metadata plus the old voxels of
    the rewritten extent).
    """
    from SegAssistLib.slicer.undo import SegmentState

    slicer, vtk = slicer_modules()
    scene = segmentation_node.GetScene()
    if scene is None:
        raise SegAssistError("The segmentation node is not in a scene; add it to the scene first.")
    shape, ijk_to_ras = grid_of(volume_node)
    if shape != segmentation.shape or not np.allclose(ijk_to_ras, segmentation.ijk_to_ras, atol=1e-4):
        raise GeometryError(
            f"The segmentation's grid {segmentation.shape} does not match volume node {volume_node.GetName()!r} "
            f"{shape} (or its geometry differs): build the segmentation on that volume's grid."
        )
    ids = list(segment_ids) if segment_ids is not None else segmentation.segment_ids
    for sid in ids:
        segmentation.segment(sid)  # raises for unknown ids before anything is written
    for sid in ids:
        from SegAssistLib.io.seg_nrrd import check_attributes

        check_attributes(segmentation.segment(sid))
    vtk_seg = segmentation_node.GetSegmentation()
    if segmentation_node.GetNodeReference(segmentation_node.GetReferenceImageGeometryReferenceRole()) is None:
        segmentation_node.SetReferenceImageGeometryParameterFromVolumeNode(volume_node)

    # Work out what changed before touching the node, so an unchanged write costs no undo state.
    plan: dict[str, tuple[str, list[int] | None]] = {}
    for sid in ids:
        new = segmentation.mask(sid)
        if vtk_seg.GetSegment(sid) is None:
            plan[sid] = ("add", bounding_extent(new))
            if previous is not None:
                previous[sid] = SegmentState(sid, present=False)
            continue
        old = _node_segment_mask(segmentation_node, sid, shape, ijk_to_ras)
        plan[sid] = ("update", bounding_extent(old != new))
        if previous is not None:
            previous[sid] = SegmentState.capture(sid, read_segment_metadata(segmentation_node, sid), old, plan[sid][1])

    if undo and scene.GetUndoFlag():
        segmentation_node.SetUndoEnabled(True)
        scene.SaveStateForUndo()
    written: dict[str, list[int] | None] = {}
    was_modifying = segmentation_node.StartModify()
    try:
        logic = slicer.vtkSlicerSegmentationsModuleLogic
        for sid, (action, extent) in plan.items():
            segment = segmentation.segment(sid)
            if action == "add":
                vtk_seg.AddEmptySegment(sid, segment.name, list(segment.color))
            metadata_changed = _set_metadata(vtk_seg.GetSegment(sid), segment)
            if extent is None:
                if metadata_changed or action == "add":
                    written[sid] = None
                continue
            i0, i1, j0, j1, k0, k1 = extent
            region = _geometry_image(shape, ijk_to_ras, extent)
            _fill_image(region, segmentation.mask(sid)[k0 : k1 + 1, j0 : j1 + 1, i0 : i1 + 1])
            # As the Segment Editor's "set" mode does: clear inside the region where the new mask is 0 (MIN),
            # then set where it is 1 (MASK). MODE_REPLACE would replace the whole segment by the region.
            # A segment sharing a layer with one it would now overlap is moved to its own layer by Slicer.
            for mode in (logic.MODE_MERGE_MIN, logic.MODE_MERGE_MASK):
                if not logic.SetBinaryLabelmapToSegment(region, segmentation_node, sid, mode, extent):
                    raise SegAssistError(f"Slicer refused to write segment {segment.name!r} into the segmentation node.")
            written[sid] = extent
    finally:
        segmentation_node.EndModify(was_modifying)
    return written


def read_segmentation_from_node(segmentation_node: Any, volume_node: Any = None) -> Segmentation:
    """The segments of ``segmentation_node`` (ids, names, colours, terminology, attributes, voxels) on the grid
    of ``volume_node``, or of the node's reference geometry when no volume node is given."""
    slicer, vtk = slicer_modules()
    if volume_node is None:
        volume_node = segmentation_node.GetNodeReference(segmentation_node.GetReferenceImageGeometryReferenceRole())
    if volume_node is not None:
        shape, ijk_to_ras = grid_of(volume_node)
    else:
        geometry = segmentation_node.GetSegmentation().GetConversionParameter(
            slicer.vtkSegmentationConverter.GetReferenceImageGeometryParameterName()
        )
        image = slicer.vtkOrientedImageData()
        vtk_seg = segmentation_node.GetSegmentation()
        if geometry:
            slicer.vtkSegmentationConverter.DeserializeImageGeometry(geometry, image, False)
        elif vtk_seg.GetNumberOfSegments() and segmentation_node.GetBinaryLabelmapInternalRepresentation(
            vtk_seg.GetNthSegmentID(0)
        ):
            # Loaded from a file without a reference volume: the shared labelmap keeps the file's grid.
            image.DeepCopy(segmentation_node.GetBinaryLabelmapInternalRepresentation(vtk_seg.GetNthSegmentID(0)))
        else:
            raise SegAssistError(
                f"Segmentation node {segmentation_node.GetName()!r} has no reference geometry: pass the volume node."
            )
        ext = image.GetExtent()
        m = vtk.vtkMatrix4x4()
        image.GetImageToWorldMatrix(m)
        ijk_to_ras = numpy_matrix(m)
        ijk_to_ras[:3, 3] = (ijk_to_ras @ np.array([ext[0], ext[2], ext[4], 1.0]))[:3]
        shape = (ext[5] - ext[4] + 1, ext[3] - ext[2] + 1, ext[1] - ext[0] + 1)
    vtk_seg = segmentation_node.GetSegmentation()
    out = Segmentation(shape, ijk_to_ras, {"source": segmentation_node.GetName()})
    for n in range(vtk_seg.GetNumberOfSegments()):
        sid = vtk_seg.GetNthSegmentID(n)
        out.add_segment(read_segment_metadata(segmentation_node, sid), _node_segment_mask(segmentation_node, sid, shape, ijk_to_ras))
    return out
