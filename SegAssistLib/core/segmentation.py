"""The segmentation data model: segments (id, name, colour, terminology, attributes) with masks on a
reference volume's grid. Segments may overlap, as Slicer's segmentation layers allow.

Readers and writers (.seg.nrrd, labelmaps, DICOM SEG, 2D datasets) and the MRML glue all convert to and
from :class:`Segmentation`; nothing else in SegAssist invents its own container.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

from SegAssistLib.errors import FormatError, GeometryError, SegmentError
from SegAssistLib.core.volume import Volume


@dataclass(frozen=True)
class Code:
    """A coded concept as DICOM and Slicer's terminologies use it: (coding scheme, code value, meaning)."""

    scheme: str
    value: str
    meaning: str

    def is_empty(self) -> bool:
        return not (self.scheme or self.value or self.meaning)


@dataclass(frozen=True)
class Terminology:
    """A segment's terminology entry as Slicer stores it (category, type, optional modifier and region).

    ``context`` names the terminology context (e.g. "Segmentation category and type - DICOM master list").
    """

    category: Code
    type: Code
    type_modifier: Code | None = None
    anatomic_region: Code | None = None
    anatomic_region_modifier: Code | None = None
    context: str = "Segmentation category and type - DICOM master list"
    anatomic_context: str = "Anatomic codes - DICOM master list"

    def to_slicer_string(self) -> str:
        """Slicer's ``Segment{N}_Tags:TerminologyEntry`` form: ``ctx~cat~type~mod~anatctx~region~regmod``,
        each code written as ``scheme^value^meaning``."""

        def c(code: Code | None) -> str:
            return "^".join((code.scheme, code.value, code.meaning)) if code else "^^"

        return "~".join(
            [
                self.context,
                c(self.category),
                c(self.type),
                c(self.type_modifier),
                self.anatomic_context,
                c(self.anatomic_region),
                c(self.anatomic_region_modifier),
            ]
        )

    @classmethod
    def from_slicer_string(cls, text: str) -> "Terminology":
        """Parse Slicer's terminology entry string; raises SegAssistError when it is malformed."""
        parts = text.split("~")
        if len(parts) == 8 and not parts[7]:
            parts = parts[:7]  # Slicer 5.x's GetTerminologyAsString ends with an empty eighth field
        if len(parts) != 7:
            raise FormatError(
                f"Malformed Slicer terminology entry {text!r}: expected 7 '~'-separated fields, got {len(parts)}."
            )

        def code(field_text: str) -> Code | None:
            bits = field_text.split("^")
            if len(bits) != 3:
                raise FormatError(f"Malformed code {field_text!r} in terminology entry: expected scheme^value^meaning.")
            c = Code(*bits)
            return None if c.is_empty() else c

        category, type_ = code(parts[1]), code(parts[2])
        if category is None or type_ is None:
            raise FormatError(f"Terminology entry {text!r} has no category or type code.")
        return cls(
            category=category,
            type=type_,
            type_modifier=code(parts[3]),
            anatomic_region=code(parts[5]),
            anatomic_region_modifier=code(parts[6]),
            context=parts[0],
            anatomic_context=parts[4],
        )


#: A generic terminology used when the user gave none ("Tissue" / "Tissue" in Slicer's default list).
DEFAULT_TERMINOLOGY = Terminology(
    category=Code("SCT", "85756007", "Tissue"),
    type=Code("SCT", "85756007", "Tissue"),
)


@dataclass
class Segment:
    """One segment: a stable ``id``, display ``name``, RGB ``color`` in 0..1, optional terminology and
    free-form string ``attributes``."""

    id: str
    name: str
    color: tuple[float, float, float] = (0.5, 0.68, 0.5)
    terminology: Terminology | None = None
    attributes: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.id:
            raise SegmentError("A segment needs a non-empty id.")
        color = tuple(float(c) for c in self.color)
        if len(color) != 3 or any(not 0.0 <= c <= 1.0 for c in color):
            raise SegmentError(f"Segment {self.name!r}: colour must be three values in 0..1, got {self.color}.")
        self.color = color  # type: ignore[assignment]


