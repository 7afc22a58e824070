"""DICOM Segmentation objects (SEG): write a :class:`Segmentation` that references its source DICOM series,
and read any binary or fractional SEG (ours or foreign, e.g. pydicom-data's ``liver.dcm``).

highdicom builds and parses the SEG (segment descriptions, frames, functional groups). This module maps
segments to DICOM segment descriptions (name -> SegmentLabel, terminology -> segmented property codes,
colour -> RecommendedDisplayCIELabValue, SegAssist id -> TrackingID) and places frames on the grid by their
per-frame ImagePositionPatient, so a SEG read without its source series still lands where it belongs.
Overlapping segments are kept: a binary SEG stores each segment's frames separately.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from SegAssistLib.errors import FormatError, GeometryError, MissingFileError, OptionError, SegmentError, import_optional
from SegAssistLib.io.atomic import atomic_output
from SegAssistLib.io.seg_grid import place_on_grid
from SegAssistLib.core.segmentation import DEFAULT_TERMINOLOGY, Code, Segment, Segmentation, Terminology
from SegAssistLib.core.volume import LPS_TO_RAS, Volume, ijk_to_ras_matrix

#: DICOM SOP class of Segmentation Storage.
SEG_SOP_CLASS_UID = "1.2.840.10008.5.1.4.1.1.66.4"

log = logging.getLogger(__name__)


# ---- writing ---------------------------------------------------------------------------------------------
def _coded(code: Code) -> Any:
    CodedConcept = import_optional("highdicom.sr", "formats", "DICOM SEG").CodedConcept

    return CodedConcept(value=code.value, scheme_designator=code.scheme, meaning=code.meaning)


def _description(number: int, segment: Segment) -> Any:
    hd = import_optional("highdicom", "formats", "DICOM SEG")
    from pydicom.uid import generate_uid

    term = segment.terminology or DEFAULT_TERMINOLOGY
    rgb = [int(round(c * 255)) for c in segment.color]
    desc = hd.seg.SegmentDescription(
        segment_number=number,
        segment_label=segment.name[:64],
        segmented_property_category=_coded(term.category),
        segmented_property_type=_coded(term.type),
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
        tracking_uid=generate_uid(),
        tracking_id=segment.id[:64],
        anatomic_regions=[_coded(term.anatomic_region)] if term.anatomic_region else None,
        **_display_color(hd, rgb),
    )
    if "RecommendedDisplayCIELabValue" not in desc:  # highdicom < 0.23 (Python 3.9) has no display_color
        desc.RecommendedDisplayCIELabValue = _dicom_lab_from_rgb(rgb)
    # highdicom has no argument for the modifiers; DICOM nests them in the code item they modify.
    if term.type_modifier is not None:
        desc.SegmentedPropertyTypeCodeSequence[0].SegmentedPropertyTypeModifierCodeSequence = [_coded(term.type_modifier)]
    if term.anatomic_region is not None and term.anatomic_region_modifier is not None:
        desc.AnatomicRegionSequence[0].AnatomicRegionModifierSequence = [_coded(term.anatomic_region_modifier)]
    return desc


def _complete_reference_headers(datasets: list, files: list, step: float, ref: Path, out: Path) -> None:
    """Check (in memory) the reference attributes highdicom needs; derive what the standard allows.

    FrameOfReferenceUID ties the SEG to the images' patient space: it cannot be invented (a new one would
    refer to no images), so its absence is an error naming it. SliceThickness is Type 2 in the Image Plane
    module (may be empty); for the SEG's pixel measures it is taken as the slice spacing that the slice
    positions proved, which is what a contiguous series means. The files are never modified.
    """
    missing_for = [f for f, ds in zip(files, datasets) if not str(getattr(ds, "FrameOfReferenceUID", "") or "").strip()]
    if missing_for:
        raise FormatError(
            f"{out}: the reference series in {ref} lacks FrameOfReferenceUID (in {len(missing_for)} of "
            f"{len(datasets)} files, e.g. {Path(missing_for[0]).name}), which a DICOM SEG must reference. "
            "Add it to the series (e.g. dcmodify -i \"(0020,0052)=<uid>\" on every file) or write another "
            "format (.seg.nrrd, .nii.gz) instead."
        )
    derived = 0
    for ds in datasets:
        if getattr(ds, "SliceThickness", None) in (None, ""):
            ds.SliceThickness = f"{step:.6g}"
            derived += 1
    if derived:
        log.info("%s: %d reference file(s) lack SliceThickness; using the slice spacing %.6g mm", ref, derived, step)


def write_dicom_seg(
    segmentation: Segmentation,
    path: str | os.PathLike,
    reference: str | os.PathLike,
    series_uid: str | None = None,
    series_description: str = "SegAssist segmentation",
) -> Path:
    """Write ``segmentation`` as a binary DICOM SEG referencing the DICOM series in folder ``reference``.

    The segmentation must lie on that series' grid (read it with :func:`SegAssistLib.io.volumes.read_volume`
    and build the segmentation on it). Frames without any segment are omitted. Written atomically.
    """
    hd = import_optional("highdicom", "formats", "DICOM SEG")
    import pydicom
    from pydicom.uid import generate_uid

    from SegAssistLib import __version__
    from SegAssistLib.io.volumes import read_volume

    p = Path(path)
    if p.suffix.lower() != ".dcm":
        raise FormatError(f"{p}: a DICOM SEG file must end in .dcm.")
    if len(segmentation) == 0:
        raise SegmentError(f"{p}: the segmentation has no segments; nothing to write.")
    ref = Path(reference)
    if not ref.is_dir():
        raise OptionError(
            f"{ref}: writing a DICOM SEG needs --reference, the folder of the DICOM series it was drawn on."
        )
    source = read_volume(ref, series_uid)
    files = source.metadata.get("files")
    if not files:
        raise FormatError(f"{ref}: the reference must be a series of single-frame DICOM files.")
    try:
        source.require_same_grid(segmentation.geometry, "segmentation")
    except GeometryError as exc:
        raise GeometryError(f"{p}: cannot reference series in {ref}: {exc}") from None
    datasets = [pydicom.dcmread(f, stop_before_pixels=True) for f in files]
    # highdicom copies SpacingBetweenSlices from the source headers; GDCM-written series can carry a wrong
    # one (1 mm). The in-memory headers get the spacing the slice positions proved (files are not touched).
    step = float(source.spacing[2])
    for ds in datasets:
        if "SpacingBetweenSlices" in ds and abs(float(ds.SpacingBetweenSlices) - step) > 1e-3 * step:
            ds.SpacingBetweenSlices = f"{step:.6g}"
    _complete_reference_headers(datasets, files, step, ref, p)
    ids = segmentation.segment_ids
    pixels = np.zeros(segmentation.shape + (len(ids),), dtype=np.uint8)  # (frame=k, row=j, column=i, segment)
    for n, sid in enumerate(ids):
        pixels[..., n] = segmentation.mask(sid)
    if not pixels.any():
        raise SegmentError(f"{p}: every segment is empty; a DICOM SEG needs at least one segmented voxel.")
    seg = hd.seg.Segmentation(
        source_images=datasets,
        pixel_array=pixels,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[_description(n + 1, segmentation.segment(sid)) for n, sid in enumerate(ids)],
        series_instance_uid=generate_uid(),
        series_number=int(getattr(datasets[0], "SeriesNumber", 0) or 0) + 1000,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer="SegAssist",
        manufacturer_model_name="SegAssist",
        software_versions=__version__,
        device_serial_number="0",
        series_description=series_description[:64],
        omit_empty_frames=True,
    )
    with atomic_output(p) as tmp:
        seg.save_as(str(tmp))
    return p


# ---- reading ---------------------------------------------------------------------------------------------
def _code(item: Any) -> Code:
    return Code(str(item.CodingSchemeDesignator), str(item.CodeValue), str(item.CodeMeaning))


def _first(ds: Any, keyword: str) -> Any | None:
    seq = ds.get(keyword)
    return seq[0] if seq else None


def _segment_from_description(desc: Any) -> Segment:
    number = int(desc.SegmentNumber)
    cat, typ = _first(desc, "SegmentedPropertyCategoryCodeSequence"), _first(desc, "SegmentedPropertyTypeCodeSequence")
    terminology = None
    if cat is not None and typ is not None:
        type_mod = _first(typ, "SegmentedPropertyTypeModifierCodeSequence")
        region = _first(desc, "AnatomicRegionSequence")
        region_mod = _first(region, "AnatomicRegionModifierSequence") if region is not None else None
        terminology = Terminology(
            _code(cat),
            _code(typ),
            _code(type_mod) if type_mod is not None else None,
            _code(region) if region is not None else None,
            _code(region_mod) if region_mod is not None else None,
        )
    color = (0.5, 0.68, 0.5)
    if "RecommendedDisplayCIELabValue" in desc:
        hd = import_optional("highdicom", "formats", "DICOM SEG")

        color = _rgb_from_dicom_lab(hd, desc.RecommendedDisplayCIELabValue)  # type: ignore[assignment]
    sid = str(desc.get("TrackingID", "") or f"Segment_{number}")
    name = str(desc.get("SegmentLabel", "") or sid)
    return Segment(sid, name, color, terminology)


def _frame_geometry(seg: Any, where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[int]]:
    """(orientation (6,), pixel spacing (row, col), LPS positions (n, 3), segment number per frame)."""
    shared = _first(seg, "SharedFunctionalGroupsSequence")
    frames = seg.get("PerFrameFunctionalGroupsSequence") or []

    def group(frame: Any, name: str) -> Any:
        for source in (frame, shared):
            if source is not None and name in source:
                return source[name].value[0]
        raise FormatError(f"{where}: DICOM SEG without {name}; its frames cannot be placed in space.")

    if not frames:
        raise FormatError(f"{where}: DICOM SEG without per-frame functional groups.")
    iops = np.array([[float(v) for v in group(f, "PlaneOrientationSequence").ImageOrientationPatient] for f in frames])
    if np.abs(iops - iops[0]).max() > 1e-3:
        raise FormatError(f"{where}: SEG frames have different orientations; SegAssist needs one stack of planes.")
    positions = np.array([[float(v) for v in group(f, "PlanePositionSequence").ImagePositionPatient] for f in frames])
    spacing = np.array([float(v) for v in group(frames[0], "PixelMeasuresSequence").PixelSpacing])
    numbers = [int(group(f, "SegmentIdentificationSequence").ReferencedSegmentNumber) for f in frames]
    return iops[0], spacing, positions, numbers


def _own_grid(seg: Any, iop: np.ndarray, pixel_spacing: np.ndarray, positions: np.ndarray, where: str):
    """The grid spanned by the SEG's own frames: (shape (k, j, i), IJK->RAS, k index of every frame)."""
    row, col = iop[:3], iop[3:]
    normal = np.cross(row, col)
    along = positions @ normal
    planes = np.unique(np.round(along, 3))
    # The frames' own positions decide the slice step; SpacingBetweenSlices (copied from the source
    # images, and not always right) is used only when the SEG holds a single plane.
    if len(planes) > 1:
        step = float(np.diff(planes).min())
    else:
        measures = _first(_first(seg, "SharedFunctionalGroupsSequence") or {}, "PixelMeasuresSequence")
        value = measures.get("SpacingBetweenSlices") if measures is not None else None
        step = float(value) if value and float(value) > 0 else 1.0
    k_float = (along - planes[0]) / step
    k = np.rint(k_float).astype(int)
    if np.abs(k_float - k).max() > 0.05:
        raise FormatError(
            f"{where}: the SEG's frames are not on regular planes {step:g} mm apart; pass --reference with the "
            "source series so they can be placed on its grid."
        )
    inplane = positions - np.outer(along - planes[0], normal)
    if np.abs(inplane - inplane[0]).max() > 1e-2:
        raise FormatError(f"{where}: the SEG's frames are shifted within their plane; cannot form one grid.")
    direction = np.column_stack([row, col, normal])
    # DICOM PixelSpacing is (row spacing, column spacing) = (j, i).
    ijk_to_lps = ijk_to_ras_matrix([pixel_spacing[1], pixel_spacing[0], step], inplane[0], direction)
    shape = (int(k.max()) + 1, int(seg.Rows), int(seg.Columns))
    return shape, LPS_TO_RAS @ ijk_to_lps, k


