"""Panoptic segmentation: assembly from stuff and thing layers, COCO panoptic (PNG + JSON) and Cityscapes
``instanceIds`` PNGs.

Overlap rule of :func:`assemble_panoptic` (a panoptic map holds exactly one segment per pixel):

1. stuff regions are painted first; two stuff regions claiming one pixel is an error;
2. things are painted over stuff (a thing always wins against stuff, as in COCO's panoptic conversion);
3. two things claiming one pixel is an error by default (``overlap="error"``); ``overlap="first"`` gives the
   pixel to the thing listed first (sort regions by score beforehand to let the most confident win);
4. pixels no region covers get id 0 (COCO's "void"), and regions left with no pixels are dropped.

COCO panoptic ids are encoded in RGB as ``id = R + 256 G + 256² B``; segment ids are numbered 1, 2, ...
per image. Cityscapes ``instanceIds`` are 16-bit PNGs with ``class_id * 1000 + n`` for the n-th instance of a
thing class and ``class_id`` for stuff.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from SegAssistLib.formats.datasets2d.model import Dataset2D, Region2D, Sample2D, image_entry_extra, restore_image_entry_extra
from SegAssistLib.errors import FormatError, OptionError
from SegAssistLib.io.atomic import atomic_group
from SegAssistLib.io.jsonfile import read_json, write_json
from SegAssistLib.formats.ontology.coco_categories import categories_to_ontology, ontology_to_categories
from SegAssistLib.formats.ontology.model import Ontology

OVERLAP_RULES = ("error", "first")


def rgb2id(rgb: np.ndarray) -> np.ndarray:
    """COCO panoptic segment ids of an (rows, cols, 3) uint8 PNG array."""
    rgb = np.asarray(rgb, dtype=np.uint32)
    return rgb[..., 0] + 256 * rgb[..., 1] + 256 * 256 * rgb[..., 2]


def id2rgb(ids: np.ndarray) -> np.ndarray:
    """(rows, cols, 3) uint8 RGB encoding of segment ids (inverse of :func:`rgb2id`)."""
    ids = np.asarray(ids, dtype=np.uint32)
    return np.stack([ids % 256, ids // 256 % 256, ids // 65536 % 256], axis=-1).astype(np.uint8)


def _bbox(mask: np.ndarray) -> list[int]:
    rows, cols = np.nonzero(mask)
    return [int(cols.min()), int(rows.min()), int(cols.max() - cols.min() + 1), int(rows.max() - rows.min() + 1)]


def assemble_panoptic(sample: Sample2D, ontology: Ontology, overlap: str = "error") -> tuple[np.ndarray, list[dict]]:
    """One image's panoptic id map (int32, 0 = void) and COCO ``segments_info``, by the module's overlap rule."""
    if overlap not in OVERLAP_RULES:
        raise OptionError(f"overlap must be one of {OVERLAP_RULES}, not {overlap!r}")
    ids = np.zeros(sample.shape, dtype=np.int32)
    kinds = {c.id: c.kind for c in ontology}
    unknown = sorted({r.class_id for r in sample.regions} - set(kinds))
    if unknown:
        raise FormatError(f"Image {sample.name}: unknown category id(s) {unknown}; the ontology has {sorted(kinds)}.")
    stuff = [r for r in sample.regions if kinds[r.class_id] == "stuff"]
    things = [r for r in sample.regions if kinds[r.class_id] == "thing"]
    infos: list[dict] = []
    is_thing = np.zeros(sample.shape, dtype=bool)
    for layer in (stuff, things):
        for region in layer:
            seg_id = len(infos) + 1
            mask = region.mask
            if layer is stuff:
                clash = mask & (ids > 0)
                if clash.any():
                    other = infos[int(ids[clash][0]) - 1]["category_id"]
                    raise FormatError(
                        f"Image {sample.name}: stuff classes {ontology.by_id(other).name!r} and "
                        f"{ontology.by_id(region.class_id).name!r} overlap on {int(clash.sum())} pixels; a panoptic "
                        "map holds one class per pixel. Make the stuff layers disjoint."
                    )
            else:
                clash = mask & is_thing
                if clash.any():
                    if overlap == "error":
                        raise FormatError(
                            f"Image {sample.name}: overlapping things: a {ontology.by_id(region.class_id).name!r} "
                            f"instance overlaps an earlier thing on {int(clash.sum())} pixels. Pass overlap='first' "
                            "(--overlap first) to let the earlier instance keep those pixels."
                        )
                    mask = mask & ~is_thing
                is_thing |= mask
            if not mask.any():
                continue
            ids[mask] = seg_id
            infos.append({"id": seg_id, "category_id": region.class_id, "iscrowd": int(region.iscrowd),
                          **({"segment": region.attributes["segment"]} if "segment" in region.attributes else {})})
    # Areas and boxes after painting (things may have covered stuff); drop segments that vanished.
    present = np.bincount(ids.ravel(), minlength=len(infos) + 1)
    kept = []
    for info in infos:
        area = int(present[info["id"]])
        if area:
            kept.append({**info, "area": area, "bbox": _bbox(ids == info["id"])})
    return ids, kept


def split_panoptic(ids: np.ndarray, segments_info: list[dict], ontology: Ontology, name: str) -> Sample2D:
    """The regions of one panoptic id map (the inverse of :func:`assemble_panoptic`), with checks."""
    sample = Sample2D(name, ids.shape)
    seen: set[int] = set()
    present = set(int(v) for v in np.unique(ids)) - {0}
    for info in segments_info:
        seg_id = int(info["id"])
        if seg_id in seen:
            raise FormatError(
                f"{name}: overlapping things: segment id {seg_id} is listed twice in segments_info, so two "
                "segments would claim the same pixels."
            )
        seen.add(seg_id)
        cls = ontology.by_id(info["category_id"])
        mask = ids == seg_id
        if not mask.any():
            raise FormatError(f"{name}: segment {seg_id} ({cls.name}) is listed in the JSON but has no pixels in the PNG.")
        attributes = {"segment_id": seg_id, **({"segment": info["segment"]} if "segment" in info else {})}
        sample.add(Region2D(mask, cls.id, iscrowd=bool(info.get("iscrowd", 0)), attributes=attributes))
    unlisted = sorted(present - seen)
    if unlisted:
        raise FormatError(f"{name}: the PNG has segment ids {unlisted[:10]} that segments_info does not list.")
    return sample


def write_coco_panoptic(dataset: Dataset2D, json_path: str | os.PathLike, png_dir: str | os.PathLike | None = None,
                        overlap: str = "error") -> Path:
    """Write COCO panoptic: one RGB PNG per image in ``png_dir`` (default: a folder named like the JSON) and
    the JSON (images, annotations with segments_info, categories with isthing). All PNGs are assembled
    before anything is written, so an overlap error leaves no files behind, and the files replace any
    previous ones together, so a failure while writing leaves the previous dataset whole."""
    json_path = Path(json_path)
    png_dir = Path(png_dir) if png_dir else json_path.with_suffix("")
    dataset.check(str(json_path))
    images, annotations, maps = [], [], []
    for n, sample in enumerate(dataset.samples, start=1):
        ids, infos = assemble_panoptic(sample, dataset.ontology, overlap)
        png_name = Path(sample.name).with_suffix(".png").name
        images.append({"id": n, "file_name": sample.name, "height": sample.shape[0], "width": sample.shape[1],
                       **image_entry_extra(sample)})
        annotations.append({"image_id": n, "file_name": png_name, "segments_info": infos})
        maps.append((png_name, ids))
    from SegAssistLib.formats.datasets2d.images import write_image

    doc = {"images": images, "annotations": annotations, "categories": ontology_to_categories(dataset.ontology)}
    with atomic_group():  # the PNGs and the JSON land together or not at all
        for png_name, ids in maps:
            write_image(id2rgb(ids), png_dir / png_name)
        write_json(json_path, doc, indent=None)
    return json_path


def read_coco_panoptic(json_path: str | os.PathLike, png_dir: str | os.PathLike | None = None) -> Dataset2D:
    """Read COCO panoptic JSON + PNGs (``png_dir`` default: the folder named like the JSON)."""
    from SegAssistLib.formats.datasets2d.images import read_image

    json_path = Path(json_path)
    png_dir = Path(png_dir) if png_dir else json_path.with_suffix("")
    doc = _load_json(json_path)
    if not isinstance(doc, dict) or "annotations" not in doc or "categories" not in doc:
        raise FormatError(f"{json_path}: not a COCO panoptic file (needs 'annotations' and 'categories').")
    for key in ("images", "annotations", "categories"):
        if not isinstance(doc.get(key, []), list) or not all(isinstance(x, dict) for x in doc.get(key, [])):
            raise FormatError(f"{json_path}: COCO panoptic '{key}' must be a list of objects.")
    from SegAssistLib.io.jsonfile import malformed

    with malformed(str(json_path), "COCO panoptic file"):
        return _panoptic_to_dataset(doc, json_path, png_dir)


def _panoptic_to_dataset(doc: dict, json_path: Path, png_dir: Path) -> Dataset2D:
    from SegAssistLib.formats.datasets2d.images import read_image

    ontology = categories_to_ontology(doc["categories"], str(json_path))
    names = {im["id"]: im for im in doc.get("images", [])}
    dataset = Dataset2D(ontology)
    for ann in doc["annotations"]:
        from SegAssistLib.io.paths import contained

        png = contained(png_dir, ann["file_name"], f"{json_path}, annotation of image {ann.get('image_id')}")
        rgb, _ = read_image(png)
        if rgb.ndim != 3 or rgb.shape[2] < 3:
            raise FormatError(f"{png}: a COCO panoptic PNG must be RGB; got shape {rgb.shape}.")
        image = names.get(ann.get("image_id"), {})
        try:
            sample = split_panoptic(rgb2id(rgb[..., :3]), ann.get("segments_info", []), ontology, str(png))
        except FormatError as exc:
            raise FormatError(f"{json_path}: {exc}") from None
        sample.name = image.get("file_name", ann["file_name"])
        restore_image_entry_extra(sample, image)
        dataset.samples.append(sample)
    return dataset


def write_cityscapes_instance_ids(dataset: Dataset2D, folder: str | os.PathLike, overlap: str = "error") -> list[Path]:
    """Write ``<image stem>_instanceIds.png`` (16-bit) per image; class ids must be below 65 for things."""
    folder = Path(folder)
    dataset.check(str(folder))
    kinds = {c.id: c.kind for c in dataset.ontology}
    for c in dataset.ontology:
        if c.kind == "thing" and c.id * 1000 + 999 > 65535 or c.id < 0:
            raise FormatError(f"Class {c.name!r} has id {c.id}: Cityscapes instance ids (id*1000+n) need thing ids 0..64.")
    out = []
    maps = []
    for sample in dataset.samples:
        ids, infos = assemble_panoptic(sample, dataset.ontology, overlap)
        values = np.zeros(sample.shape, dtype=np.uint16)
        counter: dict[int, int] = {}
        for info in infos:
            cid = info["category_id"]
            if kinds[cid] == "thing":
                counter[cid] = counter.get(cid, -1) + 1
                if counter[cid] > 999:
                    raise FormatError(f"Image {sample.name}: more than 1000 instances of one class do not fit Cityscapes ids.")
                values[ids == info["id"]] = cid * 1000 + counter[cid]
            else:
                values[ids == info["id"]] = cid
        maps.append((folder / f"{Path(sample.name).stem}_instanceIds.png", values))
    from SegAssistLib.formats.datasets2d.images import write_image

    with atomic_group():
        for path, values in maps:
            out.append(write_image(values, path))
    return out


def read_cityscapes_instance_ids(path: str | os.PathLike, ontology: Ontology, name: str | None = None) -> Sample2D:
    """One Cityscapes ``instanceIds`` PNG as a sample; values below 1000 are stuff (0 is void unless the
    ontology has a class 0)."""
    from SegAssistLib.formats.datasets2d.images import read_image

    values, _ = read_image(path)
    if values.ndim != 2:
        raise FormatError(f"{path}: a Cityscapes instanceIds image must be single-channel; got shape {values.shape}.")
    known = {c.id for c in ontology}
    sample = Sample2D(name or Path(path).name.replace("_instanceIds", ""), values.shape)
    for v in np.unique(values):
        v = int(v)
        cid = v // 1000 if v >= 1000 else v
        if v == 0 and 0 not in known:
            continue
        if cid not in known:
            raise FormatError(f"{path}: value {v} means category id {cid}, which the ontology does not have "
                              f"(ids {sorted(known)}).")
        sample.add(Region2D(values == v, cid, attributes={"label_value": v}))
    return sample


_load_json = read_json
