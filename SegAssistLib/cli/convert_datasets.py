"""2D datasets in ``segassist convert``: COCO instances, COCO panoptic, Cityscapes instanceIds, semantic index
PNGs, Label Studio tasks, instance label images, and volume slices <-> 2D datasets.

``segassist convert`` asks :func:`handles` first and, when it says yes, calls :func:`run`. Formats follow
the names:

===============================  =================================================================
input                            read as
===============================  =================================================================
``*.json``                       COCO instances, COCO panoptic (PNGs in the folder named like the JSON)
                                 or Label Studio tasks, told apart by content
folder                           semantic index PNGs (``classes.json`` beside them) or, with
                                 ``*_instanceIds.png`` files, Cityscapes (needs ``--ontology``)
``*.png/.tif/.tiff`` label image instance label image: 0 background (stuff), other values instances
``*.seg.nrrd/.nrrd/.nii(.gz)/.dcm`` a 3D segmentation; with ``--reference VOLUME`` its slices are exported
===============================  =================================================================

Outputs: ``*panoptic*.json`` COCO panoptic (+ PNG folder), ``*tasks*.json`` / ``*label*studio*.json`` Label
Studio tasks, any other ``*.json`` COCO instances (``--encoding polygon`` for polygons); a folder whose name
contains ``cityscapes`` gets instanceIds PNGs, any other folder semantic PNGs; ``.seg.nrrd``/``.nrrd``/
``.nii.gz`` stacks a 2D dataset into a volume segmentation (``--link-instances`` joins instances across
slices into 3D segments). Images that come with the data are written to
``<output stem>_images/`` beside a JSON output (or ``images/`` inside a folder output).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from SegAssistLib.formats.datasets2d.instance_linking import DEFAULT_MIN_IOU
from SegAssistLib.errors import FormatError, SegAssistError

VOLUME_SEG_SUFFIXES = (".seg.nrrd", ".nrrd", ".nii", ".nii.gz", ".dcm")
LABEL_IMAGE_SUFFIXES = (".png", ".tif", ".tiff")

DEFAULTS = {"plane": "axial", "slices": None, "encoding": None, "overlap": "error", "ontology": None,
            "image": None, "spacing": None, "thing": "object", "stuff": "background", "source": "annotations",
            "volume_out": None, "images_dir": None, "link_instances": None}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the 2D conversions (``segassist convert`` adds them to its parser)."""
    g = parser.add_argument_group("2D datasets")
    g.add_argument("--plane", choices=("axial", "coronal", "sagittal"), default="axial",
                   help="plane of the slices exported from a volume (default axial)")
    g.add_argument("--slices", metavar="LIST", help="slice indices to export, e.g. '10,12,20-25' "
                   "(default: slices where a segment has pixels)")
    g.add_argument("--encoding", choices=("rle", "polygon"), help="COCO mask encoding (default rle)")
    g.add_argument("--overlap", choices=("error", "first"), default="error",
                   help="overlapping things in panoptic/semantic output: refuse (default) or let the first win")
    g.add_argument("--ontology", metavar="FILE", help="class list for inputs without one (any format of "
                   "'segassist ontology'): Label Studio config, COCO categories, colour table...")
    g.add_argument("--image", metavar="FILE", help="image belonging to a label-image input")
    g.add_argument("--images-dir", metavar="DIR", help="folder of the images a COCO/panoptic JSON refers to")
    g.add_argument("--thing", default="object", help="class name of the instances of a label-image input")
    g.add_argument("--stuff", default="background", help="class name of the background of a label-image input")
    g.add_argument("--spacing", metavar="SX,SY,SZ", help="voxel size (mm) when stacking 2D images into a volume")
    g.add_argument("--source", choices=("annotations", "predictions"), default="annotations",
                   help="which results of Label Studio tasks to read")
    g.add_argument("--volume-out", metavar="FILE", help="also write the stacked image volume (.nrrd/.nii.gz)")
    g.add_argument("--link-instances", metavar="MIN_IOU", nargs="?", type=float, const=DEFAULT_MIN_IOU,
                   help="when stacking 2D images into a volume, join each slice's instances to the overlapping "
                        f"instance of the slice before into one 3D segment (IoU at least MIN_IOU, default "
                        f"{DEFAULT_MIN_IOU}); without it every 2D instance is its own segment")


def _opt(args: argparse.Namespace, name: str):
    return getattr(args, name, DEFAULTS[name])


