"""Reading and writing volumes: NRRD/NHDR, NIfTI, MHA/MHD, DICOM series folders and DICOM files.

SimpleITK and pydicom do the parsing; this module only chooses the reader, validates what came back and
converts LPS (files) to RAS (everything else in SegAssist). It is the one place where that conversion
happens for volumes.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from SegAssistLib.errors import VolumeReadError
from SegAssistLib.io.atomic import atomic_output
from SegAssistLib.core.volume import LPS_TO_RAS, Volume, ijk_to_ras_matrix

#: File name endings read by SimpleITK's ImageFileReader.
ITK_SUFFIXES = (".nrrd", ".nhdr", ".nii", ".nii.gz", ".mha", ".mhd", ".hdr", ".img")


def _is_dicom_file(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(132)
    return head[128:132] == b"DICM" or path.suffix.lower() in (".dcm", ".dicom", ".ima")


def read_volume(path: str | os.PathLike, series_uid: str | None = None) -> Volume:
    """Read a volume from a file or a DICOM folder.

    ``path`` may be a NRRD/NHDR, NIfTI (.nii, .nii.gz), MHA/MHD file, a single- or multi-frame DICOM file,
    or a folder holding DICOM series (``series_uid`` picks one; default: the series with most slices).
    Raises :class:`VolumeReadError` naming the file and the problem.
    """
    p = Path(path)
    if not p.exists():
        raise VolumeReadError(f"{p}: no such file or folder.")
    if p.is_dir():
        return read_dicom_series(p, series_uid)
    name = p.name.lower()
    if name.endswith(ITK_SUFFIXES):
        return _read_with_sitk(p)
    if _is_dicom_file(p):
        return read_dicom_file(p)
    raise VolumeReadError(
        f"{p}: unsupported file type. SegAssist reads NRRD/NHDR, NIfTI (.nii, .nii.gz), MHA/MHD, DICOM files "
        "and folders of DICOM series."
    )


def _read_with_sitk(p: Path, **metadata) -> Volume:
    import SimpleITK as sitk

    from SegAssistLib.errors import FormatError
    from SegAssistLib.io.declared_size import check_declared_size

    try:  # before SimpleITK allocates what the header claims, or zero-fills a truncated NIfTI
        check_declared_size(p)
    except FormatError as exc:
        raise VolumeReadError(str(exc)) from None

    try:
        image = sitk.ReadImage(str(p))
    except RuntimeError as exc:
        reason = str(exc).strip().splitlines()
        detail = next((line for line in reversed(reason) if line.strip()), "unreadable")
        raise VolumeReadError(f"{p}: could not be read as an image ({detail.strip()}). Is the file complete?") from None
    if image.GetDimension() not in (2, 3) or image.GetNumberOfComponentsPerPixel() != 1:
        raise VolumeReadError(
            f"{p}: holds a {image.GetDimension()}D image with {image.GetNumberOfComponentsPerPixel()} components "
            "per voxel; SegAssist needs a scalar 3D volume."
        )
    return Volume.from_sitk(image, source=str(p), **metadata)


def read_dicom_series(folder: str | os.PathLike, series_uid: str | None = None) -> Volume:
    """Read one series of a DICOM folder, ordered by slice position and checked for gaps."""
    import SimpleITK as sitk

    from SegAssistLib.io.dicom_series import choose_series, sort_and_validate

    series = choose_series(folder, series_uid)
    first = series.headers[0]
    if int(first.get("NumberOfFrames", 1) or 1) > 1 and len(series.files) == 1:
        return read_dicom_file(series.files[0])
    files = sort_and_validate(series, str(folder))
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files)
    try:
        image = reader.Execute()
    except RuntimeError as exc:
        raise VolumeReadError(f"{folder}: the pixel data of series {series.uid} could not be read ({exc}).") from None
    return Volume.from_sitk(
        image,
        source=str(folder),
        series_uid=series.uid,
        modality=series.modality,
        series_description=series.description,
        files=files,
    )


def read_dicom_file(path: str | os.PathLike) -> Volume:
    """Read one DICOM file: a single slice, a classic multi-frame or an enhanced multi-frame image."""
    import pydicom

    p = Path(path)
    try:
        ds = pydicom.dcmread(str(p))
    except Exception as exc:
        raise VolumeReadError(f"{p}: not a readable DICOM file ({exc}).") from None
    if "PixelData" not in ds:
        raise VolumeReadError(f"{p}: the DICOM file holds no image (SOP class {ds.get('SOPClassUID', '?')}).")
    if "PerFrameFunctionalGroupsSequence" in ds:
        return _read_enhanced_multiframe(p, ds)
    return _read_with_sitk(p, modality=str(ds.get("Modality", "")), series_uid=str(ds.get("SeriesInstanceUID", "")))


def _read_enhanced_multiframe(p: Path, ds) -> Volume:
    """Enhanced (multi-frame) CT/MR: frames placed by their per-frame plane positions."""
    from SegAssistLib.io.dicom_series import order_slices

    shared = ds.SharedFunctionalGroupsSequence[0] if "SharedFunctionalGroupsSequence" in ds else None
    frames = ds.PerFrameFunctionalGroupsSequence

    def group(frame, name):
        if name in frame:
            return frame[name].value[0]
        if shared is not None and name in shared:
            return shared[name].value[0]
        raise VolumeReadError(f"{p}: multi-frame DICOM without {name}; cannot place its frames in space.")

    iops = np.array([[float(v) for v in group(f, "PlaneOrientationSequence").ImageOrientationPatient] for f in frames])
    if np.abs(iops - iops[0]).max() > 1e-3:
        raise VolumeReadError(f"{p}: frames have different orientations (a localiser or several stacks).")
    positions = np.array([[float(v) for v in group(f, "PlanePositionSequence").ImagePositionPatient] for f in frames])
    pixel_spacing = [float(v) for v in group(frames[0], "PixelMeasuresSequence").PixelSpacing]
    names = [f"frame {i + 1}" for i in range(len(frames))]
    from SegAssistLib.io.dicom_series import check_geometry

    check_geometry(iops, positions, np.array([pixel_spacing] * len(frames)), str(p), names)
    order, step = order_slices(positions, iops[0], str(p), names)
    pixels = ds.pixel_array
    if pixels.ndim == 2:
        pixels = pixels[None]
    rescale = []
    for f in frames:
        try:
            t = group(f, "PixelValueTransformationSequence")
            rescale.append((float(t.get("RescaleSlope", 1.0)), float(t.get("RescaleIntercept", 0.0))))
        except VolumeReadError:
            rescale.append((float(ds.get("RescaleSlope", 1.0)), float(ds.get("RescaleIntercept", 0.0))))
    array = np.ascontiguousarray(pixels[order])
    if any(r != (1.0, 0.0) for r in rescale):
        slopes = np.array([rescale[i][0] for i in order], dtype=np.float64)[:, None, None]
        intercepts = np.array([rescale[i][1] for i in order], dtype=np.float64)[:, None, None]
        array = array * slopes + intercepts
        if np.all(slopes == np.round(slopes)) and np.all(intercepts == np.round(intercepts)):
            array = array.astype(np.int32 if array.min() < -32768 or array.max() > 32767 else np.int16)
        else:
            array = array.astype(np.float32)
    row, col = iops[0][:3], iops[0][3:]
    direction_lps = np.column_stack([row, col, np.cross(row, col)])
    # DICOM PixelSpacing is (row spacing, column spacing) = (j, i).
    spacing = [pixel_spacing[1], pixel_spacing[0], step]
    ijk_to_lps = ijk_to_ras_matrix(spacing, positions[order[0]], direction_lps)
    return Volume(
        array,
        LPS_TO_RAS @ ijk_to_lps,
        {"source": str(p), "modality": str(ds.get("Modality", "")), "series_uid": str(ds.get("SeriesInstanceUID", ""))},
    )


def write_volume(volume: Volume, path: str | os.PathLike, compress: bool = True) -> Path:
    """Write a volume as NRRD, NIfTI or MHA (by extension), atomically (no half-written file on failure)."""
    import SimpleITK as sitk

    p = Path(path)
    if not p.name.lower().endswith(ITK_SUFFIXES):
        raise VolumeReadError(f"{p}: write volumes as .nrrd, .nii, .nii.gz or .mha.")
    with atomic_output(p) as tmp:
        sitk.WriteImage(volume.to_sitk(), str(tmp), compress)
    return p


def write_dicom_series(
    volume: Volume, folder: str | os.PathLike, modality: str = "CT", series_description: str = "SegAssist"
) -> list[Path]:
    """Write ``volume`` as a DICOM series (one file per k-slice), e.g. to test DICOM input or to hand a
    volume to a PACS. Integer voxels are stored as int16 with rescale 1/0."""
    import SimpleITK as sitk
    from pydicom.uid import generate_uid

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    image = volume.to_sitk()
    if image.GetPixelID() not in (sitk.sitkInt16, sitk.sitkUInt16):
        image = sitk.Cast(image, sitk.sitkInt16)
    direction = image.GetDirection()
    study_uid, series_uid, frame_uid = generate_uid(), generate_uid(), generate_uid()
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    common = {
        "0008|0060": modality,
        "0008|103e": series_description,
        "0020|000d": study_uid,
        "0020|000e": series_uid,
        "0020|0052": frame_uid,
        "0010|0010": "SegAssist^Test",
        "0010|0020": "SEGASSIST",
        "0020|0037": "\\".join(f"{v:.10f}" for v in (*direction[0:7:3], *direction[1:8:3])),
        "0028|1052": "0",
        "0028|1053": "1",
    }
    paths = []
    for k in range(image.GetDepth()):
        s = image[:, :, k]
        for tag, value in common.items():
            s.SetMetaData(tag, value)
        s.SetMetaData("0008|0018", generate_uid())
        s.SetMetaData("0020|0013", str(k + 1))
        s.SetMetaData("0020|0032", "\\".join(f"{v:.6f}" for v in image.TransformIndexToPhysicalPoint((0, 0, k))))
        s.SetMetaData("0018|0050", f"{image.GetSpacing()[2]:.6f}")
        out = folder / f"slice_{k:04d}.dcm"
        writer.SetFileName(str(out))
        writer.Execute(s)
        paths.append(out)
    _fix_spacing_between_slices(paths, image.GetSpacing()[2])
    return paths


def _fix_spacing_between_slices(paths: list[Path], spacing: float) -> None:
    """GDCM, once it has read any series in the process, stamps SpacingBetweenSlices = 1 on slices it
    writes. Put the true spacing back so readers that trust the tag are not misled."""
    import pydicom

    first = pydicom.dcmread(paths[0], stop_before_pixels=True)
    if "SpacingBetweenSlices" not in first or abs(float(first.SpacingBetweenSlices) - spacing) < 1e-6:
        return
    for path in paths:
        ds = pydicom.dcmread(path)
        ds.SpacingBetweenSlices = f"{spacing:.6f}"
        ds.save_as(path)
