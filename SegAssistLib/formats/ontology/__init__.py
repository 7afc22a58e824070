"""Ontologies: the classes of a segmentation or dataset, and their file formats.

:mod:`.model` holds :class:`Ontology` / :class:`OntologyClass` and the mapping to Slicer segments; one module
per format reads and writes it. :func:`read_ontology` / :func:`write_ontology` pick the format from the file
name or an explicit ``fmt``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from typing import TYPE_CHECKING

from SegAssistLib.errors import FormatError

if TYPE_CHECKING:
    from SegAssistLib.formats.ontology.model import Ontology

_MODEL_NAMES = ("Ontology", "OntologyClass", "apply_to_segments", "class_to_segment", "ontology_from_segmentation",
                "segment_to_class")


def __getattr__(name: str):
    # The model (numpy) loads on first use, so `segassist --help` stays fast.
    if name in _MODEL_NAMES:
        from SegAssistLib.formats.ontology import model

        return getattr(model, name)
    raise AttributeError(name)

#: Format names accepted by read_ontology / write_ontology / ``segassist ontology``.
FORMATS = ("slicer-ctbl", "slicer-csv", "slicer-terminology", "coco", "label-studio", "encord", "cvat")

__all__ = ["FORMATS", "Ontology", "OntologyClass", "apply_to_segments", "class_to_segment", "detect_format",
           "ontology_from_segmentation", "read_ontology", "segment_to_class", "write_ontology"]


def detect_format(path: str | os.PathLike, for_writing: bool = False) -> str:
    """Guess an ontology format from the file name and, for existing JSON files, the content."""
    p = Path(path)
    name = p.name.lower()
    if name.endswith((".ctbl", ".txt")):
        return "slicer-ctbl"
    if name.endswith(".csv"):
        return "slicer-csv"
    if name.endswith(".xml"):
        return "label-studio"
    for key, fmt in (("terminolog", "slicer-terminology"), ("encord", "encord"), ("cvat", "cvat"),
                     ("coco", "coco"), ("categor", "coco")):
        if name.endswith(".json") and key in name:
            return fmt
    if name.endswith(".json") and not for_writing and p.exists():
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            raise FormatError(f"{p}: not readable JSON; cannot tell which ontology format it is.") from None
        if isinstance(doc, dict) and "SegmentationCodes" in doc:
            return "slicer-terminology"
        if isinstance(doc, dict) and "objects" in doc:
            return "encord"
        if isinstance(doc, dict) and "categories" in doc:
            return "coco"
        if isinstance(doc, list) and doc and isinstance(doc[0], dict):
            return "coco" if "id" in doc[0] and "isthing" in doc[0] or "supercategory" in doc[0] else "cvat"
    raise FormatError(
        f"{p}: cannot tell the ontology format from the name; pass one of {', '.join(FORMATS)} "
        "(e.g. --from/--to on the command line)."
    )


#: Format -> (module, reader, writer) inside SegAssistLib.formats.ontology; imported only when used.
_CODECS = {
    "slicer-ctbl": ("slicer_colortable", "read_colortable", "write_colortable"),
    "slicer-csv": ("slicer_colortable", "read_colortable", "write_colortable"),
    "slicer-terminology": ("slicer_terminology", "read_terminology", "write_terminology"),
    "coco": ("coco_categories", "read_coco_categories", "write_coco_categories"),
    "label-studio": ("label_studio", "read_labeling_config", "write_labeling_config"),
    "encord": ("encord", "read_encord", "write_encord"),
    "cvat": ("cvat", "read_cvat", "write_cvat"),
}


def _codec(fmt: str, which: int):
    import importlib

    if fmt not in _CODECS:
        raise FormatError(f"Unknown ontology format {fmt!r}; use one of {', '.join(FORMATS)}.")
    module, *functions = _CODECS[fmt]
    return getattr(importlib.import_module(f"SegAssistLib.formats.ontology.{module}"), functions[which])


def read_ontology(path: str | os.PathLike, fmt: str | None = None) -> Ontology:
    """Read an ontology in any supported format (``fmt`` from :data:`FORMATS`, default: detected)."""
    if not Path(path).is_file():
        raise FormatError(f"{path}: no such file.")
    reader = _codec(fmt or detect_format(path), 0)
    try:
        return reader(path)
    except FormatError as exc:
        if str(path) in str(exc):
            raise
        raise FormatError(f"{path}: {exc}") from None


def write_ontology(ontology: Ontology, path: str | os.PathLike, fmt: str | None = None) -> Path:
    """Write ``ontology`` in ``fmt`` (default: chosen from the file name)."""
    fmt = fmt or detect_format(path, for_writing=True)
    if fmt in ("slicer-ctbl", "slicer-csv"):
        want = ".csv" if fmt == "slicer-csv" else (".ctbl", ".txt")
        if not str(path).lower().endswith(want):
            raise FormatError(f"{path}: a {fmt} colour table must be named *{want if isinstance(want, str) else '.ctbl'}.")
    return _codec(fmt, 1)(ontology, path)
