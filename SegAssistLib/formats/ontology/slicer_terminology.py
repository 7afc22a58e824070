"""Slicer terminology JSON ("segment-context" schema of dcmqi, as loaded by Slicer's Terminologies module).

Layout: ``SegmentationCodes.Category[]`` each with coded ``Type[]``, a type optionally with ``Modifier[]``;
each type or modifier has ``recommendedDisplayRGBValue`` and ``3dSlicerLabel`` (the name). One class becomes
one type (or one modifier of a type when its terminology has a type modifier). SegAssist adds three keys that
the schema does not define and Slicer ignores: ``SegAssistKind`` (stuff/thing), ``SegAssistClassId`` and
``SegAssistAnatomicRegion`` (``scheme^value^meaning``; regions normally live in a separate anatomic context).

A class without terminology is written with the generic "Tissue" category and a type in the private coding
scheme ``99SEGASSIST`` (DICOM reserves ``99``-prefixed schemes for local codes) so that Slicer can still
list it; such types read back as classes without terminology.
"""

from __future__ import annotations

import os
from pathlib import Path

from SegAssistLib.errors import FormatError
from SegAssistLib.io.jsonfile import read_json, write_json
from SegAssistLib.formats.ontology.model import Ontology, OntologyClass, check_kind
from SegAssistLib.core.segmentation import Code, DEFAULT_TERMINOLOGY, Terminology

SCHEMA = "https://raw.githubusercontent.com/qiicr/dcmqi/master/doc/schemas/segment-context-schema.json#"
PRIVATE_SCHEME = "99SEGASSIST"
DEFAULT_CONTEXT = "Segmentation category and type - SegAssist"


def _code(d: dict, where: str) -> Code:
    try:
        return Code(str(d["CodingSchemeDesignator"]), str(d["CodeValue"]), str(d["CodeMeaning"]))
    except (KeyError, TypeError):
        raise FormatError(f"{where}: an entry lacks CodingSchemeDesignator, CodeValue or CodeMeaning.") from None


def _code_dict(code: Code) -> dict:
    return {"CodingSchemeDesignator": code.scheme, "CodeValue": code.value, "CodeMeaning": code.meaning}


def _parse_code_string(text: str | None) -> Code | None:
    if not text:
        return None
    bits = text.split("^")
    return Code(*bits) if len(bits) == 3 else None


def read_terminology(path: str | os.PathLike) -> Ontology:
    """Read a Slicer terminology JSON file into an ontology (one class per type or type modifier)."""
    p = Path(path)
    doc = read_json(p)
    categories = (doc.get("SegmentationCodes") or {}).get("Category") if isinstance(doc, dict) else None
    if not isinstance(categories, list):
        raise FormatError(f"{p}: not a Slicer terminology file (no SegmentationCodes.Category list).")
    context = doc.get("SegmentationCategoryTypeContextName", "")
    onto = Ontology(name=context)
    for cat in categories:
        category = _code(cat, str(p))
        for typ in cat.get("Type") or []:
            type_code = _code(typ, f"{p}, category {category.meaning!r}")
            entries = [(typ, None)] + [(m, _code(m, f"{p}, type {type_code.meaning!r}")) for m in typ.get("Modifier") or []]
            # A type that has modifiers is only a class itself when it carries its own label.
            if typ.get("Modifier") and "3dSlicerLabel" not in typ:
                entries = entries[1:]
            for entry, modifier in entries:
                name = entry.get("3dSlicerLabel") or (
                    f"{modifier.meaning} {type_code.meaning}" if modifier else type_code.meaning
                )
                term = None
                if type_code.scheme != PRIVATE_SCHEME:
                    term = Terminology(category, type_code, modifier,
                                       _parse_code_string(entry.get("SegAssistAnatomicRegion")), None, context)
                color = entry.get("recommendedDisplayRGBValue", typ.get("recommendedDisplayRGBValue", (128, 174, 128)))
                onto.add(OntologyClass(name, color, check_kind(entry.get("SegAssistKind", "stuff"), f"{p}: "),
                                       entry.get("SegAssistClassId"), term))
    if not len(onto):
        raise FormatError(f"{p}: the terminology defines no types.")
    return onto


def write_terminology(ontology: Ontology, path: str | os.PathLike, context: str | None = None) -> Path:
    """Write ``ontology`` as a Slicer terminology JSON file (loadable by Slicer's Terminologies module)."""
    p = Path(path)
    context = context or ontology.name or next(
        (c.terminology.context for c in ontology if c.terminology and c.terminology.context), DEFAULT_CONTEXT)
    categories: dict[Code, dict] = {}
    for c in ontology:
        t = c.terminology or Terminology(DEFAULT_TERMINOLOGY.category,
                                         Code(PRIVATE_SCHEME, str(c.id), c.name))
        cat = categories.setdefault(t.category, {**_code_dict(t.category), "showAnatomy": "true", "Type": []})
        typ = next((x for x in cat["Type"] if _code(x, "") == t.type), None)
        if typ is None:
            typ = {**_code_dict(t.type)}
            cat["Type"].append(typ)
        entry = {"recommendedDisplayRGBValue": list(c.color), "3dSlicerLabel": c.name,
                 "SegAssistKind": c.kind, "SegAssistClassId": c.id}
        if t.anatomic_region:
            entry["SegAssistAnatomicRegion"] = "^".join((t.anatomic_region.scheme, t.anatomic_region.value,
                                                         t.anatomic_region.meaning))
        if t.type_modifier:
            typ.setdefault("Modifier", []).append({**_code_dict(t.type_modifier), **entry})
        elif "3dSlicerLabel" in typ:
            raise FormatError(
                f"Classes {typ['3dSlicerLabel']!r} and {c.name!r} share the terminology type "
                f"{t.type.meaning!r} without a modifier; Slicer's terminology format needs one type per class."
            )
        else:
            typ.update(entry)
    doc = {"SegmentationCategoryTypeContextName": context, "@schema": SCHEMA,
           "SegmentationCodes": {"Category": list(categories.values())}}
    write_json(p, doc)
    return p