def _frame_of_reference(volume: Volume) -> str | None:
    """The FrameOfReferenceUID of a volume read from DICOM (its first file), or None for other files."""
    import pydicom

    files = volume.metadata.get("files") or [volume.metadata.get("source")]
    first = files[0] if files else None
    if not first or not Path(first).is_file():
        return None
    try:
        ds = pydicom.dcmread(str(first), stop_before_pixels=True, specific_tags=["FrameOfReferenceUID"])
    except Exception:  # not DICOM (NRRD, NIfTI): nothing to compare
        return None
    uid = ds.get("FrameOfReferenceUID")
    return str(uid) if uid else None


def read_dicom_seg(path: str | os.PathLike, reference: Volume | str | os.PathLike | None = None,
                   ignore_frame_of_reference: bool = False) -> Segmentation:
    """Read a DICOM SEG file into a :class:`Segmentation`.

    Masks are placed on ``reference``'s grid (a :class:`Volume`, or a DICOM folder/volume file read with
    ``read_volume``); without one, on the grid spanned by the SEG's own frames (from their per-frame
    ImagePositionPatient), which covers only the slices the SEG holds. A DICOM reference whose
    FrameOfReferenceUID differs from the SEG's is refused (the coordinates of two frames of reference do
    not match, so the masks would land in the wrong place) unless ``ignore_frame_of_reference``.
    """
    hd = import_optional("highdicom", "formats", "DICOM SEG")
    import pydicom

    p = Path(path)
    if not p.is_file():
        raise MissingFileError(f"{p}: no such file.")
    try:
        ds = pydicom.dcmread(str(p))
    except Exception as exc:
        raise FormatError(f"{p}: not a readable DICOM file ({exc}).") from None
    if str(ds.get("SOPClassUID", "")) != SEG_SOP_CLASS_UID:
        raise FormatError(
            f"{p}: not a DICOM Segmentation (SOP class {ds.get('SOPClassUID', 'missing')}); for images use read_volume."
        )
    try:
        seg = hd.seg.Segmentation.from_dataset(ds, copy=False)
    except Exception as exc:
        raise FormatError(f"{p}: DICOM SEG that highdicom cannot parse ({exc}).") from None
    where = str(p)
    from SegAssistLib.io.jsonfile import malformed

    with malformed(where, "DICOM SEG (frame geometry)"):
        iop, pixel_spacing, positions, numbers = _frame_geometry(seg, where)
    from SegAssistLib.io.dicom_series import check_geometry

    check_geometry(np.asarray(iop, float)[None], np.asarray(positions, float),
                   np.asarray(pixel_spacing, float)[None], where, [f"frame {n + 1}" for n in range(len(positions))])
    shape, own_ijk_to_ras, k_of_frame = _own_grid(seg, iop, pixel_spacing, positions, where)
    try:
        frames = seg.pixel_array
    except Exception as exc:  # truncated or damaged pixel data: pydicom/numpy raise many types
        raise FormatError(f"{p}: the SEG's pixel data cannot be decoded ({type(exc).__name__}: {exc}); "
                          "the file is damaged or incomplete.") from None
    if frames.ndim == 2:
        frames = frames[None]
    if str(seg.SegmentationType) == "FRACTIONAL":
        frames = frames > (int(seg.MaximumFractionalValue) / 2)
    else:
        frames = frames > 0
    if isinstance(reference, (str, os.PathLike)):
        from SegAssistLib.io.volumes import read_volume

        reference = read_volume(reference)
    if reference is not None and not ignore_frame_of_reference:
        own, theirs = str(ds.get("FrameOfReferenceUID", "") or ""), _frame_of_reference(reference)
        if own and theirs and own != theirs:
            raise GeometryError(
                f"{p}: the SEG's FrameOfReferenceUID {own} differs from the reference's {theirs}: the reference is "
                "another patient position or scanner session, and placing the masks on it would misplace them. "
                "Give the series the SEG was drawn on, or pass --ignore-frame-of-reference if the two are "
                "known to be registered."
            )
    meta = {"source": where, "series_uid": str(ds.get("SeriesInstanceUID", ""))}
    ref_series = _first(ds, "ReferencedSeriesSequence")
    if ref_series is not None:
        meta["referenced_series_uid"] = str(ref_series.SeriesInstanceUID)
    if reference is not None:
        out = Segmentation(reference.shape, reference.ijk_to_ras, meta)
    else:
        out = Segmentation(shape, own_ijk_to_ras, meta)
    numbers_arr = np.asarray(numbers)
    for desc in seg.SegmentSequence:
        segment = _segment_from_description(desc)
        if segment.id in out:
            segment.id = out.new_segment_id()
        mask = np.zeros(shape, dtype=bool)
        for f in np.flatnonzero(numbers_arr == int(desc.SegmentNumber)):
            mask[k_of_frame[f]] |= frames[f]
        if reference is not None:
            mask = place_on_grid(mask, own_ijk_to_ras, reference.shape, reference.ijk_to_ras)
        out.add_segment(segment, mask)
    return out


