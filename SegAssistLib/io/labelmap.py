"""Labelmaps (NRRD, NIfTI) with a colour table beside them, in Slicer's ``.ctbl`` or ``.csv`` format.

A labelmap holds one label per voxel, so it cannot hold overlapping segments: writing one refuses (or, when
asked, warns with the number of voxels lost) instead of dropping voxels silently. The colour table carries
names and colours (``.ctbl``: ``value name R G B A`` with 0..255 colours, spaces in names written as
``_`` as Slicer does) and, in ``.csv``, the terminology
columns Slicer's ``vtkMRMLColorTableStorageNode`` reads and writes. The image goes through SimpleITK via
:mod:`SegAssistLib.io.volumes`, so LPS<->RAS is handled there.
"""

from __future__ import annotations

import csv
import logging
import os
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from SegAssistLib.errors import FormatError, SegAssistError
from SegAssistLib.io.atomic import atomic_output
from SegAssistLib.io.seg_grid import place_on_grid
from SegAssistLib.segmentation import Code, Segment, Segmentation, Terminology
from SegAssistLib.volume import Volume

log = logging.getLogger(__name__)

#: File endings written and read as labelmaps.
LABELMAP_SUFFIXES = (".nrrd", ".nii", ".nii.gz")
#: Colour table formats, in the order they are looked for beside a labelmap.
TABLE_SUFFIXES = (".csv", ".ctbl")
#: Column groups of Slicer's CSV colour table, each with _CodingScheme, _CodeValue, _CodeMeaning.
_CSV_CODES = ("Category", "Type", "TypeModifier", "Region", "RegionModifier")
_CSV_HEADER = ["LabelValue", "Name", "Color_R", "Color_G", "Color_B", "Color_A"] + [
    f"{g}_{f}" for g in _CSV_CODES for f in ("CodingScheme", "CodeValue", "CodeMeaning")
]


@dataclass
class ColorEntry:
    """One row of a colour table: label value, name, RGB in 0..1, optional terminology."""

    label: int
    name: str
    color: tuple[float, float, float]
    terminology: Terminology | None = None


def _stem(path: Path) -> Path:
    name = path.name
    for suffix in (".seg.nrrd", ".nii.gz", ".nii", ".nrrd"):
        if name.lower().endswith(suffix):
            return path.with_name(name[: -len(suffix)])
    return path.with_suffix("")


def default_table_path(labelmap_path: str | os.PathLike, table_format: str = "csv") -> Path:
    """Where the colour table of ``labelmap_path`` lives: same name, ``.csv`` or ``.ctbl`` ending."""
    if table_format not in ("csv", "ctbl"):
        raise SegAssistError(f"Colour table format must be 'csv' or 'ctbl', not {table_format!r}.")
    return Path(str(_stem(Path(labelmap_path))) + "." + table_format)


def find_table(labelmap_path: str | os.PathLike) -> Path | None:
    """The colour table beside a labelmap (``.csv`` preferred over ``.ctbl``), or None."""
    for suffix in TABLE_SUFFIXES:
        p = Path(str(_stem(Path(labelmap_path))) + suffix)
        if p.is_file():
            return p
    return None


# ---- colour tables ---------------------------------------------------------------------------------------
def _byte(c: float) -> int:
    return int(round(float(c) * 255))


