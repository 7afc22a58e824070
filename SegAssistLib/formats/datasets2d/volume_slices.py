"""Volume <-> 2D dataset: chosen slices of a volume, in any plane, with their segments as a 2D dataset; and a
2D dataset (or a stack of images with masks) back as a volume with a segmentation.

Slices are taken with :class:`SegAssistLib.core.planes.PlaneView`, so a 2D image looks as Slicer displays that
slice. Every exported sample keeps in ``metadata``: ``plane``, ``slice`` (index along the plane's normal),
``pixel_spacing`` and ``ijk_to_ras`` (the 4x4 matrix placing pixel (col, row) of the 2D image, k = 0, in the
patient), plus for each region the id of the segment it came from (``attributes["segment"]``). COCO and COCO
panoptic writers carry these along, so a volume -> 2D -> volume trip restores the grid and the segments.

Import stacks samples in order as slices k = 0, 1, ...: with ``ijk_to_ras`` metadata on every sample the
volume is placed where the slices were (they must be parallel and equally spaced); otherwise it gets the
geometry Slicer gives a 2D image (IJK->RAS = diag(-sx, -sy, sz)) so that the axial view shows each image
unflipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from SegAssistLib.formats.datasets2d.instance_linking import link_slices
from SegAssistLib.formats.datasets2d.model import Dataset2D, Region2D, Sample2D
from SegAssistLib.errors import FormatError, GeometryError
from SegAssistLib.formats.ontology.model import (
    CLASS_ID_ATTRIBUTE, Ontology, class_to_segment, ontology_from_segmentation,
)
from SegAssistLib.core.planes import PlaneView
from SegAssistLib.core.segmentation import Segmentation
from SegAssistLib.core.volume import Volume


def slice_matrix(view: PlaneView, n: int) -> np.ndarray:
    """4x4 matrix mapping (col, row, 0, 1) of slice ``n`` of ``view`` to RAS mm (k steps along the normal)."""
    o = view.pixel_to_ras(n, 0.0, 0.0)
    m = np.eye(4)
    m[:3, 0] = view.pixel_to_ras(n, 0.0, 1.0) - o
    m[:3, 1] = view.pixel_to_ras(n, 1.0, 0.0) - o
    m[:3, 2] = view.pixel_to_ras(n + 1, 0.0, 0.0) - o
    m[:3, 3] = o
    return m


def export_slices(
    volume: Volume,
    segmentation: Segmentation | None,
    plane: str = "axial",
    slices: Iterable[int] | None = None,
    ontology: Ontology | None = None,
    name_prefix: str = "slice",
    image_suffix: str | None = None,
    only_annotated: bool = False,
) -> Dataset2D:
    """Slices of ``volume`` (default: all; ``only_annotated`` keeps those where a segment has pixels) as a
    2D dataset with one region per segment and slice.

    Classes come from ``ontology`` (segments are matched by class-id attribute, then name) or from the
    segments themselves (:func:`ontology_from_segmentation`: one class per distinct segment name). Image file
    names are ``<prefix>_<plane>_<nnnn><suffix>``; the default suffix is ``.png`` for 8-bit and unsigned
    16-bit voxels and ``.tif`` otherwise (CT's signed values survive only in TIFF).
    """
    view = PlaneView(volume, plane)
    if segmentation is not None:
        segmentation.require_same_grid(volume)
    if ontology is None:
        ontology = ontology_from_segmentation(segmentation) if segmentation is not None and len(segmentation) else Ontology()
    seg_class: dict[str, int] = {}
    for seg in segmentation or []:
        cls = None
        if CLASS_ID_ATTRIBUTE in seg.attributes:
            cls = next((c for c in ontology if str(c.id) == seg.attributes[CLASS_ID_ATTRIBUTE]), None)
        cls = cls or next((c for c in ontology if c.name == seg.name), None)
        if cls is None:
            raise FormatError(f"Segment {seg.name!r} matches no class of the ontology ({ontology.names}).")
        seg_class[seg.id] = cls.id
    if image_suffix is None:
        image_suffix = ".png" if volume.array.dtype in (np.uint8, np.uint16) else ".tif"
    indices = range(view.n_slices) if slices is None else [int(n) for n in slices]
    dataset = Dataset2D(ontology)
    for n in indices:
        view._check_index(n)
        regions = []
        for seg in segmentation or []:
            mask2d = np.array(view.slice(n, segmentation.mask(seg.id)))
            if mask2d.any():
                regions.append(Region2D(mask2d, seg_class[seg.id], attributes={"segment": seg.id}))
        if only_annotated and not regions:
            continue
        sample = Sample2D(f"{name_prefix}_{view.plane}_{n:04d}{image_suffix}", view.slice_shape,
                          np.array(view.slice(n)), regions,
                          {"plane": view.plane, "slice": n, "pixel_spacing": view.pixel_spacing,
                           "ijk_to_ras": slice_matrix(view, n).tolist()})
        dataset.samples.append(sample)
    return dataset


def write_images(dataset: Dataset2D, folder: str | Path) -> list[Path]:
    """Write every sample's pixels to ``folder/<sample name>`` (PNG/JPEG/TIFF by suffix), all or none."""
    from SegAssistLib.formats.datasets2d.images import write_image

    from SegAssistLib.io.atomic import atomic_group

    missing = [s.name for s in dataset.samples if s.image is None]
    if missing:
        raise FormatError(f"Image {missing[0]} has no pixels to write.")
    with atomic_group():
        from SegAssistLib.io.paths import contained

        # Sample names come from data files (COCO file_name, ...): they must stay inside ``folder``.
        return [write_image(s.image, contained(folder, s.name, f"image {s.name!r}")) for s in dataset.samples]


def _stack_geometry(samples: Sequence[Sample2D], spacing: Sequence[float]) -> np.ndarray:
    mats = [s.metadata.get("ijk_to_ras") for s in samples]
    if all(m is not None for m in mats):
        mats = [np.asarray(m, dtype=float) for m in mats]
        m = mats[0].copy()
        if len(mats) > 1:
            origins = np.array([x[:3, 3] for x in mats])
            steps = np.diff(origins, axis=0)
            if not np.allclose(steps, steps[0], atol=1e-3) or not all(np.allclose(x[:3, :2], m[:3, :2]) for x in mats):
                raise GeometryError(
                    "The 2D slices are not parallel and equally spaced (e.g. every other slice was exported): "
                    "import them as separate volumes, or pass spacing= to ignore their positions."
                )
            m[:3, 2] = steps[0]
        return m
    sx, sy, sz = (float(v) for v in spacing)
    return np.diag([-sx, -sy, sz, 1.0])


def import_stack(
    dataset: Dataset2D, spacing: Sequence[float] | None = None, use_positions: bool = True,
    link_instances: float | None = None,
) -> tuple[Volume, Segmentation]:
    """Samples stacked as slices k = 0.. of a volume with a segmentation on its grid.

    Images must share one shape; colour images are converted to grey (mean of RGB). Regions that name their
    source segment (``attributes["segment"]``) are merged back into that segment; otherwise stuff classes
    become one segment per class, and thing regions become one segment each or, with ``link_instances``
    (the minimum IoU, e.g. :data:`~SegAssistLib.formats.datasets2d.instance_linking.DEFAULT_MIN_IOU`), one segment
    per 3D instance, linking each region to the overlapping one of the slice before
    (:mod:`~SegAssistLib.formats.datasets2d.instance_linking`). ``spacing`` (i, j, k mm) is used when the samples
    carry no positions or ``use_positions`` is off.
    """
    samples = dataset.samples
    if not samples:
        raise FormatError("The 2D dataset has no images to stack.")
    shape = samples[0].shape
    bad = [s.name for s in samples if s.shape != shape]
    if bad:
        raise GeometryError(f"Images {bad[:5]} are not {shape[0]}x{shape[1]} like {samples[0].name}; "
                            "a volume needs slices of one size.")
    dataset.check("2D dataset")
    if use_positions and spacing is None:
        matrix = _stack_geometry(samples, (1.0, 1.0, 1.0))
    else:
        sp = spacing or tuple(samples[0].metadata.get("pixel_spacing", (1.0, 1.0)))[::-1] + (1.0,)
        matrix = _stack_geometry([Sample2D(s.name, s.shape) for s in samples], sp)
    planes = []
    for s in samples:
        img = s.image if s.image is not None else np.zeros(shape, np.uint8)
        if img.ndim == 3:
            img = img[..., :3].mean(axis=-1).astype(np.float32)
        planes.append(img)
    dtype = np.result_type(*[p.dtype for p in planes])
    volume = Volume(np.stack([p.astype(dtype, copy=False) for p in planes]), matrix,
                    {"source": "2D dataset", "slices": [s.name for s in samples]})
    segmentation = Segmentation.like(volume)
    keyed: dict[str, str] = {}
    kinds = {c.id: c.kind for c in dataset.ontology}
    counters: dict[int, int] = {}
    # Thing regions without a source segment, per class and slice, when they are to be linked into 3D.
    unkeyed: dict[int, list[list[Region2D]]] = {}
    for k, s in enumerate(samples):
        for r in s.regions:
            cls = dataset.ontology.by_id(r.class_id)
            key = r.attributes.get("segment")
            if key is None and kinds[r.class_id] == "stuff":
                key = f"class_{cls.id}"
            if key is None and link_instances is not None:
                unkeyed.setdefault(cls.id, [[] for _ in samples])[k].append(r)
                continue
            if key is None or key not in keyed:
                counters[cls.id] = counters.get(cls.id, 0) + 1
                seg_id = str(key) if key is not None and str(key) not in segmentation else segmentation.new_segment_id()
                name = cls.name if kinds[cls.id] == "stuff" or key is not None else f"{cls.name} {counters[cls.id]}"
                segmentation.add_segment(class_to_segment(cls, seg_id, name))
                if key is not None:
                    keyed[key] = seg_id
            else:
                seg_id = keyed[key]
            segmentation.mask(seg_id)[k] |= r.mask
    for class_id, per_slice in unkeyed.items():
        cls = dataset.ontology.by_id(class_id)
        ids = link_slices([[r.mask for r in regions] for regions in per_slice], link_instances)
        segment_of: dict[int, str] = {}
        for k, (regions, numbers) in enumerate(zip(per_slice, ids)):
            for r, number in zip(regions, numbers):
                if number not in segment_of:
                    counters[class_id] = counters.get(class_id, 0) + 1
                    segment_of[number] = segmentation.new_segment_id()
                    segmentation.add_segment(class_to_segment(cls, segment_of[number], f"{cls.name} {counters[class_id]}"))
                segmentation.mask(segment_of[number])[k] |= r.mask
    return volume, segmentation
