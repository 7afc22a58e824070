"""Slicer colour tables: the CSV form (Slicer 5.6+, with terminology columns) and the classic ``.ctbl``/``.txt``.

CSV columns are exactly those Slicer's ``vtkMRMLColorTableStorageNode`` writes (``LabelValue, Name,
Color_R..A`` and ``Category_CodingScheme`` ... ``RegionModifier_CodeMeaning``); SegAssist adds a ``Kind``
column (stuff/thing), which Slicer ignores when it reads the file. The classic text form
(``index name r g b a`` per line) has no terminology or kind; spaces in names are written as ``_`` there, as
Slicer does. Label value 0 named "background" with alpha 0 is Slicer's empty entry: it is written for tables
that have no class 0 and skipped on reading unless it is a real class row.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from SegAssistLib.errors import FormatError
from SegAssistLib.io.atomic import atomic_output
from SegAssistLib.ontology.model import Ontology, OntologyClass, check_kind
from SegAssistLib.segmentation import Code, Terminology

_CODES = ("Category", "Type", "TypeModifier", "Region", "RegionModifier")
CSV_COLUMNS = ["LabelValue", "Name", "Color_R", "Color_G", "Color_B", "Color_A"] + [
    f"{c}_{f}" for c in _CODES for f in ("CodingScheme", "CodeValue", "CodeMeaning")
] + ["Kind"]


def _code(row: dict, prefix: str) -> Code | None:
    c = Code(row.get(f"{prefix}_CodingScheme", "") or "", row.get(f"{prefix}_CodeValue", "") or "",
             row.get(f"{prefix}_CodeMeaning", "") or "")
    return None if c.is_empty() else c


def read_colortable(path: str | os.PathLike) -> Ontology:
    """Read a Slicer colour table (``.csv`` with terminology, or ``.ctbl``/``.txt``)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise FormatError(f"{p}: cannot read the colour table ({exc.strerror}).") from None
    onto = _read_csv(text, p) if p.suffix.lower() == ".csv" else _read_ctbl(text, p)
    if not len(onto):
        raise FormatError(f"{p}: the colour table defines no labels. Is it a Slicer colour table?")
    return onto


def _read_csv(text: str, p: Path) -> Ontology:
    reader = csv.DictReader(io.StringIO(text))
    missing = {"LabelValue", "Name", "Color_R", "Color_G", "Color_B"} - set(reader.fieldnames or [])
    if missing:
        raise FormatError(f"{p}: not a Slicer CSV colour table, columns {sorted(missing)} are missing.")
    onto = Ontology(name=p.stem)
    for n, row in enumerate(reader, start=2):
        where = f"{p}, line {n}: "
        try:
            value = int(row["LabelValue"])
            rgb = tuple(int(row[f"Color_{c}"]) for c in "RGB")
            alpha = int(row.get("Color_A") or 255)
        except (TypeError, ValueError):
            raise FormatError(f"{where}label value and colours must be integers.") from None
        if value == 0 and alpha == 0 and not row.get("Kind"):
            continue  # Slicer's placeholder background entry
        category, type_ = _code(row, "Category"), _code(row, "Type")
        term = None
        if category and type_:
            term = Terminology(category, type_, _code(row, "TypeModifier"), _code(row, "Region"),
                               _code(row, "RegionModifier"))
        onto.add(OntologyClass(row["Name"], rgb, check_kind(row.get("Kind") or "stuff", where), value, term))
    return onto


def _read_ctbl(text: str, p: Path) -> Ontology:
    onto = Ontology(name=p.stem)
    for n, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        bits = line.split()
        if len(bits) < 5:
            raise FormatError(f"{p}, line {n}: expected 'index name r g b [a]', got {line!r}.")
        try:
            value, rgb = int(bits[0]), tuple(int(b) for b in bits[2:5])
            alpha = int(bits[5]) if len(bits) > 5 else 255
        except ValueError:
            raise FormatError(f"{p}, line {n}: index and colours must be integers in {line!r}.") from None
        if value == 0 and alpha == 0:
            continue
        onto.add(OntologyClass(bits[1], rgb, "stuff", value))
    return onto


def write_colortable(ontology: Ontology, path: str | os.PathLike) -> Path:
    """Write ``ontology`` as a Slicer colour table; ``.csv`` keeps terminology and kind, ``.ctbl`` does not."""
    p = Path(path)
    if p.suffix.lower() == ".csv":
        buf = io.StringIO()
        w = csv.writer(buf, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
        w.writerow(CSV_COLUMNS)
        for c in ontology:
            t = c.terminology
            codes = [t.category, t.type, t.type_modifier, t.anatomic_region, t.anatomic_region_modifier] if t else [None] * 5
            row: list = [c.id, c.name, *c.color, 255]
            for code in codes:
                row += [code.scheme, code.value, code.meaning] if code else ["", "", ""]
            w.writerow(row + [c.kind])
        text = buf.getvalue()
    else:
        lines = [f"# Color table file {p.name}", f"# {len(ontology)} values"]
        lines += [f"{c.id} {c.name.replace(' ', '_')} {c.color[0]} {c.color[1]} {c.color[2]} 255" for c in ontology]
        text = "\n".join(lines) + "\n"
    with atomic_output(p) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return p