def write_color_table(entries: list[ColorEntry], path: str | os.PathLike) -> Path:
    """Write a Slicer colour table (``.csv`` with terminology, or ``.ctbl``), atomically; label 0 is background."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise SegAssistError(f"{p}: a colour table must end in .csv or .ctbl.")
    with atomic_output(p) as tmp:
        _write_table(entries, tmp, suffix)
    return p


def _write_table(entries: list[ColorEntry], tmp: Path, suffix: str) -> None:
    rows = [ColorEntry(0, "Background", (0.0, 0.0, 0.0))] + sorted(entries, key=lambda e: e.label)
    if suffix == ".ctbl":
        with open(tmp, "w", encoding="utf-8") as f:
            f.write("# Color table file written by SegAssist\n")
            f.write(f"# {len(rows)} values\n")
            for e in rows:
                alpha = 0 if e.label == 0 else 255
                name = e.name.replace(" ", "_") or f"Label_{e.label}"
                f.write(f"{e.label} {name} {' '.join(str(_byte(c)) for c in e.color)} {alpha}\n")
        return
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, quoting=csv.QUOTE_NONNUMERIC)
        w.writerow(_CSV_HEADER)
        for e in rows:
            t = e.terminology
            codes = [t.category, t.type, t.type_modifier, t.anatomic_region, t.anatomic_region_modifier] if t else [None] * 5
            flat = [x for c in codes for x in ((c.scheme, c.value, c.meaning) if c else ("", "", ""))]
            w.writerow([e.label, e.name, *(_byte(c) for c in e.color), 0 if e.label == 0 else 255, *flat])


def read_color_table(path: str | os.PathLike) -> dict[int, ColorEntry]:
    """Read a Slicer ``.ctbl`` or ``.csv`` colour table into {label: entry}."""
    p = Path(path)
    if not p.is_file():
        raise SegAssistError(f"{p}: colour table not found.")
    entries: dict[int, ColorEntry] = {}
    try:
        if p.suffix.lower() == ".ctbl":
            for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1):
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                bits = line.split()
                if len(bits) < 5:
                    raise FormatError(f"{p}, line {n}: expected 'value name R G B A', got {line!r}.")
                # Slicer writes spaces in names as "_" and reads them back as spaces; do the same.
                label, name, rgb = int(bits[0]), bits[1].replace("_", " "), [int(b) / 255.0 for b in bits[2:5]]
                entries[label] = ColorEntry(label, name, tuple(rgb))  # type: ignore[arg-type]
        elif p.suffix.lower() == ".csv":
            with open(p, newline="", encoding="utf-8") as f:
                for n, row in enumerate(csv.DictReader(f), start=2):
                    if "LabelValue" not in row or "Name" not in row:
                        raise FormatError(f"{p}: a Slicer CSV colour table needs LabelValue and Name columns.")
                    label = int(float(row["LabelValue"]))
                    rgb = tuple(int(float(row.get(f"Color_{c}") or 0)) / 255.0 for c in "RGB")

                    def code(group: str) -> Code | None:
                        c = Code(*(row.get(f"{group}_{f}") or "" for f in ("CodingScheme", "CodeValue", "CodeMeaning")))
                        return None if c.is_empty() else c

                    cat, typ = code("Category"), code("Type")
                    term = (
                        Terminology(cat, typ, code("TypeModifier"), code("Region"), code("RegionModifier"))
                        if cat and typ
                        else None
                    )
                    entries[label] = ColorEntry(label, row["Name"], rgb, term)  # type: ignore[arg-type]
        else:
            raise SegAssistError(f"{p}: a colour table must end in .csv or .ctbl.")
    except (ValueError, csv.Error) as exc:
        raise FormatError(f"{p}: malformed colour table ({exc}).") from None
    return entries


# ---- labelmaps -------------------------------------------------------------------------------------------
def write_labelmap(
    segmentation: Segmentation,
    path: str | os.PathLike,
    color_table: str | os.PathLike | None = None,
    table_format: str = "csv",
    allow_overlap: bool = False,
) -> tuple[Path, Path]:
    """Write ``segmentation`` as a labelmap (label n = n-th segment) plus a colour table, both atomically.

    Overlapping segments raise a :class:`SegAssistError` (a labelmap holds one label per voxel); with
    ``allow_overlap`` later segments win and a warning says how many voxels were lost.
    Returns (labelmap path, colour table path).
    """
    p = Path(path)
    if not p.name.lower().endswith(LABELMAP_SUFFIXES) or p.name.lower().endswith(".seg.nrrd"):
        raise SegAssistError(f"{p}: write labelmaps as .nrrd, .nii or .nii.gz.")
    if len(segmentation) == 0:
        raise SegAssistError(f"{p}: the segmentation has no segments; nothing to write.")
    table = Path(color_table) if color_table else default_table_path(p, table_format)
    if table.suffix.lower() not in TABLE_SUFFIXES:
        raise SegAssistError(f"{table}: a colour table must end in .csv or .ctbl.")
    if segmentation.overlaps():
        total = sum(int(segmentation.mask(s).sum()) for s in segmentation.segment_ids)
        if not allow_overlap:
            raise SegAssistError(
                f"{p}: segments overlap and a labelmap holds one label per voxel, so voxels would be lost. "
                "Write a .seg.nrrd or DICOM SEG instead (they keep overlaps), or pass allow_overlap / "
                "--allow-overlap to let later segments win."
            )
    labels, mapping = segmentation.to_labelmap(allow_overlap=allow_overlap)
    if allow_overlap and segmentation.overlaps():
        kept = int(np.count_nonzero(labels))
        log.warning("%s: overlapping segments: %d voxel memberships lost (later segments win).", p, total - kept)
    entries = []
    for label, sid in mapping.items():
        seg = segmentation.segment(sid)
        entries.append(ColorEntry(label, seg.name, seg.color, seg.terminology))
    import SimpleITK as sitk

    volume = Volume(labels, segmentation.ijk_to_ras)

    with ExitStack() as stack:
        tmp_image = stack.enter_context(atomic_output(p))
        tmp_table = stack.enter_context(atomic_output(table))
        sitk.WriteImage(volume.to_sitk(), str(tmp_image), True)
        _write_table(entries, tmp_table, table.suffix.lower())
    return p, table


def read_labelmap(
    path: str | os.PathLike, color_table: str | os.PathLike | None = None, reference: Volume | None = None
) -> Segmentation:
    """Read a labelmap into a :class:`Segmentation`, one segment per label present.

    Names, colours and terminology come from ``color_table`` or the ``.csv``/``.ctbl`` beside the file;
    labels without an entry are named "Label N". ``reference`` places the masks on that volume's grid.
    """
    from SegAssistLib.io.volumes import read_volume

    p = Path(path)
    volume = read_volume(p)
    labels = volume.array
    if not np.issubdtype(labels.dtype, np.integer):
        if not np.all(labels == np.round(labels)):
            raise FormatError(f"{p}: voxels are not whole numbers; this is an image, not a labelmap.")
        labels = labels.astype(np.int64)
    if labels.size and labels.min() < 0:
        raise FormatError(f"{p}: negative label values; this is an image, not a labelmap.")
    table_path = Path(color_table) if color_table else find_table(p)
    table = read_color_table(table_path) if table_path else {}
    shape, ijk_to_ras = (reference.shape, reference.ijk_to_ras) if reference is not None else (volume.shape, volume.ijk_to_ras)
    out = Segmentation(shape, ijk_to_ras, {"source": str(p), "color_table": str(table_path or "")})
    # find_objects gives each present label's bounding box in one linear pass (np.unique would sort every voxel).
    from scipy import ndimage

    for label, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None:
            continue
        e = table.get(label)
        name = e.name if e else f"Label {label}"
        color = e.color if e else _auto_color(label)
        mask = np.zeros(volume.shape, dtype=bool)
        mask[box] = labels[box] == label
        if reference is not None:
            mask = place_on_grid(mask, volume.ijk_to_ras, shape, ijk_to_ras)
        out.add_segment(Segment(f"Segment_{label}", name, color, e.terminology if e else None), mask)
    return out


def _auto_color(label: int) -> tuple[float, float, float]:
    """A distinct colour for a label without a table entry (matplotlib's tab20 cycle)."""
    import matplotlib

    r, g, b, _ = matplotlib.colormaps["tab20"](label % 20)
    return (float(r), float(g), float(b))
