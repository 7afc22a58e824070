"""Slices exported from a volume to COCO or COCO panoptic (``--plane``, sparse ``--slices``) come back onto
that volume's grid with ``convert --reference VOLUME``: same geometry, the exported slices identical to the
source segmentation, every other slice empty. Real command, real pycocotools/panoptic files, the shipped
sample CT and its lesion label."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from SegAssistLib.cli.main import main
from SegAssistLib.core.planes import PlaneView
from SegAssistLib.io.segmentation_files import read_segmentation
from SegAssistLib.io.volumes import read_volume

SAMPLE = Path(__file__).resolve().parents[2] / "SegAssistLib" / "data" / "sample"
IMAGE, LABEL = SAMPLE / "lung2_crop.nrrd", SAMPLE / "lung2_crop_label.nrrd"


@pytest.mark.parametrize("name,plane,slices", [
    ("coco.json", "axial", [2, 5, 8, 11]),
    ("coco.json", "coronal", [60, 75, 90]),
    ("panoptic.json", "sagittal", [70, 80, 95]),
])
def test_sparse_slices_come_back_onto_the_volume(tmp_path, capsys, name, plane, slices):
    exported = tmp_path / name
    assert main(["convert", str(LABEL), str(exported), "--plane", plane, "--slices", ",".join(map(str, slices)),
                 "--reference", str(IMAGE)]) == 0
    back = tmp_path / "back.seg.nrrd"
    assert main(["convert", str(exported), str(back), "--reference", str(IMAGE)]) == 0
    image, label = read_volume(IMAGE), read_volume(LABEL)
    seg = read_segmentation(back)
    assert seg.shape == image.shape
    np.testing.assert_allclose(seg.geometry.ijk_to_ras, image.ijk_to_ras, atol=1e-6)
    got = np.zeros(image.shape, bool)
    for sid in seg.segment_ids:
        got |= seg.mask(sid)
    view = PlaneView(image, plane)
    want = label.array > 0
    for n in range(view.n_slices):
        expected = view.slice(n, want) if n in slices else np.zeros_like(view.slice(n, want))
        assert np.array_equal(view.slice(n, got), expected), (plane, n)
    assert got.sum() > 0


def test_slices_of_another_volume_are_refused(tmp_path, capsys):
    exported = tmp_path / "coco.json"
    assert main(["convert", str(LABEL), str(exported), "--plane", "axial", "--slices", "2,5",
                 "--reference", str(IMAGE)]) == 0
    other = tmp_path / "small.nrrd"
    from SegAssistLib.core.volume import Volume
    from SegAssistLib.io.volumes import write_volume

    image = read_volume(IMAGE)
    write_volume(Volume(np.ascontiguousarray(image.array[:, :80, :80]), image.ijk_to_ras), other)
    assert main(["convert", str(exported), str(tmp_path / "back.seg.nrrd"), "--reference", str(other)]) == 2
    assert "exported from another volume" in capsys.readouterr().err
    assert not (tmp_path / "back.seg.nrrd").exists()
