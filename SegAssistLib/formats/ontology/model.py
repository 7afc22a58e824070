"""The ontology model: the classes a dataset or a segmentation uses, independent of any file format.

A class has a display ``name``, an 8-bit RGB ``color`` (every interchange format stores colours as 0..255 or
as ``#rrggbb``, so keeping integers makes round trips exact), a ``kind`` (``"stuff"``: semantic, one region per
image such as background or tissue; ``"thing"``: countable instances such as nuclei), an optional numeric
``id`` (label value, COCO category id), an optional terminology entry (coded concepts as Slicer and DICOM use
them, see :class:`SegAssistLib.core.segmentation.Terminology`) and free-form string ``attributes``.

The format modules in this package (Slicer colour tables and terminology JSON, COCO categories, Label
Studio XML, Encord-style and CVAT JSON) all read into and write from :class:`Ontology`; the mapping to and
from Slicer segments lives here too so that every format reaches segments the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterable, Iterator

from SegAssistLib.errors import FormatError, OptionError
from SegAssistLib.core.segmentation import Segment, Segmentation, Terminology

KINDS = ("stuff", "thing")

#: Segment attribute keys used to carry ontology information that a Segment has no field for.
KIND_ATTRIBUTE = "SegAssist.Kind"
CLASS_ID_ATTRIBUTE = "SegAssist.ClassId"


def check_kind(kind: str, where: str = "") -> str:
    """Normalise a kind ("stuff"/"thing", also accepting isthing-style booleans) or raise a FormatError."""
    if isinstance(kind, bool):
        return "thing" if kind else "stuff"
    k = str(kind).strip().lower()
    if k in ("1", "true"):
        return "thing"
    if k in ("0", "false"):
        return "stuff"
    if k not in KINDS:
        raise FormatError(f"{where}unknown class kind {kind!r}: use 'stuff' (semantic) or 'thing' (instances).")
    return k


def hex_color(color: tuple[int, int, int]) -> str:
    """``#rrggbb`` of an 8-bit RGB triple."""
    return "#{:02x}{:02x}{:02x}".format(*color)


def parse_color(value, where: str = "") -> tuple[int, int, int]:
    """An 8-bit RGB triple from ``#rrggbb``/``#rgb``, ``rgb(r, g, b)`` or a sequence of three 0..255 numbers."""
    try:
        if isinstance(value, str):
            v = value.strip()
            if v.lower().startswith("rgb"):
                parts = v[v.index("(") + 1 : v.rindex(")")].split(",")[:3]
                rgb = tuple(int(round(float(p))) for p in parts)
            else:
                h = v.lstrip("#")
                if len(h) == 3:
                    h = "".join(c * 2 for c in h)
                if len(h) not in (6, 8):
                    raise ValueError
                rgb = tuple(int(h[i : i + 2], 16) for i in (0, 2, 4))
        else:
            rgb = tuple(int(round(float(x))) for x in list(value)[:3])
        if len(rgb) != 3 or any(not 0 <= c <= 255 for c in rgb):
            raise ValueError
    except (ValueError, TypeError):
        raise FormatError(f"{where}colour {value!r} is not '#rrggbb' or three values in 0..255.") from None
    return rgb  # type: ignore[return-value]


@dataclass
class OntologyClass:
    """One class of an ontology (see the module docstring for the fields)."""

    name: str
    color: tuple[int, int, int] = (128, 174, 128)
    kind: str = "thing"
    id: int | None = None
    terminology: Terminology | None = None
    attributes: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not str(self.name).strip():
            raise FormatError("An ontology class needs a non-empty name.")
        self.color = parse_color(self.color, f"class {self.name!r}: ")
        self.kind = check_kind(self.kind, f"class {self.name!r}: ")
        if self.id is not None:
            self.id = int(self.id)
        self.attributes = {str(k): str(v) for k, v in self.attributes.items()}

    @property
    def isthing(self) -> bool:
        return self.kind == "thing"

    @property
    def color_float(self) -> tuple[float, float, float]:
        """The colour as three floats in 0..1 (Slicer segments, matplotlib)."""
        return tuple(c / 255.0 for c in self.color)  # type: ignore[return-value]


