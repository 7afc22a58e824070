"""Encord-style ontology JSON: ``{"objects": [...], "classifications": [...]}``.

Each object has ``id``, ``name``, ``color`` (``#RRGGBB``), ``shape`` (``bitmask``, ``polygon``, ...),
``featureNodeHash`` and ``attributes``; classifications (image-level questions with their own feature hashes)
are kept verbatim in :attr:`Ontology.classifications`. Feature hashes identify a class across projects, so
they are preserved in the class attribute ``featureNodeHash``; a class that has none gets a stable one derived
from its name. SegAssist adds ``kind``, ``classId`` and ``terminology`` keys to each object. Class attributes
are written as Encord ``text`` attributes whose ``name`` is the key and ``value`` the value.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from SegAssistLib.errors import FormatError, SegAssistError
from SegAssistLib.io.jsonfile import read_json, write_json
from SegAssistLib.formats.ontology.model import Ontology, OntologyClass, check_kind, hex_color
from SegAssistLib.core.segmentation import Terminology

_RESERVED = ("featureNodeHash", "shape")


def feature_hash(name: str) -> str:
    """A stable 8-hex-digit feature hash for a class name (Encord's hashes are 8 hex digits)."""
    return hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]


def ontology_from_encord(doc: dict, where: str = "Encord ontology") -> Ontology:
    if not isinstance(doc, dict) or not isinstance(doc.get("objects"), list):
        raise FormatError(f"{where}: not an Encord ontology (no 'objects' list).")
    onto = Ontology(classifications=doc.get("classifications") or [])
    for n, obj in enumerate(doc["objects"]):
        if not isinstance(obj, dict) or not obj.get("name"):
            raise FormatError(f"{where}: object #{n} has no name.")
        term = None
        if obj.get("terminology"):
            try:
                term = Terminology.from_slicer_string(obj["terminology"])
            except SegAssistError as exc:
                raise FormatError(f"{where}: object {obj['name']!r}: {exc}") from None
        attributes = {}
        # Keep hash and shape only when they are not what writing would produce anyway.
        if obj.get("featureNodeHash") and obj["featureNodeHash"] != feature_hash(obj["name"]):
            attributes["featureNodeHash"] = obj["featureNodeHash"]
        if obj.get("shape", "bitmask") != "bitmask":
            attributes["shape"] = obj["shape"]
        for a in obj.get("attributes") or []:
            if a.get("type") == "text" and "name" in a:
                attributes[a["name"]] = str(a.get("value", ""))
        class_id = obj.get("classId", obj.get("id"))
        try:
            class_id = int(class_id) if class_id is not None else None
        except ValueError:
            class_id = None
        onto.add(OntologyClass(obj["name"], obj.get("color", "#80ae80"),
                               check_kind(obj.get("kind", "thing"), f"{where}: object {obj['name']!r}: "),
                               class_id, term, attributes))
    if not len(onto):
        raise FormatError(f"{where}: the ontology has no objects.")
    return onto


def ontology_to_encord(ontology: Ontology) -> dict:
    objects = []
    for c in ontology:
        attributes = dict(c.attributes)
        fhash = attributes.pop("featureNodeHash", None) or feature_hash(c.name)
        obj = {"id": str(c.id), "name": c.name, "color": hex_color(c.color).upper(),
               "shape": attributes.pop("shape", "bitmask"), "featureNodeHash": fhash,
               "kind": c.kind, "classId": c.id,
               "attributes": [{"id": f"{c.id}.{i}", "name": k, "type": "text", "required": False, "value": v,
                               "featureNodeHash": feature_hash(f"{fhash}/{k}")}
                              for i, (k, v) in enumerate(attributes.items(), start=1)]}
        if c.terminology:
            obj["terminology"] = c.terminology.to_slicer_string()
        objects.append(obj)
    return {"objects": objects, "classifications": list(ontology.classifications)}


def read_encord(path: str | os.PathLike) -> Ontology:
    p = Path(path)
    doc = read_json(p)
    onto = ontology_from_encord(doc, str(p))
    onto.name = p.stem
    return onto


def write_encord(ontology: Ontology, path: str | os.PathLike) -> Path:
    p = Path(path)
    return write_json(p, ontology_to_encord(ontology))
