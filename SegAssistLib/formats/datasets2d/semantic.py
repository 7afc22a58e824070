"""Semantic masks as index PNGs with a palette: pixel value = class id, palette entry = class colour.

Class names cannot live in a PNG, so the folder also gets ``classes.json`` (COCO categories, with kind and
terminology). Reading works without it: the palette then gives colours and classes are named ``class_<id>``.
All instances of a thing class merge into one class region (semantic masks have no instances); overlaps of
different classes follow the panoptic rule (things over stuff; other overlaps are an error).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from SegAssistLib.formats.datasets2d.model import Dataset2D, Region2D, Sample2D
from SegAssistLib.formats.datasets2d.panoptic import assemble_panoptic
from SegAssistLib.errors import FormatError
from SegAssistLib.io.atomic import atomic_group
from SegAssistLib.formats.ontology.coco_categories import read_coco_categories, write_coco_categories
from SegAssistLib.formats.ontology.model import Ontology, OntologyClass

CLASSES_FILE = "classes.json"


def semantic_labels(sample: Sample2D, ontology: Ontology) -> np.ndarray:
    """(rows, cols) uint8 class-id image of one sample (0 where no region; class ids must be 1..255)."""
    merged = Sample2D(sample.name, sample.shape)
    by_class: dict[int, np.ndarray] = {}
    for r in sample.regions:
        by_class[r.class_id] = by_class.get(r.class_id, np.zeros(sample.shape, bool)) | r.mask
    for cid, mask in by_class.items():
        merged.add(Region2D(mask, cid))
    ids, infos = assemble_panoptic(merged, ontology, overlap="error")
    lut = np.zeros(len(infos) + 1, dtype=np.uint8)
    for info in infos:
        if not 0 < info["category_id"] < 256:
            raise FormatError(f"Class id {info['category_id']} does not fit an 8-bit index PNG (use 1..255).")
        lut[info["id"]] = info["category_id"]
    return lut[ids]


def palette(ontology: Ontology) -> list[int]:
    """A 768-entry PNG palette with each class's colour at its id (black elsewhere)."""
    pal = [0] * 768
    for c in ontology:
        if 0 <= c.id < 256:
            pal[3 * c.id : 3 * c.id + 3] = list(c.color)
    return pal


def write_semantic(dataset: Dataset2D, folder: str | os.PathLike) -> list[Path]:
    """Write one palette PNG per image (named like the image, ``.png``) and ``classes.json`` into ``folder``."""
    from SegAssistLib.formats.datasets2d.images import write_image

    folder = Path(folder)
    dataset.check(str(folder))
    labels = [(folder / Path(s.name).with_suffix(".png").name, semantic_labels(s, dataset.ontology))
              for s in dataset.samples]  # all assembled before anything is written
    pal = palette(dataset.ontology)
    with atomic_group():  # the PNGs and classes.json land together or not at all
        out = [write_image(lab, path, palette=pal) for path, lab in labels]
        write_coco_categories(dataset.ontology, folder / CLASSES_FILE)
    return out


def read_semantic_png(path: str | os.PathLike, ontology: Ontology | None = None) -> tuple[Sample2D, Ontology]:
    """One index PNG as a sample with one region per class present; without ``ontology`` the classes come
    from the palette (and ``classes.json`` beside the PNG when there is one)."""
    from SegAssistLib.formats.datasets2d.images import read_image

    path = Path(path)
    if ontology is None and (path.parent / CLASSES_FILE).is_file():
        ontology = read_coco_categories(path.parent / CLASSES_FILE)
    labels, meta = read_image(path)
    if labels.ndim != 2:
        raise FormatError(f"{path}: a semantic mask must be a single-channel index image; got shape {labels.shape}.")
    values = [int(v) for v in np.unique(labels) if v != 0]
    if ontology is None:
        pal = meta.get("palette") or []
        ontology = Ontology(OntologyClass(f"class_{v}", tuple(pal[3 * v : 3 * v + 3]) if len(pal) >= 3 * v + 3
                                          else (128, 174, 128), "stuff", v) for v in values)
    sample = Sample2D(path.name, labels.shape)
    for v in values:
        try:
            ontology.by_id(v)
        except FormatError as exc:
            raise FormatError(f"{path}: pixel value {v}: {exc}") from None
        sample.add(Region2D(labels == v, v))
    return sample, ontology


def read_semantic(folder: str | os.PathLike) -> Dataset2D:
    """Every ``*.png`` of a folder written by :func:`write_semantic` (or any index PNGs)."""
    folder = Path(folder)
    pngs = sorted(folder.glob("*.png"))
    if not pngs:
        raise FormatError(f"{folder}: no PNG masks found.")
    ontology = read_coco_categories(folder / CLASSES_FILE) if (folder / CLASSES_FILE).is_file() else None
    dataset = None
    for png in pngs:
        sample, onto = read_semantic_png(png, ontology)
        if dataset is None:
            dataset = Dataset2D(onto)
        elif ontology is None:
            for c in onto:
                if c.id not in {x.id for x in dataset.ontology}:
                    dataset.ontology.add(c)
        dataset.samples.append(sample)
    return dataset
