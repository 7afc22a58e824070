"""The application layer: one function per user-level operation, called by every front end (CLI, batch,
the Slicer Logic, the server). Front ends parse their input and call these; they hold no rules of their own.

===============================  ==============================================================================
operation                        what it does
===============================  ==============================================================================
``segment_files``                volume + markups files -> a Segmentation (one segment per markup name)
``segment_from_prompts``         the same from a Volume and markup prompts already read
``interpolate_segmentation``     fill between keyframes of a Segmentation in place (the one overlap rule)
``interpolate_file``             the same from a labelmap/.seg.nrrd file to a file
``read_dataset2d``               a 2D dataset (COCO, panoptic, Cityscapes, PNGs, Label Studio, label image,
                                 slices of a 3D segmentation) by file name, options as keywords
``write_dataset2d``              a 2D dataset to the format a file name asks for (or stacked into a volume)
``convert``                      any supported segmentation or 2D dataset file to another
``run_demo``                     the shipped sample, segmented from its stored prompts
===============================  ==============================================================================

A function shares its module's name in two cases (``segment_files``, ``convert``): the package attribute is the
function; import the module as ``SegAssistLib.operations.segment_files`` when you need the module itself.
"""

from SegAssistLib.operations.convert import ConvertResult, convert
from SegAssistLib.operations.datasets2d import is_dataset2d_conversion, read_dataset2d, write_dataset2d
from SegAssistLib.operations.demo import run_demo
from SegAssistLib.operations.interpolate import SegmentInterpolation, interpolate_file, interpolate_segmentation
from SegAssistLib.operations.segment_files import (SegmentFilesResult, backend_options, segment_files,
                                                   segment_from_prompts)

__all__ = ["ConvertResult", "SegmentFilesResult", "SegmentInterpolation", "backend_options", "convert",
           "interpolate_file", "interpolate_segmentation", "is_dataset2d_conversion", "read_dataset2d",
           "run_demo", "segment_files", "segment_from_prompts", "write_dataset2d"]