def _display_color(hd, rgb) -> dict:
    """``display_color=`` for highdicom's SegmentDescription where it exists (highdicom >= 0.23); Python 3.9
    (Slicer 5.8) gets at most highdicom 0.22, which has neither that argument nor ``CIELabColor.from_rgb``."""
    if hasattr(hd.color.CIELabColor, "from_rgb"):
        return {"display_color": hd.color.CIELabColor.from_rgb(*rgb)}
    return {}


def _dicom_lab_from_rgb(rgb) -> list[int]:
    """DICOM RecommendedDisplayCIELabValue of an 8-bit sRGB colour (PS3.3 C.10.7.1.1: L* 0..100 and a*, b*
    -128..127 scaled to 0..65535), converted with scikit-image (D65, as highdicom does)."""
    from skimage.color import rgb2lab

    lab = rgb2lab(np.asarray(rgb, dtype=float).reshape(1, 1, 3) / 255.0).reshape(3)
    scaled = [lab[0] / 100.0, (lab[1] + 128.0) / 255.0, (lab[2] + 128.0) / 255.0]
    return [int(round(float(np.clip(v, 0.0, 1.0)) * 65535)) for v in scaled]


def _rgb_from_dicom_lab(hd, value) -> tuple[float, float, float]:
    """RGB in 0..1 from a DICOM RecommendedDisplayCIELabValue (three 16-bit integers), on any highdicom."""
    if hasattr(hd.color.CIELabColor, "from_dicom_value"):
        rgb = hd.color.CIELabColor.from_dicom_value(value).to_rgb(clip=True)
        return tuple(c / 255.0 for c in rgb)  # type: ignore[return-value]
    from skimage.color import lab2rgb

    v = np.asarray(value, dtype=float) / 65535.0
    lab = np.array([v[0] * 100.0, v[1] * 255.0 - 128.0, v[2] * 255.0 - 128.0])
    rgb = np.clip(lab2rgb(lab.reshape(1, 1, 3)).reshape(3), 0.0, 1.0)
    return tuple(float(np.round(c * 255.0) / 255.0) for c in rgb)  # type: ignore[return-value]