def _is_volume_seg(path: str) -> bool:
    return str(path).lower().endswith(VOLUME_SEG_SUFFIXES)


def input_kind(path: str) -> str | None:
    """What a 2D input is ("coco", "panoptic", "label-studio", "semantic", "cityscapes", "label-image"), or None."""
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


def output_kind(path: str) -> str | None:
    """What a 2D output name asks for, or None when it is not a 2D dataset."""
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


def handles(input: str, output: str) -> bool:
    """True when ``segassist convert INPUT OUTPUT`` is a 2D dataset conversion (this module's job)."""
    if input_kind(input) is not None:
        return output_kind(output) is not None or _is_volume_seg(output)
    return _is_volume_seg(input) and output_kind(output) is not None


def _parse_slices(text: str | None) -> list[int] | None:
    if not text:
        return None
    out: list[int] = []
    try:
        for part in str(text).split(","):
            if "-" in part.strip()[1:]:
                a, b = part.split("-", 1)
                out += list(range(int(a), int(b) + 1))
            elif part.strip():
                out.append(int(part))
    except ValueError:
        raise SegAssistError(f"--slices {text!r}: use indices and ranges like '10,12,20-25'.") from None
    return out


def _ontology(args):
    path = _opt(args, "ontology")
    if not path:
        return None
    from SegAssistLib.formats.ontology import read_ontology

    return read_ontology(path)


def read_dataset(args: argparse.Namespace):
    """The input as a Dataset2D (slices of a 3D segmentation when the input is one)."""
    from SegAssistLib.formats.datasets2d import Dataset2D

    kind = input_kind(args.input)
    if kind == "coco":
        from SegAssistLib.formats.datasets2d.coco_instances import read_coco_instances

        return read_coco_instances(args.input, _opt(args, "images_dir"))
    if kind == "panoptic":
        from SegAssistLib.formats.datasets2d.panoptic import read_coco_panoptic

        return read_coco_panoptic(args.input)
    if kind == "label-studio":
        from SegAssistLib.formats.datasets2d.label_studio_tasks import read_tasks

        return read_tasks(args.input, _ontology(args), source=_opt(args, "source"))
    if kind == "semantic":
        from SegAssistLib.formats.datasets2d.semantic import read_semantic

        return read_semantic(args.input)
    if kind == "cityscapes":
        from SegAssistLib.formats.datasets2d.panoptic import read_cityscapes_instance_ids

        ontology = _ontology(args)
        if ontology is None:
            raise SegAssistError(f"{args.input}: Cityscapes instanceIds hold only class ids; pass their names "
                                 "with --ontology FILE (e.g. a COCO categories or colour table file).")
        pngs = sorted(Path(args.input).glob("*_instanceIds.png"))
        return Dataset2D(ontology, [read_cityscapes_instance_ids(p, ontology) for p in pngs])
    if kind == "label-image":
        from SegAssistLib.formats.datasets2d import dataset_from_instance_labels
        from SegAssistLib.formats.datasets2d.images import read_image
        from SegAssistLib.formats.ontology import Ontology, OntologyClass

        labels, _ = read_image(args.input)
        if labels.ndim != 2 or labels.dtype.kind not in "iu":
            raise FormatError(f"{args.input}: an instance label image must be one integer channel; got "
                              f"{labels.dtype} {labels.shape}.")
        thing, stuff = _opt(args, "thing"), _opt(args, "stuff")
        ontology = _ontology(args) or Ontology([OntologyClass(stuff, (0, 0, 0), "stuff", 1),
                                                OntologyClass(thing, (216, 101, 79), "thing", 2)])
        image = read_image(_opt(args, "image"))[0] if _opt(args, "image") else None
        name = Path(_opt(args, "image") or args.input).name
        return dataset_from_instance_labels(labels, ontology, thing, stuff if stuff in ontology.names else None,
                                            name, image)
    # A 3D segmentation: export slices of its reference volume.
    reference = getattr(args, "reference", None)
    if not reference:
        raise SegAssistError(f"{args.input}: exporting slices of a 3D segmentation needs the volume it was drawn "
                             "on: --reference VOLUME (file or DICOM folder).")
    from SegAssistLib.formats.datasets2d.volume_slices import export_slices
    from SegAssistLib.io.segmentation_files import read_segmentation
    from SegAssistLib.io.volumes import read_volume

    volume = read_volume(reference)
    segmentation = read_segmentation(args.input, reference=volume)
    slices = _parse_slices(_opt(args, "slices"))
    return export_slices(volume, segmentation, _opt(args, "plane"), slices, _ontology(args),
                         name_prefix=Path(args.input).name.split(".")[0], only_annotated=slices is None)


