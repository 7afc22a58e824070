"""``segassist interpolate`` end to end on lung2: labelmap and .seg.nrrd out (read back with slicerio),
geometry checked against the image, nothing written on error."""

from __future__ import annotations


import numpy as np
import pytest

from SegAssistLib.cli.main import main
from SegAssistLib.evaluation.metrics import dice
from SegAssistLib.io.volumes import read_volume, write_volume


@pytest.fixture()
def sparse_lung2(lung2, tmp_path):
    _, label = lung2
    sparse = label.array.copy()
    sparse[16::2] = 0  # keep lesion slices 15, 17, ..., 25
    path = tmp_path / "sparse.nrrd"
    write_volume(label.with_array(sparse), path)
    return path, label


def test_cli_fills_labelmap(sparse_lung2, case_path, tmp_path, capsys):
    path, label = sparse_lung2
    out = tmp_path / "filled.nii.gz"
    assert main(["interpolate", str(path), "-o", str(out), "--volume", str(case_path("lung2", "image"))]) == 0
    assert "voxels filled by sdf" in capsys.readouterr().out
    result = read_volume(out)
    assert result.same_grid(label)
    truth = label.array > 0
    assert np.array_equal(result.array[15::2], label.array[15::2])
    assert dice(result.array[16:25:2] > 0, truth[16:25:2]) > 0.88


def test_cli_writes_seg_nrrd_read_by_slicerio(sparse_lung2, tmp_path):
    slicerio = pytest.importorskip("slicerio")
    path, label = sparse_lung2
    out = tmp_path / "filled.seg.nrrd"
    assert main(["interpolate", str(path), "-o", str(out), "--plane", "axial", "--segments", "1"]) == 0
    seg = slicerio.read_segmentation(str(out))
    assert len(seg["segments"]) == 1
    voxels = np.asarray(seg["voxels"])
    assert int((voxels != 0).sum()) > int((read_volume(path).array != 0).sum()) + 5000


def test_cli_geometry_mismatch_writes_nothing(sparse_lung2, case_path, tmp_path, capsys):
    path, _ = sparse_lung2
    out = tmp_path / "never.nrrd"
    assert main(["interpolate", str(path), "-o", str(out), "--volume", str(case_path("brain1", "image"))]) == 2
    err = capsys.readouterr().err
    assert "does not lie on" in err and "resample" in err
    assert not out.exists() and list(tmp_path.iterdir()) == [path]


def test_cli_unknown_segment_and_bad_suffix(sparse_lung2, tmp_path, capsys):
    path, _ = sparse_lung2
    assert main(["interpolate", str(path), "-o", str(tmp_path / "x.nrrd"), "--segments", "4"]) == 2
    assert "Segments [4] are not in the labelmap" in capsys.readouterr().err
    assert main(["interpolate", str(path), "-o", str(tmp_path / "x.png")]) == 2
    assert ".seg.nrrd" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [path]


def test_cli_seg_nrrd_in_keeps_names_and_colours(sparse_lung2, tmp_path):
    slicerio = pytest.importorskip("slicerio")
    from SegAssistLib.io.segmentation_files import write_segmentation
    from SegAssistLib.core.segmentation import Segment, Segmentation

    path, label = sparse_lung2
    sparse = read_volume(path).array > 0
    seg = Segmentation.like(label)
    seg.add_segment(Segment("tumour", "Lung lesion", color=(0.9, 0.2, 0.1)), sparse)
    src = tmp_path / "sparse.seg.nrrd"
    write_segmentation(seg, src)
    out = tmp_path / "filled.seg.nrrd"
    assert main(["interpolate", str(src), "-o", str(out)]) == 0
    result = slicerio.read_segmentation(str(out))
    (segment,) = result["segments"]
    assert segment["name"] == "Lung lesion" and np.allclose(segment["color"], (0.9, 0.2, 0.1), atol=1e-3)
    filled = int((np.asarray(result["voxels"]) != 0).sum())
    truth = int((label.array > 0).sum())
    assert int(sparse.sum()) + 5000 < filled < truth * 1.1
