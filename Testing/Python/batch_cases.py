"""Real batch cases built from the fetched data (Testing/Data/fetch_data.py) for the batch tests and benchmark.

For a pyradiomics case NAME this writes, under a work folder: a keyframe labelmap (the lesion label with
its inner slices removed) and a Slicer markups file with one positive point at the
lesion voxel nearest its centroid on the middle lesion slice. The rows use the real image and label files
from the fetched data (Testing/Data/fetch_data.py) directly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from SegAssistLib.io.markups import MarkupPrompt, write_markups
from SegAssistLib.io.volumes import read_volume, write_volume


def keyframe_slices(label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(all lesion slices k, the kept keyframes: first and last, and the middle one from 5 slices on)."""
    ks = np.flatnonzero((label > 0).any(axis=(1, 2)))
    keep = [ks[0], ks[len(ks) // 2], ks[-1]] if len(ks) >= 5 else [ks[0], ks[-1]]
    return ks, np.unique(keep)


def inside_point_kji(label: np.ndarray) -> tuple[int, int, int]:
    """The lesion voxel nearest the lesion's centroid on its middle slice."""
    ks, _ = keyframe_slices(label)
    k = int(ks[len(ks) // 2])
    jj, ii = np.nonzero(label[k] > 0)
    n = int(np.argmin((jj - jj.mean()) ** 2 + (ii - ii.mean()) ** 2))
    return k, int(jj[n]), int(ii[n])


def make_case_rows(pyradiomics_dir: Path, work: Path, name: str, ops=("segment", "interpolate", "convert")) -> list[dict]:
    """Manifest rows (absolute inputs, outputs relative to the output folder) for one pyradiomics case."""
    image, label = pyradiomics_dir / f"{name}_image.nrrd", pyradiomics_dir / f"{name}_label.nrrd"
    lab = read_volume(label)
    rows = []
    if "segment" in ops:
        k, j, i = inside_point_kji(lab.array)
        ras = read_volume(image).kji_to_ras(np.array([[k, j, i]], float)).reshape(1, 3)
        prompts = write_markups(work / f"{name}_Lesion.mrk.json", MarkupPrompt("Lesion", ras, np.array([1])))
        rows.append({"case": f"{name}-segment", "operation": "segment", "volume": str(image),
                     "prompts": str(prompts), "output": f"{name}_segment.seg.nrrd"})
    if "interpolate" in ops:
        ks, keep = keyframe_slices(lab.array)
        kf = lab.array.copy()
        kf[np.setdiff1d(ks, keep)] = 0
        keyframes = write_volume(lab.with_array(kf), work / f"{name}_keyframes.nrrd")
        rows.append({"case": f"{name}-interpolate", "operation": "interpolate", "volume": str(image),
                     "keyframes": str(keyframes), "output": f"{name}_interpolated.seg.nrrd"})
    if "convert" in ops:
        rows.append({"case": f"{name}-convert", "operation": "convert", "volume": str(image),
                     "segmentation": str(label), "output": f"{name}_label.seg.nrrd"})
    return rows


def corrupt_row(work: Path) -> dict:
    """A case whose volume is a truncated, garbled NRRD file."""
    bad = work / "corrupt_image.nrrd"
    bad.write_bytes(b"NRRD0004\ntype: short\ndimension: 3\nsizes: 64 64 8\nencoding: gzip\n\n\x1f\x8b\x08garbage")
    return {"case": "corrupt-convert", "operation": "convert", "volume": str(bad),
            "segmentation": str(bad), "output": "corrupt.seg.nrrd"}