def write_dataset(dataset, args: argparse.Namespace) -> list[Path]:
    """Write the converted dataset; all its files (annotations, ontology, images) land together or not at all."""
    from SegAssistLib.io.atomic import atomic_group

    with atomic_group():
        return _write_dataset_files(dataset, args)


def _write_dataset_files(dataset, args: argparse.Namespace) -> list[Path]:
    out = Path(args.output)
    if _is_volume_seg(args.output) and output_kind(args.output) is None:
        return _write_volume(dataset, args)
    kind = output_kind(args.output)
    has_pixels = any(s.image is not None for s in dataset.samples)
    written: list[Path] = []
    if kind == "coco":
        from SegAssistLib.formats.datasets2d.coco_instances import write_coco_instances

        encoding = _opt(args, "encoding") or ("polygon" if "polygon" in out.name.lower() else "rle")
        written.append(write_coco_instances(dataset, out, encoding, include_stuff=True))
    elif kind == "panoptic":
        from SegAssistLib.formats.datasets2d.panoptic import write_coco_panoptic

        written.append(write_coco_panoptic(dataset, out, overlap=_opt(args, "overlap")))
    elif kind == "label-studio":
        from SegAssistLib.formats.datasets2d.label_studio_tasks import write_tasks
        from SegAssistLib.formats.ontology.label_studio import write_labeling_config

        written.append(write_tasks(dataset, out))
        written.append(write_labeling_config(dataset.ontology, out.with_name(out.stem + "_config.xml")))
    elif kind == "cityscapes":
        from SegAssistLib.formats.datasets2d.panoptic import write_cityscapes_instance_ids
        from SegAssistLib.formats.ontology.coco_categories import write_coco_categories

        written += write_cityscapes_instance_ids(dataset, out, overlap=_opt(args, "overlap"))
        written.append(write_coco_categories(dataset.ontology, out / "classes.json"))
    else:
        from SegAssistLib.formats.datasets2d.semantic import write_semantic

        written += write_semantic(dataset, out)
    if has_pixels:
        from SegAssistLib.formats.datasets2d.volume_slices import write_images

        folder = out / "images" if kind in ("semantic", "cityscapes") else out.with_name(out.stem + "_images")
        source = _opt(args, "images_dir")
        if source and Path(source).exists() and Path(folder).exists():
            from SegAssistLib.io.paths import UnsafePathError, same_file

            if same_file(folder, source):
                raise UnsafePathError(f"{folder}: the images would be written over the input images of --images-dir; "
                                      "choose another output name.")
        written += write_images(dataset, folder)
    return written


def _write_volume(dataset, args) -> list[Path]:
    from SegAssistLib.formats.datasets2d.volume_slices import import_stack
    from SegAssistLib.io.segmentation_files import write_segmentation

    spacing = _opt(args, "spacing")
    if spacing:
        try:
            spacing = [float(v) for v in str(spacing).split(",")]
            assert len(spacing) == 3 and min(spacing) > 0
        except (ValueError, AssertionError):
            raise SegAssistError(f"--spacing {spacing!r}: give three positive sizes in mm, e.g. 0.5,0.5,2.") from None
    link = _opt(args, "link_instances")
    if link is not None and not 0 < link <= 1:
        raise SegAssistError(f"--link-instances {link}: give a minimum IoU between 0 and 1, e.g. 0.25.")
    volume, segmentation = import_stack(dataset, spacing, link_instances=link)
    written = list(write_segmentation(segmentation, args.output))
    if _opt(args, "volume_out"):
        from SegAssistLib.io.volumes import write_volume

        written.append(write_volume(volume, _opt(args, "volume_out")))
    return written


def run(args: argparse.Namespace) -> int:
    from SegAssistLib.io.paths import refuse_outputs_over_inputs

    refuse_outputs_over_inputs([args.output, _opt(args, "volume_out")],
                               [args.input, _opt(args, "images_dir"), getattr(args, "reference", None)], "convert")
    dataset = read_dataset(args)
    written = write_dataset(dataset, args)
    n_regions = sum(len(s.regions) for s in dataset.samples)
    print(f"{args.input} -> {args.output}: {len(dataset.samples)} image(s), {n_regions} region(s), "
          f"classes {', '.join(dataset.ontology.names)}; {len(written)} file(s) written")
    return 0
