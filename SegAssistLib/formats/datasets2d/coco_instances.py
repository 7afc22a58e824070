"""COCO instance annotations (object detection / instance segmentation JSON) through pycocotools.

Masks are written as compressed RLE (exact) or as polygons (outlines traced by scikit-image along pixel
edges; holes are not representable in COCO polygons). With ``as_results=True`` the annotations are written
as a COCO *results* list (``image_id, category_id, segmentation, score``) for ``COCO.loadRes`` / COCOeval.
Reading decodes RLE (compressed or not) and polygons with ``pycocotools.mask`` and checks every mask
against its image size, so a wrong-length RLE or an unknown category id is reported instead of guessed.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from SegAssistLib.formats.datasets2d.model import Dataset2D, Region2D, Sample2D, image_entry_extra, restore_image_entry_extra
from SegAssistLib.errors import FormatError, import_optional
from SegAssistLib.io.jsonfile import read_json, write_json
from SegAssistLib.formats.ontology.coco_categories import categories_to_ontology, ontology_to_categories

ENCODINGS = ("rle", "polygon")


def mask_to_rle(mask: np.ndarray) -> dict:
    """COCO compressed RLE (``counts`` as str, JSON-ready) of a bool (rows, cols) mask."""
    mask_utils = import_optional("pycocotools.mask", "formats", "COCO masks")

    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def mask_to_polygons(mask: np.ndarray) -> list[list[float]]:
    """COCO polygons (flat ``[x0, y0, x1, y1, ...]``) of a mask's outer outlines, traced on pixel edges.

    The outline runs through the outer corners of the boundary pixels (contour level 0.5 of a 2x upsampled
    mask), which pycocotools rasterises back to the same pixels for ordinary blob shapes.
    """
    from skimage import measure

    up = np.kron(mask.astype(np.uint8), np.ones((2, 2), np.uint8))
    padded = np.pad(up, 1)
    polygons = []
    for contour in measure.find_contours(padded, 0.5):
        # Back to pixel coordinates: upsampled index u -> (u - 1 + 0.5) / 2 - 0.5 + 0.5 (pixel edge convention).
        yx = (contour - 1 + 0.5) / 2.0
        if len(yx) < 3:
            continue
        polygons.append([float(round(v, 3)) for xy in yx[:, ::-1] for v in xy])
    return polygons


def write_coco_instances(
    dataset: Dataset2D, json_path: str | os.PathLike, encoding: str = "rle", include_stuff: bool = False,
    as_results: bool = False,
) -> Path:
    """Write the dataset's thing instances (and stuff regions when ``include_stuff``) as COCO JSON."""
    mask_utils = import_optional("pycocotools.mask", "formats", "COCO masks")

    if encoding not in ENCODINGS:
        raise FormatError(f"Unknown COCO mask encoding {encoding!r}; use one of {ENCODINGS}.")
    json_path = Path(json_path)
    dataset.check(str(json_path))
    kinds = {c.id: c.kind for c in dataset.ontology}
    images, annotations = [], []
    for image_id, sample in enumerate(dataset.samples, start=1):
        images.append({"id": image_id, "file_name": sample.name, "height": sample.shape[0], "width": sample.shape[1],
                       **image_entry_extra(sample)})
        for region in sample.regions:
            if kinds[region.class_id] != "thing" and not include_stuff or not region.mask.any():
                continue
            rle = mask_to_rle(region.mask)
            seg = rle if encoding == "rle" or region.iscrowd else mask_to_polygons(region.mask)
            ann = {"id": len(annotations) + 1, "image_id": image_id, "category_id": region.class_id,
                   "segmentation": seg, "area": float(mask_utils.area(rle)),
                   "bbox": [float(v) for v in mask_utils.toBbox(rle)], "iscrowd": int(region.iscrowd)}
            if "segment" in region.attributes:
                ann["segassist_segment"] = region.attributes["segment"]
            if as_results:
                ann = {k: ann[k] for k in ("image_id", "category_id", "segmentation", "bbox")}
                ann["score"] = 1.0 if region.score is None else float(region.score)
            annotations.append(ann)
    doc = annotations if as_results else {
        "images": images, "annotations": annotations, "categories": ontology_to_categories(dataset.ontology)}
    return write_json(json_path, doc, indent=None)


def check_polygons(polygons: list, height: int, width: int, where: str) -> None:
    """Refuse polygon coordinates that are not finite numbers or lie far outside the image, before
    pycocotools (native code: NaN or 1e30 crash it or make it allocate without bound) sees them."""
    margin_x, margin_y = 2 + 0.01 * width, 2 + 0.01 * height
    for poly in polygons:
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in poly):
            raise FormatError(f"{where}: polygon coordinates must be numbers.")
        xy = np.asarray(poly, dtype=float).reshape(-1, 2)
        if not np.isfinite(xy).all():
            raise FormatError(f"{where}: a polygon has a non-finite coordinate (NaN or infinity).")
        if (xy[:, 0] < -margin_x).any() or (xy[:, 0] > width + margin_x).any() or \
                (xy[:, 1] < -margin_y).any() or (xy[:, 1] > height + margin_y).any():
            raise FormatError(f"{where}: a polygon lies outside its {width} x {height} image "
                              f"(x {xy[:, 0].min():g}..{xy[:, 0].max():g}, y {xy[:, 1].min():g}..{xy[:, 1].max():g}).")