class Segmentation:
    """Segments with bool masks on the grid of a reference geometry (shape (k, j, i) + IJK->RAS)."""

    def __init__(self, shape: tuple[int, int, int], ijk_to_ras: np.ndarray, metadata: dict[str, Any] | None = None):
        self.shape = tuple(int(s) for s in shape)
        self.ijk_to_ras = np.asarray(ijk_to_ras, dtype=float)
        self.metadata: dict[str, Any] = dict(metadata or {})
        self._segments: dict[str, Segment] = {}
        self._masks: dict[str, np.ndarray] = {}

    @classmethod
    def like(cls, volume: Volume, **metadata: Any) -> "Segmentation":
        """An empty segmentation on ``volume``'s grid."""
        return cls(volume.shape, volume.ijk_to_ras, metadata)

    @property
    def geometry(self) -> Volume:
        """A zero-size stand-in volume carrying this grid (for geometry helpers); the array is a broadcast view."""
        return Volume(np.broadcast_to(np.zeros((), np.uint8), self.shape), self.ijk_to_ras)

    def __len__(self) -> int:
        return len(self._segments)

    def __iter__(self) -> Iterator[Segment]:
        return iter(self._segments.values())

    def __contains__(self, segment_id: str) -> bool:
        return segment_id in self._segments

    @property
    def segment_ids(self) -> list[str]:
        return list(self._segments)

    def segment(self, segment_id: str) -> Segment:
        try:
            return self._segments[segment_id]
        except KeyError:
            raise SegmentError(f"No segment with id {segment_id!r}; segments: {self.segment_ids}.") from None

    def find(self, name: str) -> Segment | None:
        """The first segment called ``name``, or None."""
        return next((s for s in self._segments.values() if s.name == name), None)

    def mask(self, segment_id: str) -> np.ndarray:
        """Bool (k, j, i) mask of a segment (the stored array, not a copy)."""
        self.segment(segment_id)
        return self._masks[segment_id]

    def add_segment(self, segment: Segment, mask: np.ndarray | None = None) -> Segment:
        """Add ``segment`` with ``mask`` (default empty); ids must be unique."""
        if segment.id in self._segments:
            raise SegmentError(f"A segment with id {segment.id!r} already exists.")
        self._segments[segment.id] = segment
        self._masks[segment.id] = np.zeros(self.shape, dtype=bool)
        if mask is not None:
            self.set_mask(segment.id, mask)
        return segment

    def set_mask(self, segment_id: str, mask: np.ndarray) -> None:
        """Replace a segment's mask; the mask must be on this grid."""
        self.segment(segment_id)
        mask = np.asarray(mask)
        if mask.shape != self.shape:
            raise GeometryError(f"Mask shape {mask.shape} does not match the segmentation grid {self.shape}.")
        self._masks[segment_id] = mask.astype(bool, copy=False)

    def remove_segment(self, segment_id: str) -> None:
        self.segment(segment_id)
        del self._segments[segment_id]
        del self._masks[segment_id]

    def new_segment_id(self, prefix: str = "Segment_") -> str:
        """An id not yet used, in Slicer's ``Segment_N`` style."""
        n = len(self._segments) + 1
        while f"{prefix}{n}" in self._segments:
            n += 1
        return f"{prefix}{n}"

    def overlaps(self) -> bool:
        """True when any voxel belongs to more than one segment."""
        if len(self._masks) < 2:
            return False
        count = np.zeros(self.shape, dtype=np.uint16)
        for m in self._masks.values():
            count += m
        return bool((count > 1).any())

    def to_labelmap(self, allow_overlap: bool = False) -> tuple[np.ndarray, dict[int, str]]:
        """A (k, j, i) label array (value n = n-th segment) and {label: segment id}.

        Raises when segments overlap, unless ``allow_overlap`` (later segments then win, which loses voxels).
        """
        if self.overlaps() and not allow_overlap:
            raise SegmentError(
                "Segments overlap, and a plain labelmap can hold one label per voxel: write a .seg.nrrd "
                "(keeps overlaps as layers) or add --allow-overlap (Python: allow_overlap=True) to let later "
                "segments win."
            )
        dtype = np.uint8 if len(self._segments) < 256 else np.uint16
        labels = np.zeros(self.shape, dtype=dtype)
        mapping = {}
        for n, (sid, m) in enumerate(self._masks.items(), start=1):
            labels[m] = n
            mapping[n] = sid
        return labels, mapping

    def require_same_grid(self, volume: Volume) -> None:
        """Raise a GeometryError unless this segmentation lies on ``volume``'s grid."""
        volume.require_same_grid(self.geometry, "segmentation")
