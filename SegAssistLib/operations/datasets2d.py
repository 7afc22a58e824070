"""Reading and writing 2D datasets by file name: the one dispatch used by ``segassist convert``, batch and the
Slicer panel.

Formats follow the names:

===================================  =================================================================
input                                read as
===================================  =================================================================
``*.json``                           COCO instances, COCO panoptic (PNGs in the folder named like the
                                     JSON) or Label Studio tasks, told apart by content
folder                               semantic index PNGs (``classes.json`` beside them) or, with
                                     ``*_instanceIds.png`` files, Cityscapes (needs ``ontology``)
``*.png/.tif/.tiff``                 instance label image: 0 background (stuff), other values instances
``*.seg.nrrd/.nrrd/.nii(.gz)/.dcm``  a 3D segmentation; with ``reference`` (its volume) its slices
===================================  =================================================================

Outputs: ``*panoptic*.json`` COCO panoptic (+ PNG folder), ``*tasks*.json`` / ``*label*studio*.json`` Label
Studio tasks, any other ``*.json`` COCO instances (``encoding="polygon"`` for polygons); a folder whose name
contains ``cityscapes`` gets instanceIds PNGs, any other folder semantic PNGs; ``.seg.nrrd``/``.nrrd``/
``.nii.gz`` stacks a 2D dataset into a volume segmentation (``link_instances`` joins instances across slices
into 3D segments). Images that come with the data are written to ``<output stem>_images/`` beside a JSON
output (or ``images/`` inside a folder output). Every option is a keyword with the CLI's default.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Sequence, Union

from SegAssistLib.errors import FormatError, OptionError, UnsafePathError

if TYPE_CHECKING:
    from SegAssistLib.formats.datasets2d import Dataset2D
    from SegAssistLib.formats.ontology import Ontology

VOLUME_SEG_SUFFIXES = (".seg.nrrd", ".nrrd", ".nii", ".nii.gz", ".dcm")
LABEL_IMAGE_SUFFIXES = (".png", ".tif", ".tiff")
#: What :func:`input_kind` / :func:`output_kind` answer (besides None).
INPUT_KINDS = ("coco", "panoptic", "label-studio", "semantic", "cityscapes", "label-image")
OUTPUT_KINDS = ("coco", "panoptic", "label-studio", "semantic", "cityscapes")

PathLike = Union[str, os.PathLike]  # not "str | os.PathLike": evaluated at import, Python 3.9 has no type union


def is_volume_segmentation(path: PathLike) -> bool:
    """True for a 3D segmentation file name (.seg.nrrd, labelmap .nrrd/.nii(.gz), DICOM SEG .dcm)."""
    return str(path).lower().endswith(VOLUME_SEG_SUFFIXES)


def input_kind(path: PathLike) -> str | None:
    """What a 2D input is (one of :data:`INPUT_KINDS`), or None when it is not a 2D dataset."""
    p = Path(path)
    name = p.name.lower()
    if p.is_dir():
        if any(p.glob("*_instanceIds.png")):
            return "cityscapes"
        return "semantic" if any(p.glob("*.png")) else None
    if name.endswith(".json"):
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            return "coco"  # let the reader report the problem with the file's name
        if isinstance(doc, list):
            return "label-studio"
        anns = doc.get("annotations") if isinstance(doc, dict) else None
        if anns and isinstance(anns, list) and isinstance(anns[0], dict) and "segments_info" in anns[0]:
            return "panoptic"
        return "coco"
    if name.endswith(LABEL_IMAGE_SUFFIXES):
        return "label-image"
    return None


def output_kind(path: PathLike) -> str | None:
    """What a 2D output name asks for (one of :data:`OUTPUT_KINDS`), or None when it is not a 2D dataset."""
    name = Path(path).name.lower()
    if name.endswith(".json"):
        if "panoptic" in name:
            return "panoptic"
        if "task" in name or ("label" in name and "studio" in name):
            return "label-studio"
        return "coco"
    if not Path(path).suffix or Path(path).is_dir():
        return "cityscapes" if "cityscapes" in name else "semantic"
    return None


def is_dataset2d_conversion(input: PathLike, output: PathLike) -> bool:
    """True when converting ``input`` to ``output`` involves a 2D dataset on either side."""
    if input_kind(input) is not None:
        return output_kind(output) is not None or is_volume_segmentation(output)
    return is_volume_segmentation(input) and output_kind(output) is not None


def _ontology(ontology: "Ontology | PathLike | None") -> "Ontology | None":
    if ontology is None or ontology == "":
        return None
    from SegAssistLib.formats.ontology import Ontology, read_ontology

    return ontology if isinstance(ontology, Ontology) else read_ontology(ontology)


def read_dataset2d(
    path: PathLike,
    *,
    reference: PathLike | None = None,
    plane: str = "axial",
    slices: Sequence[int] | None = None,
    ontology: "Ontology | PathLike | None" = None,
    images_dir: PathLike | None = None,
    image: PathLike | None = None,
    thing: str = "object",
    stuff: str = "background",
    source: str = "annotations",
) -> "Dataset2D":
    """Read ``path`` as a :class:`Dataset2D`; a 3D segmentation is exported slice by slice.

    ``ontology`` (an :class:`Ontology` or any file ``segassist ontology`` reads) names the classes of inputs
    without names (Cityscapes, label images). ``images_dir``: images of a COCO file; ``image``, ``thing`` and
    ``stuff``: the image and class names of a label-image input; ``source``: "annotations" or "predictions" of
    Label Studio tasks. For a 3D segmentation, ``reference`` is its volume (file or DICOM folder), ``plane``
    and ``slices`` choose the slices (default: those where a segment has pixels).
    """
    from SegAssistLib.formats.datasets2d import Dataset2D

    kind = input_kind(path)
    if kind == "coco":
        from SegAssistLib.formats.datasets2d.coco_instances import read_coco_instances

        return read_coco_instances(path, images_dir)
    if kind == "panoptic":
        from SegAssistLib.formats.datasets2d.panoptic import read_coco_panoptic

        return read_coco_panoptic(path)
    if kind == "label-studio":
        from SegAssistLib.formats.datasets2d.label_studio_tasks import read_tasks

        return read_tasks(path, _ontology(ontology), source=source)
    if kind == "semantic":
        from SegAssistLib.formats.datasets2d.semantic import read_semantic

        return read_semantic(path)
    if kind == "cityscapes":
        from SegAssistLib.formats.datasets2d.panoptic import read_cityscapes_instance_ids

        onto = _ontology(ontology)
        if onto is None:
            raise OptionError(f"{path}: Cityscapes instanceIds hold only class ids; pass their names "
                              "with --ontology FILE (e.g. a COCO categories or colour table file).")
        pngs = sorted(Path(path).glob("*_instanceIds.png"))
        return Dataset2D(onto, [read_cityscapes_instance_ids(p, onto) for p in pngs])
    if kind == "label-image":
        return _read_label_image(path, _ontology(ontology), image, thing, stuff)
    if not is_volume_segmentation(path):
        raise FormatError(f"{path}: not a 2D dataset (COCO/panoptic/Label Studio JSON, PNG folder, label image) "
                          "nor a 3D segmentation (.seg.nrrd, .nrrd, .nii.gz, .dcm).")
    if not reference:
        raise OptionError(f"{path}: exporting slices of a 3D segmentation needs the volume it was drawn "
                          "on: --reference VOLUME (file or DICOM folder).")
    from SegAssistLib.formats.datasets2d.volume_slices import export_slices
    from SegAssistLib.io.segmentation_files import read_segmentation
    from SegAssistLib.io.volumes import read_volume

    volume = read_volume(reference)
    segmentation = read_segmentation(path, reference=volume)
    chosen = None if slices is None else [int(s) for s in slices]
    return export_slices(volume, segmentation, plane, chosen, _ontology(ontology),
                         name_prefix=Path(path).name.split(".")[0], only_annotated=chosen is None)


def _read_label_image(path, ontology, image, thing, stuff) -> "Dataset2D":
    from SegAssistLib.formats.datasets2d import dataset_from_instance_labels
    from SegAssistLib.formats.datasets2d.images import read_image
    from SegAssistLib.formats.ontology import Ontology, OntologyClass

    labels, _ = read_image(path)
    if labels.ndim != 2 or labels.dtype.kind not in "iu":
        raise FormatError(f"{path}: an instance label image must be one integer channel; got "
                          f"{labels.dtype} {labels.shape}.")
    ontology = ontology or Ontology([OntologyClass(stuff, (0, 0, 0), "stuff", 1),
                                     OntologyClass(thing, (216, 101, 79), "thing", 2)])
    pixels = read_image(image)[0] if image else None
    name = Path(image or path).name
    return dataset_from_instance_labels(labels, ontology, thing, stuff if stuff in ontology.names else None,
                                        name, pixels)


def write_dataset2d(
    dataset: "Dataset2D",
    output: PathLike,
    *,
    encoding: str | None = None,
    overlap: str = "error",
    spacing: Sequence[float] | None = None,
    volume_out: PathLike | None = None,
    link_instances: float | None = None,
    inputs: Sequence[PathLike | None] = (),
    reference: PathLike | None = None,
) -> list[Path]:
    """Write ``dataset`` in the format ``output`` names; all its files land together or not at all.

    ``encoding``: COCO masks "rle" (default) or "polygon"; ``overlap``: overlapping things in panoptic or
    Cityscapes output are refused ("error") or the first wins ("first"). A volume output (.seg.nrrd, .nrrd,
    .nii.gz) stacks the images: ``spacing`` (mm, x y z), ``volume_out`` also writes the image volume, and
    ``link_instances`` (a minimum IoU in (0, 1]) joins overlapping instances of consecutive slices into one
    3D segment. ``inputs``: files and folders the conversion read (e.g. the source images folder), which
    no output may overwrite. ``reference``: for a volume output, the volume the slices were exported from;
    each slice goes back to its recorded plane and index on that grid (sparse slices too). Returns the files
    written.
    """
    from SegAssistLib.io.atomic import atomic_group

    with atomic_group():
        if is_volume_segmentation(output) and output_kind(output) is None:
            if reference is not None:
                return _write_onto_reference(dataset, output, reference, link_instances)
            return _write_volume(dataset, output, spacing, volume_out, link_instances)
        return _write_dataset_files(dataset, Path(output), encoding, overlap, inputs)


def _write_dataset_files(dataset, out: Path, encoding, overlap, inputs) -> list[Path]:
    kind = output_kind(out)
    has_pixels = any(s.image is not None for s in dataset.samples)
    written: list[Path] = []
    if kind == "coco":
        from SegAssistLib.formats.datasets2d.coco_instances import write_coco_instances

        encoding = encoding or ("polygon" if "polygon" in out.name.lower() else "rle")
        written.append(write_coco_instances(dataset, out, encoding, include_stuff=True))
    elif kind == "panoptic":
        from SegAssistLib.formats.datasets2d.panoptic import write_coco_panoptic

        written.append(write_coco_panoptic(dataset, out, overlap=overlap))
    elif kind == "label-studio":
        from SegAssistLib.formats.datasets2d.label_studio_tasks import write_tasks
        from SegAssistLib.formats.ontology.label_studio import write_labeling_config

        written.append(write_tasks(dataset, out))
        written.append(write_labeling_config(dataset.ontology, out.with_name(out.stem + "_config.xml")))
    elif kind == "cityscapes":
        from SegAssistLib.formats.datasets2d.panoptic import write_cityscapes_instance_ids
        from SegAssistLib.formats.ontology.coco_categories import write_coco_categories

        written += write_cityscapes_instance_ids(dataset, out, overlap=overlap)
        written.append(write_coco_categories(dataset.ontology, out / "classes.json"))
    elif kind == "semantic":
        from SegAssistLib.formats.datasets2d.semantic import write_semantic

        written += write_semantic(dataset, out)
    else:
        raise FormatError(f"{out}: not a 2D dataset output; name a .json file (COCO, *panoptic*.json, "
                          "*tasks*.json), a folder (semantic PNGs, *cityscapes*) or a volume (.seg.nrrd).")
    if has_pixels:
        from SegAssistLib.formats.datasets2d.volume_slices import write_images

        folder = out / "images" if kind in ("semantic", "cityscapes") else out.with_name(out.stem + "_images")
        for source in inputs:
            if source and Path(source).exists() and folder.exists():
                from SegAssistLib.io.paths import same_file

                if same_file(folder, source):
                    raise UnsafePathError(f"{folder}: the images would be written over the input images of "
                                          "--images-dir; choose another output name.")
        written += write_images(dataset, folder)
    return written


def _write_volume(dataset, output, spacing, volume_out, link_instances) -> list[Path]:
    from SegAssistLib.formats.datasets2d.volume_slices import import_stack
    from SegAssistLib.io.segmentation_files import write_segmentation

    if spacing is not None:
        spacing = [float(v) for v in spacing]
        if len(spacing) != 3 or min(spacing) <= 0:
            raise OptionError(f"spacing {spacing}: give three positive voxel sizes in mm, e.g. 0.5,0.5,2.")
    if link_instances is not None and not 0 < link_instances <= 1:
        raise OptionError(f"link_instances {link_instances}: give a minimum IoU between 0 and 1, e.g. 0.25.")
    volume, segmentation = import_stack(dataset, spacing, link_instances=link_instances)
    written = list(write_segmentation(segmentation, output))
    if volume_out:
        from SegAssistLib.io.volumes import write_volume

        written.append(write_volume(volume, volume_out))
    return written


def _write_onto_reference(dataset, output, reference, link_instances) -> list[Path]:
    from SegAssistLib.formats.datasets2d.onto_volume import import_onto
    from SegAssistLib.io.segmentation_files import write_segmentation
    from SegAssistLib.io.volumes import read_volume

    segmentation = import_onto(dataset, read_volume(reference), link_instances)
    return list(write_segmentation(segmentation, output))
