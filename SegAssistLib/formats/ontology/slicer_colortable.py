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
from dataclasses import dataclass
from pathlib import Path

from SegAssistLib.errors import FormatError
from SegAssistLib.io.atomic import atomic_output
from SegAssistLib.formats.ontology.model import Ontology, OntologyClass, check_kind
from SegAssistLib.core.segmentation import Code, Terminology

_CODES = ("Category", "Type", "TypeModifier", "Region", "RegionModifier")
CSV_COLUMNS = ["LabelValue", "Name", "Color_R", "Color_G", "Color_B", "Color_A"] + [
    f"{c}_{f}" for c in _CODES for f in ("CodingScheme", "CodeValue", "CodeMeaning")
] + ["Kind"]


@dataclass
class ColorTableRow:
    """One row of a Slicer colour table: label value, name, 8-bit RGB and alpha, terminology, kind.

    The row level is shared by ontologies (:func:`read_colortable`) and labelmaps
    (:mod:`SegAssistLib.io.labelmap`), which both read and write Slicer's colour tables.
    """

    value: int
    name: str
    color: tuple[int, int, int]
    alpha: int = 255
    terminology: Terminology | None = None
    kind: str = ""


def _code(row: dict, prefix: str) -> Code | None:
    c = Code(row.get(f"{prefix}_CodingScheme", "") or "", row.get(f"{prefix}_CodeValue", "") or "",
             row.get(f"{prefix}_CodeMeaning", "") or "")
    return None if c.is_empty() else c


def parse_colortable(text: str, p: Path) -> list[ColorTableRow]:
    """Rows of a colour table's text; ``p``'s suffix says the form (``.csv``, else classic text)."""
    return _parse_csv(text, p) if p.suffix.lower() == ".csv" else _parse_ctbl(text, p)


def _parse_csv(text: str, p: Path) -> list[ColorTableRow]:
    reader = csv.DictReader(io.StringIO(text))
    missing = {"LabelValue", "Name", "Color_R", "Color_G", "Color_B"} - set(reader.fieldnames or [])
    if missing:
        raise FormatError(f"{p}: not a Slicer CSV colour table, columns {sorted(missing)} are missing.")
    rows = []
    for n, row in enumerate(reader, start=2):
        try:
            value = int(row["LabelValue"])
            rgb = tuple(int(row[f"Color_{c}"]) for c in "RGB")
            alpha = int(row.get("Color_A") or 255)
        except (TypeError, ValueError):
            raise FormatError(f"{p}, line {n}: label value and colours must be integers.") from None
        category, type_ = _code(row, "Category"), _code(row, "Type")
        term = None
        if category and type_:
            term = Terminology(category, type_, _code(row, "TypeModifier"), _code(row, "Region"),
                               _code(row, "RegionModifier"))
        rows.append(ColorTableRow(value, row["Name"], rgb, alpha, term, row.get("Kind") or ""))  # type: ignore[arg-type]
    return rows


def _parse_ctbl(text: str, p: Path) -> list[ColorTableRow]:
    rows = []
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
        rows.append(ColorTableRow(value, bits[1], rgb, alpha))  # type: ignore[arg-type]
    return rows


def format_colortable(rows: list[ColorTableRow], suffix: str, title: str = "") -> str:
    """The text of a colour table: Slicer's CSV columns (plus Kind) for ``.csv``, else the classic form
    (spaces in names written as ``_``, as Slicer does)."""
    if suffix.lower() == ".csv":
        buf = io.StringIO()
        w = csv.writer(buf, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
        w.writerow(CSV_COLUMNS)
        for r in rows:
            t = r.terminology
            codes = [t.category, t.type, t.type_modifier, t.anatomic_region, t.anatomic_region_modifier] if t else [None] * 5
            out: list = [r.value, r.name, *r.color, r.alpha]
            for code in codes:
                out += [code.scheme, code.value, code.meaning] if code else ["", "", ""]
            w.writerow(out + [r.kind])
        return buf.getvalue()
    lines = [f"# Color table file {title}".rstrip(), f"# {len(rows)} values"]
    lines += [f"{r.value} {r.name.replace(' ', '_')} {r.color[0]} {r.color[1]} {r.color[2]} {r.alpha}" for r in rows]
    return "\n".join(lines) + "\n"


def read_colortable(path: str | os.PathLike) -> Ontology:
    """Read a Slicer colour table (``.csv`` with terminology, or ``.ctbl``/``.txt``)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise FormatError(f"{p}: cannot read the colour table ({exc.strerror}).") from None
    csv_form = p.suffix.lower() == ".csv"
    onto = Ontology(name=p.stem)
    for r in parse_colortable(text, p):
        if r.value == 0 and r.alpha == 0 and not (csv_form and r.kind):
            continue  # Slicer's placeholder background entry
        kind = check_kind(r.kind or "stuff", f"{p}, label {r.value}: ")
        onto.add(OntologyClass(r.name, r.color, kind, r.value, r.terminology))
    if not len(onto):
        raise FormatError(f"{p}: the colour table defines no labels. Is it a Slicer colour table?")
    return onto


def write_colortable(ontology: Ontology, path: str | os.PathLike) -> Path:
    """Write ``ontology`` as a Slicer colour table; ``.csv`` keeps terminology and kind, ``.ctbl`` does not."""
    p = Path(path)
    csv_form = p.suffix.lower() == ".csv"
    rows = [ColorTableRow(c.id, c.name, c.color, 255, c.terminology if csv_form else None, c.kind if csv_form else "")
            for c in ontology]
    with atomic_output(p) as tmp:
        tmp.write_text(format_colortable(rows, p.suffix, p.name), encoding="utf-8")
    return p
