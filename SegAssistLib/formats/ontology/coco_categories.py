"""COCO categories: ``[{"id", "name", "supercategory", "isthing", "color"}]`` (``isthing``/``color`` as in COCO
panoptic). SegAssist adds ``"terminology"`` (Slicer's terminology string) and ``"attributes"``; COCO tools
ignore unknown keys. Reads a bare category list or any COCO JSON that has a ``categories`` list.
"""

from __future__ import annotations

import os
from pathlib import Path

from SegAssistLib.errors import FormatError, SegAssistError
from SegAssistLib.io.jsonfile import read_json, write_json
from SegAssistLib.formats.ontology.model import Ontology, OntologyClass, check_kind
from SegAssistLib.core.segmentation import Terminology


def categories_to_ontology(categories: list, where: str = "COCO categories") -> Ontology:
    """An ontology from a COCO ``categories`` list (missing ``isthing`` means thing, as in COCO detection)."""
    if not isinstance(categories, list) or not categories:
        raise FormatError(f"{where}: the 'categories' list is missing or empty.")
    onto = Ontology()
    for n, cat in enumerate(categories):
        if not isinstance(cat, dict) or "id" not in cat or "name" not in cat:
            raise FormatError(f"{where}: category #{n} needs an 'id' and a 'name', got {cat!r}.")
        term = None
        if cat.get("terminology"):
            try:
                term = Terminology.from_slicer_string(cat["terminology"])
            except SegAssistError as exc:
                raise FormatError(f"{where}: category {cat['name']!r}: {exc}") from None
        attributes = dict(cat.get("attributes") or {})
        if cat.get("supercategory") and cat["supercategory"] != check_kind(cat.get("isthing", 1)):
            attributes["supercategory"] = cat["supercategory"]
        onto.add(OntologyClass(cat["name"], cat.get("color", (128, 174, 128)),
                               check_kind(cat.get("isthing", 1), f"{where}: category {cat['name']!r}: "),
                               cat["id"], term, attributes))
    return onto


def ontology_to_categories(ontology: Ontology) -> list[dict]:
    """COCO category dicts (with ``isthing`` and ``color``) for ``ontology``."""
    out = []
    for c in ontology:
        attributes = dict(c.attributes)
        d = {"id": c.id, "name": c.name, "supercategory": attributes.pop("supercategory", c.kind),
             "isthing": int(c.isthing), "color": list(c.color)}
        if c.terminology:
            d["terminology"] = c.terminology.to_slicer_string()
        if attributes:
            d["attributes"] = attributes
        out.append(d)
    return out


def read_coco_categories(path: str | os.PathLike) -> Ontology:
    """Read the categories of a COCO JSON file (instances, panoptic, or a bare list)."""
    p = Path(path)
    doc = read_json(p)
    cats = doc.get("categories") if isinstance(doc, dict) else doc
    onto = categories_to_ontology(cats, str(p))
    onto.name = p.stem
    return onto


def write_coco_categories(ontology: Ontology, path: str | os.PathLike) -> Path:
    """Write ``{"categories": [...]}`` for ``ontology``."""
    p = Path(path)
    write_json(p, {"categories": ontology_to_categories(ontology)})
    return p