class Ontology:
    """An ordered set of classes with unique names and unique ids (ids are assigned 1, 2, ... when missing).

    ``classifications`` keeps image-level questions (Encord classifications) as plain dicts so they survive a
    round trip through formats that have them; ``name`` is an optional title.
    """

    def __init__(self, classes: Iterable[OntologyClass] = (), name: str = "", classifications: list | None = None):
        self.name = name
        self.classifications: list = list(classifications or [])
        self._classes: list[OntologyClass] = []
        for c in classes:
            self.add(c)

    def add(self, cls: OntologyClass) -> OntologyClass:
        """Add a class; give it the next free id when it has none. Duplicate names or ids raise."""
        if any(c.name == cls.name for c in self._classes):
            raise FormatError(f"The ontology already has a class named {cls.name!r}: class names must be unique.")
        if cls.id is None:
            cls = replace(cls, id=max((c.id for c in self._classes if c.id is not None), default=0) + 1)
        elif any(c.id == cls.id for c in self._classes):
            raise FormatError(f"Class {cls.name!r} reuses id {cls.id} of class {self.by_id(cls.id).name!r}.")
        self._classes.append(cls)
        return cls

    def __iter__(self) -> Iterator[OntologyClass]:
        return iter(self._classes)

    def __len__(self) -> int:
        return len(self._classes)

    def __getitem__(self, i: int) -> OntologyClass:
        return self._classes[i]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Ontology) and self._classes == other._classes

    def __repr__(self) -> str:
        return f"Ontology({[c.name for c in self._classes]})"

    @property
    def names(self) -> list[str]:
        return [c.name for c in self._classes]

    def by_name(self, name: str) -> OntologyClass:
        for c in self._classes:
            if c.name == name:
                return c
        raise OptionError(f"No class named {name!r} in the ontology; classes: {self.names}.")

    def by_id(self, class_id: int) -> OntologyClass:
        for c in self._classes:
            if c.id == int(class_id):
                return c
        raise FormatError(
            f"Unknown category id {class_id}: the ontology has ids {[c.id for c in self._classes]}. "
            "Check that the annotations and the category list come from the same dataset."
        )

    def things(self) -> list[OntologyClass]:
        return [c for c in self._classes if c.kind == "thing"]

    def stuff(self) -> list[OntologyClass]:
        return [c for c in self._classes if c.kind == "stuff"]


# ---- mapping to and from Slicer segments ------------------------------------------------------------
def class_to_segment(cls: OntologyClass, segment_id: str | None = None, name: str | None = None) -> Segment:
    """A :class:`Segment` carrying the class's name, colour and terminology; kind, id and attributes go into
    the segment's attributes (``SegAssist.Kind``, ``SegAssist.ClassId``) so they come back unchanged."""
    attributes = dict(cls.attributes)
    attributes[KIND_ATTRIBUTE] = cls.kind
    if cls.id is not None:
        attributes[CLASS_ID_ATTRIBUTE] = str(cls.id)
    return Segment(
        id=segment_id or f"class_{cls.id}",
        name=name or cls.name,
        color=cls.color_float,
        terminology=cls.terminology,
        attributes=attributes,
    )


def segment_to_class(segment: Segment, default_kind: str = "stuff") -> OntologyClass:
    """The ontology class a segment stands for (the inverse of :func:`class_to_segment`)."""
    attributes = dict(segment.attributes)
    kind = attributes.pop(KIND_ATTRIBUTE, default_kind)
    class_id = attributes.pop(CLASS_ID_ATTRIBUTE, None)
    return OntologyClass(
        name=segment.name,
        color=tuple(int(round(c * 255)) for c in segment.color),  # type: ignore[arg-type]
        kind=kind,
        id=int(class_id) if class_id is not None else None,
        terminology=segment.terminology,
        attributes=attributes,
    )


def ontology_from_segmentation(segmentation: Segmentation, default_kind: str = "stuff") -> Ontology:
    """One class per distinct segment class: segments sharing a class id or a name (the instances of one
    thing class) give one class; the first such segment decides its name, colour and terminology."""
    onto = Ontology()
    seen: dict[str, OntologyClass] = {}
    for seg in segmentation:
        cls = segment_to_class(seg, default_kind)
        key = str(cls.id) if cls.id is not None else cls.name
        if key in seen:
            continue
        cls = replace(cls, attributes={k: v for k, v in cls.attributes.items() if not k.startswith("SegAssist.")})
        seen[key] = onto.add(cls)
    return onto


def apply_to_segments(ontology: Ontology, segmentation: Segmentation) -> int:
    """Give every segment whose name (or class id attribute) matches a class that class's colour,
    terminology and kind; returns how many segments were updated."""
    updated = 0
    for seg in segmentation:
        cls = None
        if CLASS_ID_ATTRIBUTE in seg.attributes:
            cls = next((c for c in ontology if str(c.id) == seg.attributes[CLASS_ID_ATTRIBUTE]), None)
        if cls is None:
            cls = next((c for c in ontology if c.name == seg.name), None)
        if cls is None:
            continue
        seg.color = cls.color_float
        seg.terminology = cls.terminology
        seg.attributes[KIND_ATTRIBUTE] = cls.kind
        seg.attributes[CLASS_ID_ATTRIBUTE] = str(cls.id)
        updated += 1
    return updated
