"""Labelmaps (NRRD, NIfTI) with a colour table beside them, in Slicer's ``.ctbl`` or ``.csv`` format.

A labelmap holds one label per voxel, so it cannot hold overlapping segments: writing one refuses (or, when
asked, warns with the number of voxels lost) instead of dropping voxels silently. The colour table carries
names and colours (``.ctbl``: ``value name R G B A`` with 0..255 colours, spaces in names written as
``_`` as Slicer does) and, in ``.csv``, the terminology
columns Slicer's ``vtkMRMLColorTableStorageNode`` reads and writes. The image goes through SimpleITK via
:mod:`SegAssistLib.io.volumes`, so LPS<->RAS is handled there.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from SegAssistLib.errors import FormatError, MissingFileError, OptionError, SegmentError, import_optional
from SegAssistLib.io.atomic import atomic_group, atomic_output
from SegAssistLib.io.seg_grid import place_on_grid
from SegAssistLib.core.colors import segment_color
from SegAssistLib.core.segmentation import Segment, Segmentation, Terminology
from SegAssistLib.core.volume import Volume

log = logging.getLogger(__name__)

#: File endings written and read as labelmaps.
LABELMAP_SUFFIXES = (".nrrd", ".nii", ".nii.gz")
#: Colour table formats, in the order they are looked for beside a labelmap.
TABLE_SUFFIXES = (".csv", ".ctbl")


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
    """Where the colour table of ``labelmap_path`` is written: the full file name plus ``.csv``/``.ctbl``
    (``a.nii.gz`` -> ``a.nii.gz.csv``), so ``a.nrrd`` and ``a.nii.gz`` never share a table and a table
    never lands on a manifest or other file named like the labelmap's stem."""
    if table_format not in ("csv", "ctbl"):
        raise OptionError(f"Colour table format must be 'csv' or 'ctbl', not {table_format!r}.")
    p = Path(labelmap_path)
    return p.with_name(p.name + "." + table_format)


def find_table(labelmap_path: str | os.PathLike) -> Path | None:
    """The colour table beside a labelmap, or None: ``<file name>.csv``/``.ctbl`` first, then the older
    ``<stem>.csv``/``.ctbl`` (as written by earlier versions and by hand next to Slicer labelmaps)."""
    p = Path(labelmap_path)
    candidates = [p.with_name(p.name + s) for s in TABLE_SUFFIXES]
    candidates += [Path(str(_stem(p)) + s) for s in TABLE_SUFFIXES]
    for c in candidates:
        if c.is_file():
            return c
    return None


# ---- colour tables ---------------------------------------------------------------------------------------
def _byte(c: float) -> int:
    return int(round(float(c) * 255))


def write_color_table(entries: list[ColorEntry], path: str | os.PathLike) -> Path:
    """Write a Slicer colour table (``.csv`` with terminology, or ``.ctbl``), atomically; label 0 is background."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise FormatError(f"{p}: a colour table must end in .csv or .ctbl.")
    with atomic_output(p) as tmp:
        _write_table(entries, tmp, suffix)
    return p


def _write_table(entries: list[ColorEntry], tmp: Path, suffix: str) -> None:
    from SegAssistLib.formats.ontology.slicer_colortable import ColorTableRow, format_colortable

    rows = [ColorTableRow(0, "Background", (0, 0, 0), 0)] + [
        ColorTableRow(e.label, e.name or f"Label_{e.label}", tuple(_byte(c) for c in e.color), 255, e.terminology)
        for e in sorted(entries, key=lambda e: e.label)
    ]
    tmp.write_text(format_colortable(rows, suffix, "written by SegAssist"), encoding="utf-8")


def read_color_table(path: str | os.PathLike) -> dict[int, ColorEntry]:
    """Read a Slicer ``.ctbl`` or ``.csv`` colour table into {label: entry}."""
    from SegAssistLib.formats.ontology.slicer_colortable import parse_colortable

    p = Path(path)
    if not p.is_file():
        raise MissingFileError(f"{p}: colour table not found.")
    if p.suffix.lower() not in TABLE_SUFFIXES:
        raise FormatError(f"{p}: a colour table must end in .csv or .ctbl.")
    rows = parse_colortable(p.read_text(encoding="utf-8"), p)
    # Slicer writes spaces in .ctbl names as "_" and reads them back as spaces; do the same.
    ctbl = p.suffix.lower() == ".ctbl"
    return {
        r.value: ColorEntry(r.value, r.name.replace("_", " ") if ctbl else r.name,
                            tuple(c / 255.0 for c in r.color), r.terminology)  # type: ignore[arg-type]
        for r in rows
    }


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
        raise FormatError(f"{p}: write labelmaps as .nrrd, .nii or .nii.gz.")
    if len(segmentation) == 0:
        raise SegmentError(f"{p}: the segmentation has no segments; nothing to write.")
    table = Path(color_table) if color_table else default_table_path(p, table_format)
    if table.suffix.lower() not in TABLE_SUFFIXES:
        raise FormatError(f"{table}: a colour table must end in .csv or .ctbl.")
    if segmentation.overlaps():
        total = sum(int(segmentation.mask(s).sum()) for s in segmentation.segment_ids)
        if not allow_overlap:
            raise SegmentError(
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

    with atomic_group(), atomic_output(p) as tmp_image, atomic_output(table) as tmp_table:
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
        color = e.color if e else segment_color(label - 1)
        mask = np.zeros(volume.shape, dtype=bool)
        mask[box] = labels[box] == label
        if reference is not None:
            mask = place_on_grid(mask, volume.ijk_to_ras, shape, ijk_to_ras)
        out.add_segment(Segment(f"Segment_{label}", name, color, e.terminology if e else None), mask)
    return out


