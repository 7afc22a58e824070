"""Converting a segmentation or a 2D dataset from one file format to another, chosen by the file names.

3D segmentations move between Slicer .seg.nrrd, labelmaps (+ .csv/.ctbl colour table) and DICOM SEG; when
either side is a 2D dataset (COCO, panoptic, Cityscapes, semantic PNGs, Label Studio, label images) the
conversion goes through :mod:`SegAssistLib.operations.datasets2d`. ``segassist convert`` is this function.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

PathLike = Union[str, os.PathLike]  # not "str | os.PathLike": evaluated at import, Python 3.9 has no type union


@dataclass
class ConvertResult:
    """What :func:`convert` read and wrote: the files, and either the segmentation or the 2D dataset."""

    written: list[Path]
    segmentation: Any = None  # Segmentation for a 3D conversion
    dataset: Any = None  # Dataset2D when a 2D dataset was involved
    details: dict[str, Any] = field(default_factory=dict)

    def summary(self, input: PathLike, output: PathLike) -> str:
        """One line for the user: what went where."""
        files = ", ".join(str(p) for p in self.written)
        if self.dataset is not None:
            n_regions = sum(len(s.regions) for s in self.dataset.samples)
            return (f"{input} -> {output}: {len(self.dataset.samples)} image(s), {n_regions} region(s), "
                    f"classes {', '.join(self.dataset.ontology.names)}; {len(self.written)} file(s) written")
        names = ", ".join(s.name for s in self.segmentation)
        return f"{input} -> {files}: {len(self.segmentation)} segment(s) ({names})"


def convert(
    input: PathLike,
    output: PathLike,
    *,
    reference: PathLike | None = None,
    color_table: PathLike | None = None,
    table_format: str = "csv",
    allow_overlap: bool = False,
    ignore_frame_of_reference: bool = False,
    **dataset2d_options: Any,
) -> ConvertResult:
    """Convert ``input`` to the format ``output`` names; returns the files written.

    ``reference``: the DICOM series folder a DICOM SEG output refers to (required there), otherwise a volume
    whose grid the masks are placed on (and, for a 3D segmentation exported to a 2D dataset, the volume whose
    slices are exported). ``color_table``: the colour table of a labelmap input or output (default: the file
    of the same name beside it); ``table_format``: "csv" (keeps terminology) or "ctbl" for a labelmap
    output; ``allow_overlap``: a labelmap output lets later segments win where segments overlap;
    ``ignore_frame_of_reference``: a DICOM SEG input is placed on ``reference`` even when its
    FrameOfReferenceUID differs (only for registered series). Nothing is written over an input
    (:func:`SegAssistLib.io.paths.refuse_outputs_over_inputs`).
    ``dataset2d_options`` go to :func:`~SegAssistLib.operations.datasets2d.read_dataset2d` and
    :func:`~SegAssistLib.operations.datasets2d.write_dataset2d` (each takes the keywords it knows).
    """
    from SegAssistLib.operations.datasets2d import is_dataset2d_conversion

    if is_dataset2d_conversion(input, output):
        return _convert_dataset2d(input, output, reference, dataset2d_options)
    from SegAssistLib.io.paths import refuse_outputs_over_inputs
    from SegAssistLib.io.segmentation_files import (DICOM_SEG, LABELMAP, planned_outputs, read_segmentation,
                                                    segmentation_format, write_segmentation)

    in_fmt, out_fmt = segmentation_format(input), segmentation_format(output)
    out_table = color_table if in_fmt != LABELMAP else None
    in_table = color_table if in_fmt == LABELMAP else None
    if in_fmt == LABELMAP and not in_table:
        from SegAssistLib.io.labelmap import find_table

        in_table = find_table(input)
    refuse_outputs_over_inputs(planned_outputs(output, out_table, table_format), [input, reference, in_table],
                               "convert")
    # For a DICOM SEG output the reference is the series it refers to; the masks go on that series' grid too.
    segmentation = read_segmentation(input, reference=reference,
                                     color_table=color_table if in_fmt == LABELMAP else None,
                                     ignore_frame_of_reference=ignore_frame_of_reference)
    options: dict[str, Any] = {}
    if out_fmt == LABELMAP:
        options = {"color_table": out_table, "table_format": table_format, "allow_overlap": allow_overlap}
    elif out_fmt == DICOM_SEG:
        options = {"reference": reference}
    written = list(write_segmentation(segmentation, output, **options))
    return ConvertResult(written, segmentation=segmentation)


READ_OPTIONS = ("plane", "slices", "ontology", "images_dir", "image", "thing", "stuff", "source")
WRITE_OPTIONS = ("encoding", "overlap", "spacing", "volume_out", "link_instances")


def _convert_dataset2d(input, output, reference, options: dict[str, Any]) -> ConvertResult:
    from SegAssistLib.errors import OptionError
    from SegAssistLib.operations.datasets2d import read_dataset2d, write_dataset2d

    unknown = sorted(set(options) - set(READ_OPTIONS) - set(WRITE_OPTIONS))
    if unknown:
        raise OptionError(f"Unknown 2D dataset option(s) {unknown}: use {', '.join(READ_OPTIONS + WRITE_OPTIONS)}.")
    from SegAssistLib.io.paths import refuse_outputs_over_inputs

    inputs = [input, options.get("images_dir"), reference]
    refuse_outputs_over_inputs([output, options.get("volume_out")], inputs, "convert")
    dataset = read_dataset2d(input, reference=reference, **{k: v for k, v in options.items() if k in READ_OPTIONS})
    from SegAssistLib.operations.datasets2d import is_volume_segmentation

    # A 3D output with --reference: the slices go back onto that volume's grid (the export's round trip).
    onto = reference if reference is not None and is_volume_segmentation(output) and not is_volume_segmentation(input) else None
    written = write_dataset2d(dataset, output, inputs=inputs, reference=onto,
                              **{k: v for k, v in options.items() if k in WRITE_OPTIONS})
    return ConvertResult(written, dataset=dataset)
