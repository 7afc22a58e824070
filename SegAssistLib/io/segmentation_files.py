"""One entry point for segmentation files: :func:`read_segmentation` and :func:`write_segmentation` choose
the format by file name.

=====================  ==========================================  ==============
ending                 format                                      keeps overlap
=====================  ==========================================  ==============
``.seg.nrrd``          Slicer segmentation (layers, terminology)   yes
``.nrrd .nii .nii.gz`` labelmap + colour table (``.csv``/``.ctbl``)  no (refuses)
``.dcm``               DICOM SEG (needs the source series folder)  yes
=====================  ==========================================  ==============
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from SegAssistLib.errors import FormatError, OptionError
from SegAssistLib.core.segmentation import Segmentation
from SegAssistLib.core.volume import Volume

SEG_NRRD, LABELMAP, DICOM_SEG = "seg.nrrd", "labelmap", "dicom-seg"


def segmentation_format(path: str | os.PathLike) -> str:
    """The format a segmentation file name asks for: ``"seg.nrrd"``, ``"labelmap"`` or ``"dicom-seg"``."""
    name = Path(path).name.lower()
    if name.endswith(".seg.nrrd"):
        return SEG_NRRD
    if name.endswith((".nrrd", ".nii", ".nii.gz")):
        return LABELMAP
    if name.endswith(".dcm"):
        return DICOM_SEG
    raise FormatError(
        f"{path}: unknown segmentation format. Use .seg.nrrd (Slicer), .nrrd/.nii/.nii.gz (labelmap with a "
        ".csv or .ctbl colour table beside it) or .dcm (DICOM SEG)."
    )


def _is_slicer_segmentation_nrrd(path: str | os.PathLike) -> bool:
    """True for a plain ``.nrrd`` that is really a Slicer segmentation (its header has Segment0_ fields)."""
    if not str(path).lower().endswith(".nrrd") or not Path(path).is_file():
        return False
    try:
        import nrrd

        return any(key.startswith("Segment0_") for key in nrrd.read_header(str(path)))
    except Exception:  # not readable as NRRD here: let the labelmap reader report it
        return False


def read_segmentation(
    path: str | os.PathLike, reference: Volume | str | os.PathLike | None = None, color_table: str | None = None,
    ignore_frame_of_reference: bool = False,
) -> Segmentation:
    """Read a segmentation file of any supported format; ``reference`` (a Volume, volume file or DICOM
    folder) puts the masks on that grid. A DICOM SEG whose frame of reference differs from a DICOM
    reference's is refused unless ``ignore_frame_of_reference``."""
    fmt = segmentation_format(path)
    if isinstance(reference, (str, os.PathLike)):
        from SegAssistLib.io.volumes import read_volume

        reference = read_volume(reference)
    if fmt == SEG_NRRD or (fmt == LABELMAP and _is_slicer_segmentation_nrrd(path)):
        from SegAssistLib.io.seg_nrrd import read_seg_nrrd

        return read_seg_nrrd(path, reference)
    if fmt == LABELMAP:
        from SegAssistLib.io.labelmap import read_labelmap

        return read_labelmap(path, color_table, reference)
    from SegAssistLib.io.dicom_seg import read_dicom_seg

    return read_dicom_seg(path, reference, ignore_frame_of_reference)


def planned_outputs(path: str | os.PathLike, color_table: str | os.PathLike | None = None,
                    table_format: str = "csv") -> list[Path]:
    """Every file :func:`write_segmentation` would write for ``path``: the file itself and, for a labelmap,
    its colour table. Used to refuse an output that would overwrite an input before any work is done."""
    fmt = segmentation_format(path)
    out = [Path(path)]
    if fmt == LABELMAP:
        from SegAssistLib.io.labelmap import default_table_path

        out.append(Path(color_table) if color_table else default_table_path(path, table_format or "csv"))
    return out


def write_segmentation(segmentation: Segmentation, path: str | os.PathLike, **options: Any) -> list[Path]:
    """Write ``segmentation`` in the format its file name asks for; returns the files written.

    Options: ``reference`` (DICOM folder, required for .dcm), ``color_table`` / ``table_format`` /
    ``allow_overlap`` (labelmaps).
    """
    fmt = segmentation_format(path)
    allowed = {SEG_NRRD: set(), LABELMAP: {"color_table", "table_format", "allow_overlap"}, DICOM_SEG: {"reference"}}
    given = {k for k, v in options.items() if v not in (None, False)}
    extra = given - allowed[fmt]
    if extra:
        raise OptionError(f"{path}: option(s) {sorted(extra)} do not apply to {fmt} output.")
    opts = {k: v for k, v in options.items() if k in allowed[fmt] and v is not None}
    if fmt == SEG_NRRD:
        from SegAssistLib.io.seg_nrrd import write_seg_nrrd

        return [write_seg_nrrd(segmentation, path)]
    if fmt == LABELMAP:
        from SegAssistLib.io.labelmap import write_labelmap

        return list(write_labelmap(segmentation, path, **opts))
    if not opts.get("reference"):
        raise OptionError(
            f"{path}: writing a DICOM SEG needs a reference: the folder of the DICOM series the segmentation "
            "was drawn on (--reference FOLDER)."
        )
    from SegAssistLib.io.dicom_seg import write_dicom_seg

    return [write_dicom_seg(segmentation, path, opts["reference"])]
