"""The in-memory form of a 2D dataset that every 2D format reads into and writes from.

A :class:`Dataset2D` is an :class:`~SegAssistLib.formats.ontology.Ontology` plus :class:`Sample2D` images, each with
a list of :class:`Region2D` (a bool mask, a class id and, for things, the fact that it is one instance).
Stuff classes have at most one region per image (all pixels of that class); thing classes have one region per
instance. Regions may overlap in memory; formats that cannot hold overlaps (index PNGs, panoptic PNGs) resolve
them with the rule of :func:`SegAssistLib.formats.datasets2d.panoptic.assemble_panoptic`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from SegAssistLib.errors import FormatError, GeometryError
from SegAssistLib.formats.ontology.model import Ontology


@dataclass
class Region2D:
    """One stuff region or one thing instance of an image: ``mask`` is bool (rows, cols)."""

    mask: np.ndarray
    class_id: int
    score: float | None = None
    iscrowd: bool = False
    attributes: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.mask = np.asarray(self.mask).astype(bool, copy=False)
        if self.mask.ndim != 2:
            raise GeometryError(f"A 2D region mask must be (rows, cols); got shape {self.mask.shape}.")
        self.class_id = int(self.class_id)

    @property
    def area(self) -> int:
        return int(self.mask.sum())


@dataclass
class Sample2D:
    """One image: ``name`` is its file name inside the dataset, ``image`` its pixels ((rows, cols) or
    (rows, cols, channels); may be None when only annotations were read), ``shape`` (rows, cols)."""

    name: str
    shape: tuple[int, int]
    image: np.ndarray | None = None
    regions: list[Region2D] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.shape = (int(self.shape[0]), int(self.shape[1]))
        if self.image is not None and tuple(self.image.shape[:2]) != self.shape:
            raise GeometryError(f"Image {self.name}: pixels are {self.image.shape[:2]} but the sample is {self.shape}.")

    def add(self, region: Region2D) -> Region2D:
        if region.mask.shape != self.shape:
            raise GeometryError(
                f"Image {self.name}: a mask of shape {region.mask.shape} does not fit the image {self.shape}."
            )
        self.regions.append(region)
        return region


@dataclass
class Dataset2D:
    """An ontology and its images with regions."""

    ontology: Ontology
    samples: list[Sample2D] = field(default_factory=list)

    def check(self, where: str = "dataset") -> None:
        """Raise a FormatError when a region uses a class id the ontology does not have."""
        ids = {c.id for c in self.ontology}
        for s in self.samples:
            for r in s.regions:
                if r.class_id not in ids:
                    raise FormatError(
                        f"{where}: image {s.name} has a region of unknown category id {r.class_id} "
                        f"(known ids: {sorted(ids)})."
                    )

    def sample(self, name: str) -> Sample2D:
        for s in self.samples:
            if s.name == name:
                return s
        raise FormatError(f"No image named {name!r} in the dataset.")


def dataset_from_instance_labels(
    labels: np.ndarray, ontology: Ontology, thing: str, stuff: str | None = None, name: str = "image.png",
    image: np.ndarray | None = None,
) -> Dataset2D:
    """A one-image dataset from an instance label image (0 = background, every other value one instance of
    class ``thing``); the background becomes one region of class ``stuff`` when given."""
    labels = np.asarray(labels)
    sample = Sample2D(name, labels.shape[:2], image)
    thing_id = ontology.by_name(thing).id
    if stuff is not None:
        bg = labels == 0
        if bg.any():
            sample.add(Region2D(bg, ontology.by_name(stuff).id))
    for value in np.unique(labels):
        if value == 0:
            continue
        sample.add(Region2D(labels == value, thing_id, attributes={"label_value": int(value)}))
    return Dataset2D(ontology, [sample])


#: Keys of Sample2D.metadata that COCO-style writers store in an image entry (under "segassist") and
#: readers restore, so slices exported from a volume can be put back in place.
GEOMETRY_KEYS = ("ijk_to_ras", "plane", "slice", "pixel_spacing")


def image_entry_extra(sample: Sample2D) -> dict:
    """``{"segassist": {...}}`` for a COCO image entry, or {} when the sample has no geometry."""
    extra = {k: sample.metadata[k] for k in GEOMETRY_KEYS if k in sample.metadata}
    return {"segassist": extra} if extra else {}


def restore_image_entry_extra(sample: Sample2D, entry: dict) -> None:
    sample.metadata.update({k: v for k, v in (entry.get("segassist") or {}).items() if k in GEOMETRY_KEYS})
