"""Files in and out of the scene: volumes, segmentations (.seg.nrrd, labelmaps, DICOM SEG), ontologies and
2D datasets (every format ``segassist convert`` reads and writes, through
:mod:`SegAssistLib.operations.datasets2d`, the same functions the CLI calls), each as one undoable step of a
:class:`~SegAssistLib.slicer.workflow.SegAssistWorkflow`.

The readers and writers are the library's (``io``, ``formats``); this module only moves their results into
nodes through the workflow's public methods (``volume``, ``read_segmentation``, ``write_segmentation``,
``create_segmentation``, ``reference_volume``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from SegAssistLib.errors import SegAssistError

#: Node attribute set on volumes loaded from a DICOM folder: where their series lives (for DICOM SEG export).
DICOM_FOLDER_ATTRIBUTE = "SegAssist.DICOMFolder"
#: Segment attribute listing the slices SegAssist used as keyframes, "<plane> <index>;..."; never exported.
KEYFRAMES_TAG = "SegAssist.Keyframes"


def _strip_private(seg: Any) -> Any:
    for s in seg:
        s.attributes.pop(KEYFRAMES_TAG, None)
    return seg


def load_volume(scene: Any, path: str | os.PathLike, name: str | None = None, series_uid: str | None = None) -> Any:
    """Read a volume file or DICOM folder (SegAssist's readers) into a new scalar volume node."""
    from SegAssistLib.io.volumes import read_volume
    from SegAssistLib.slicer.nodes import volume_node_from_volume

    p = Path(path)
    volume = read_volume(p, series_uid)
    node = volume_node_from_volume(scene, volume, name or (p.name if p.is_dir() else p.name.split(".")[0]))
    node.CreateDefaultDisplayNodes()
    if p.is_dir():
        node.SetAttribute(DICOM_FOLDER_ATTRIBUTE, str(p.resolve()))
    return node


def export_segmentation(wf: Any, segmentation_node: Any, path: str | os.PathLike, volume_node: Any = None,
                        reference: str | os.PathLike | None = None, segment_ids: Sequence[str] | None = None) -> list[Path]:
    """Write the node as .seg.nrrd, a labelmap (.nrrd/.nii.gz + colour table) or DICOM SEG (.dcm), atomically.

    DICOM SEG needs the DICOM series the volume came from: ``reference`` or the folder the volume was
    loaded from with :func:`load_volume`.
    """
    from SegAssistLib.io.segmentation_files import DICOM_SEG, segmentation_format, write_segmentation

    fmt = segmentation_format(path)
    volume_node = volume_node or wf.reference_volume(segmentation_node)
    seg = _strip_private(wf.read_segmentation(segmentation_node, volume_node))
    if segment_ids is not None:
        for sid in [s for s in seg.segment_ids if s not in set(segment_ids)]:
            seg.remove_segment(sid)
    if fmt == DICOM_SEG:
        reference = reference or volume_node.GetAttribute(DICOM_FOLDER_ATTRIBUTE)
        if not reference:
            raise SegAssistError(
                f"{path}: a DICOM SEG references the DICOM series of its volume, but volume "
                f"{volume_node.GetName()!r} was not loaded from a DICOM folder; pass reference=FOLDER."
            )
        return write_segmentation(seg, path, reference=reference)
    return write_segmentation(seg, path)


def import_segmentation(wf: Any, path: str | os.PathLike, volume_node: Any, segmentation_node: Any = None) -> Any:
    """Read .seg.nrrd / labelmap / DICOM SEG onto the volume's grid into a (new) segmentation node."""
    from SegAssistLib.io.segmentation_files import read_segmentation

    seg = read_segmentation(path, wf.volume(volume_node))
    if segmentation_node is None:
        segmentation_node = wf.create_segmentation(volume_node, Path(path).name.split(".")[0])
    wf.write_segmentation(seg, segmentation_node, volume_node, label=f"Import {Path(path).name}")
    return segmentation_node


def import_ontology(wf: Any, path: str | os.PathLike, segmentation_node: Any, fmt: str | None = None) -> list[str]:
    """Read an ontology (Slicer colour table / terminology, COCO, Label Studio, Encord, CVAT): segments
    matching a class take its colour and terminology, missing classes become empty segments. One undo step.
    Returns the ids of the segments added."""
    from SegAssistLib.formats.ontology import apply_to_segments, class_to_segment, read_ontology

    ontology = read_ontology(path, fmt)
    volume_node = wf.reference_volume(segmentation_node)
    seg = wf.read_segmentation(segmentation_node, volume_node)
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
    wf.write_segmentation(seg, segmentation_node, volume_node, label=f"Apply ontology {Path(path).name}")
    return added


def export_ontology(wf: Any, segmentation_node: Any, path: str | os.PathLike, fmt: str | None = None) -> Path:
    """Write the segments' classes (names, colours, terminology) in an ontology format."""
    from SegAssistLib.formats.ontology import ontology_from_segmentation, write_ontology

    seg = _strip_private(wf.read_segmentation(segmentation_node, wf.reference_volume(segmentation_node)))
    return write_ontology(ontology_from_segmentation(seg), path, fmt)


# ---- 2D datasets ----------------------------------------------------------------------------------------
#: File-dialog filters of the 2D formats ``segassist convert`` handles (the panel offers the same).
DATASET2D_IMPORT_FILTER = ("2D datasets (*.json *.png *.tif *.tiff);;COCO instances / panoptic / Label Studio "
                           "tasks (*.json);;Instance label image (*.png *.tif *.tiff);;Semantic PNG or Cityscapes "
                           "folder: its classes.json (classes.json *_instanceIds.png)")
DATASET2D_EXPORT_FILTER = ("COCO instances (*.json);;COCO panoptic (*panoptic*.json);;Label Studio tasks "
                           "(*tasks*.json);;Semantic PNG folder (*);;Cityscapes instanceIds folder (*cityscapes*)")


def export_2d_dataset(wf: Any, volume_node: Any, segmentation_node: Any, path: str | os.PathLike,
                      plane: str = "axial", only_annotated: bool = True, **options: Any) -> list[Path]:
    """Slices of the volume with their segments as a 2D dataset; the format follows the name as in
    ``segassist convert`` (``x.json`` COCO, ``x_panoptic.json`` COCO panoptic, ``x_tasks.json`` Label Studio,
    a folder: semantic PNGs, ``..cityscapes..`` folder: Cityscapes instanceIds). ``options`` are
    :func:`~SegAssistLib.operations.datasets2d.write_dataset2d`'s (encoding, overlap). All files land together."""
    from SegAssistLib.formats.datasets2d.volume_slices import export_slices
    from SegAssistLib.operations.datasets2d import output_kind, write_dataset2d

    if output_kind(str(path)) is None:
        raise SegAssistError(f"{path}: not a 2D dataset name; use .json (COCO, *_panoptic.json, *_tasks.json) "
                             "or a folder name (semantic PNGs, *cityscapes*).")
    seg = _strip_private(wf.read_segmentation(segmentation_node, volume_node))
    dataset = export_slices(wf.volume(volume_node), seg, plane, only_annotated=only_annotated,
                            name_prefix=volume_node.GetName())
    if not dataset.samples:
        raise SegAssistError(f"{path}: no {plane} slice holds a segment; nothing to export.")
    return write_dataset2d(dataset, path, **options)


def dataset2d_input(path: str | os.PathLike, options: dict) -> tuple[Path, dict]:
    """What to read when a file dialog picked ``path``: a folder dataset is picked by one of its files.

    ``classes.json`` stands for its folder (semantic PNGs or Cityscapes, both written with one), and so does a
    ``*_instanceIds.png``; a Cityscapes folder's own ``classes.json`` names its classes. Other files are read
    as themselves.
    """
    p = Path(path)
    options = dict(options)
    if p.is_file() and (p.name == "classes.json" or p.name.endswith("_instanceIds.png")):
        if any(p.parent.glob("*_instanceIds.png")) and (p.parent / "classes.json").is_file():
            options.setdefault("ontology", str(p.parent / "classes.json"))
        return p.parent, options
    return p, options


def import_2d_dataset(wf: Any, path: str | os.PathLike, name: str | None = None, **options: Any) -> tuple[Any, Any]:
    """A 2D dataset (any format ``segassist convert`` reads) as a volume node (images stacked as slices)
    and a segmentation node with one segment per class or instance; ``link_instances=MIN_IOU`` joins
    instances that overlap from slice to slice into one 3D segment."""
    from SegAssistLib.formats.datasets2d.volume_slices import import_stack
    from SegAssistLib.operations.datasets2d import input_kind, read_dataset2d
    from SegAssistLib.slicer.nodes import volume_node_from_volume

    path, options = dataset2d_input(path, options)
    if input_kind(str(path)) is None:
        raise SegAssistError(f"{path}: not a 2D dataset (COCO/panoptic/Label Studio JSON, label image, PNG folder).")
    link = options.pop("link_instances", None)
    dataset = read_dataset2d(path, **options)
    volume, seg = import_stack(dataset, link_instances=link)
    node_name = name or Path(path).name.split(".")[0]
    volume_node = volume_node_from_volume(wf.scene, volume, node_name)
    volume_node.CreateDefaultDisplayNodes()
    segmentation_node = wf.create_segmentation(volume_node, f"{node_name} segmentation")
    wf.write_segmentation(seg, segmentation_node, volume_node, label=f"Import {Path(path).name}")
    return volume_node, segmentation_node