def decode_segmentation(segmentation, height: int, width: int, where: str) -> np.ndarray:
    """A bool mask from a COCO ``segmentation`` (polygons, RLE or compressed RLE), checked against the size."""
    mask_utils = import_optional("pycocotools.mask", "formats", "COCO masks")

    try:
        if isinstance(segmentation, list):
            if not segmentation or any(not isinstance(p, list) or len(p) < 6 or len(p) % 2 for p in segmentation):
                raise FormatError(f"{where}: polygons need an even number (at least 6) of coordinates.")
            check_polygons(segmentation, height, width, where)
            rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
        elif isinstance(segmentation, dict) and "counts" in segmentation and "size" in segmentation:
            if list(segmentation["size"]) != [height, width]:
                raise FormatError(f"{where}: the RLE is for a {segmentation['size']} image but the image is "
                                  f"{[height, width]}.")
            counts = segmentation["counts"]
            if isinstance(counts, list):
                if sum(counts) != height * width:
                    raise FormatError(f"{where}: RLE of the wrong length: its runs cover {sum(counts)} pixels, "
                                      f"the {height}x{width} image has {height * width}.")
                rle = mask_utils.frPyObjects(segmentation, height, width)
            else:
                rle = {"size": [height, width], "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
                try:
                    total = _compressed_rle_length(rle["counts"])
                except FormatError as exc:
                    raise FormatError(f"{where}: {exc}; the RLE is damaged.") from None
                if total != height * width:
                    raise FormatError(f"{where}: RLE of the wrong length: its runs cover {total} pixels, "
                                      f"the {height}x{width} image has {height * width}.")
        else:
            raise FormatError(f"{where}: 'segmentation' is neither polygons nor RLE.")
        return mask_utils.decode(rle).astype(bool)
    except FormatError:
        raise
    except Exception as exc:  # pycocotools raises TypeError/ValueError on garbage
        raise FormatError(f"{where}: could not decode the segmentation ({exc}).") from None


def _compressed_rle_length(counts: bytes) -> int:
    """Sum of the run lengths of a COCO compressed RLE string (``rleFrString`` of pycocotools' maskApi.c:
    5-bit groups with a continuation bit, runs after the second stored as differences to the run two back)."""
    runs: list[int] = []
    i, n = 0, len(counts)
    while i < n:
        x, k, more = 0, 0, True
        while more:
            if i >= n:
                raise FormatError("truncated compressed RLE")
            c = counts[i] - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            i += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(runs) > 2:
            x += runs[-2]
        if x < 0:
            raise FormatError("negative run in compressed RLE")
        runs.append(x)
    return sum(runs)


def read_coco_instances(json_path: str | os.PathLike, images_dir: str | os.PathLike | None = None) -> Dataset2D:
    """Read COCO instances JSON (images, annotations, categories); pixels are loaded from ``images_dir``
    when given and present."""
    from SegAssistLib.io.jsonfile import malformed

    json_path = Path(json_path)
    doc = read_json(json_path)
    if not isinstance(doc, dict) or not {"images", "annotations", "categories"} <= set(doc):
        raise FormatError(f"{json_path}: not a COCO instances file (needs images, annotations and categories).")
    for key in ("images", "annotations", "categories"):
        if not isinstance(doc[key], list) or not all(isinstance(x, dict) for x in doc[key]):
            raise FormatError(f"{json_path}: COCO '{key}' must be a list of objects.")
    with malformed(str(json_path), "COCO instances file"):
        return _coco_to_dataset(doc, json_path, images_dir)


def _coco_to_dataset(doc: dict, json_path: Path, images_dir) -> Dataset2D:
    from SegAssistLib.io.declared_size import check_image_size

    ontology = categories_to_ontology(doc["categories"], str(json_path))
    samples: dict[int, Sample2D] = {}
    # A file_name is used as given for the sample's name; joined with a folder (reading the pixels here,
    # writing them later) it must stay inside that folder (SegAssistLib.io.paths.contained).
    from SegAssistLib.io.paths import contained

    for im in doc["images"]:
        image = None
        if not isinstance(im["file_name"], str):
            raise FormatError(f"{json_path}, image {im.get('id')}: file_name must be text.")
        check_image_size(im["height"], im["width"], f"{json_path}, image {im.get('id')}")
        if images_dir is not None and contained(images_dir, im["file_name"], f"{json_path}").is_file():
            from SegAssistLib.formats.datasets2d.images import read_image

            image = read_image(Path(images_dir) / im["file_name"])[0]
        samples[im["id"]] = Sample2D(im["file_name"], (im["height"], im["width"]), image)
        restore_image_entry_extra(samples[im["id"]], im)
    for ann in doc["annotations"]:
        where = f"{json_path}, annotation {ann.get('id')}"
        sample = samples.get(ann.get("image_id"))
        if sample is None:
            raise FormatError(f"{where}: refers to image id {ann.get('image_id')}, which 'images' does not list.")
        try:
            cls = ontology.by_id(ann["category_id"])
        except (FormatError, KeyError) as exc:
            raise FormatError(f"{where}: {exc}") from None
        if "segmentation" not in ann:
            raise FormatError(f"{where}: no 'segmentation' (polygons or RLE).")
        mask = decode_segmentation(ann["segmentation"], *sample.shape, where)
        sample.add(Region2D(mask, cls.id, ann.get("score"), bool(ann.get("iscrowd", 0)),
                            {"annotation_id": ann.get("id"),
                             **({"segment": ann["segassist_segment"]} if "segassist_segment" in ann else {})}))
    return Dataset2D(ontology, list(samples.values()))
