"""CVAT label JSON (the "Raw" label constructor of a CVAT project or task):
``[{"name", "color", "type", "attributes": [...]}]``.

``type`` is CVAT's shape type (``mask``, ``polygon``, ``any``...). Class attributes become CVAT ``text``
attributes (``name``, ``default_value``); SegAssist adds ``kind``, ``id`` and ``terminology`` keys, which CVAT
keeps or drops but does not reject.
"""

from __future__ import annotations

import os
from pathlib import Path

from SegAssistLib.errors import FormatError, SegAssistError
from SegAssistLib.io.jsonfile import read_json, write_json
from SegAssistLib.formats.ontology.model import Ontology, OntologyClass, check_kind, hex_color
from SegAssistLib.core.segmentation import Terminology


def ontology_from_cvat(labels: list, where: str = "CVAT labels") -> Ontology:
    if isinstance(labels, dict) and isinstance(labels.get("labels"), list):
        labels = labels["labels"]
    if not isinstance(labels, list) or not labels:
        raise FormatError(f"{where}: expected a non-empty list of CVAT labels.")
    onto = Ontology()
    for n, lab in enumerate(labels):
        if not isinstance(lab, dict) or not lab.get("name"):
            raise FormatError(f"{where}: label #{n} has no name.")
        term = None
        if lab.get("terminology"):
            try:
                term = Terminology.from_slicer_string(lab["terminology"])
            except SegAssistError as exc:
                raise FormatError(f"{where}: label {lab['name']!r}: {exc}") from None
        attributes = {}
        if lab.get("type") not in (None, "any"):
            attributes["cvat_type"] = lab["type"]
        for a in lab.get("attributes") or []:
            if "name" in a:
                attributes[a["name"]] = str(a.get("default_value", ""))
        onto.add(OntologyClass(lab["name"], lab.get("color", "#80ae80"),
                               check_kind(lab.get("kind", "thing"), f"{where}: label {lab['name']!r}: "),
                               lab.get("id"), term, attributes))
    return onto


def ontology_to_cvat(ontology: Ontology) -> list[dict]:
    out = []
    for c in ontology:
        attributes = dict(c.attributes)
        lab = {"name": c.name, "id": c.id, "color": hex_color(c.color), "type": attributes.pop("cvat_type", "any"),
               "kind": c.kind,
               "attributes": [{"name": k, "mutable": False, "input_type": "text", "default_value": v, "values": [v]}
                              for k, v in attributes.items()]}
        if c.terminology:
            lab["terminology"] = c.terminology.to_slicer_string()
        out.append(lab)
    return out


def read_cvat(path: str | os.PathLike) -> Ontology:
    p = Path(path)
    doc = read_json(p)
    onto = ontology_from_cvat(doc, str(p))
    onto.name = p.stem
    return onto


def write_cvat(ontology: Ontology, path: str | os.PathLike) -> Path:
    p = Path(path)
    return write_json(p, ontology_to_cvat(ontology))
