"""Declared sizes are checked against the bytes a file holds before anything is allocated, truncated
NIfTI is detected, and COCO coordinates are validated before pycocotools' native code sees them
(issue 18). Files are real volumes (pyradiomics brain1) written by SimpleITK and then cut or given a
lying header; every refused command exits 2 in a subprocess-free CLI call and writes nothing."""

from __future__ import annotations

import gzip
import json
import shutil

import numpy as np
import pytest

from SegAssistLib.cli.main import main
from SegAssistLib.errors import FormatError, VolumeReadError
from SegAssistLib.io.declared_size import check_declared_size, check_image_size
from SegAssistLib.io.volumes import read_volume, write_volume


@pytest.fixture(scope="module")
def brain_files(brain1, tmp_path_factory):
    folder = tmp_path_factory.mktemp("brain")
    image, label = brain1
    out = {}
    for name in ("image.nii", "image.nii.gz", "image.nrrd"):
        out[name] = write_volume(image, folder / name, compress=name.endswith((".gz", ".nrrd")))
    out["label.nii.gz"] = write_volume(label, folder / "label.nii.gz")
    out["raw.nrrd"] = write_volume(image, folder / "raw.nrrd", compress=False)
    return out


@pytest.mark.parametrize("name", ["image.nii", "image.nii.gz", "raw.nrrd"])
def test_truncated_volumes_are_refused(brain_files, tmp_path, capsys, name):
    data = brain_files[name].read_bytes()
    cut = tmp_path / name
    cut.write_bytes(data[: int(len(data) * 0.8)])
    with pytest.raises(VolumeReadError, match="truncated"):
        read_volume(cut)
    assert main(["info", str(cut)]) == 2
    assert "truncated" in capsys.readouterr().err
    assert read_volume(brain_files[name]).shape == (25, 256, 256)  # the whole file still reads


def test_truncated_labelmap_is_not_converted(brain_files, tmp_path, capsys):
    data = brain_files["label.nii.gz"].read_bytes()
    cut = tmp_path / "label.nii.gz"
    cut.write_bytes(data[: len(data) // 2])
    assert main(["convert", str(cut), str(tmp_path / "out.seg.nrrd")]) == 2
    assert "truncated" in capsys.readouterr().err
    assert not (tmp_path / "out.seg.nrrd").exists()


def test_nrrd_header_claiming_more_than_the_file_holds(tmp_path, capsys):
    for enc, sizes in (("raw", "200 200 60"), ("gzip", "2000 2000 60"), ("raw", "2000 2000 600")):
        path = tmp_path / f"lie_{enc}_{sizes.replace(' ', 'x')}.nrrd"
        head = (f"NRRD0004\ntype: short\ndimension: 3\nsizes: {sizes}\nencoding: {enc}\n"
                "space: left-posterior-superior\nspace directions: (1,0,0) (0,1,0) (0,0,1)\nspace origin: (0,0,0)\n\n")
        body = gzip.compress(b"\0" * 1000) if enc == "gzip" else b"\0" * 1000
        path.write_bytes(head.encode() + body)
        with pytest.raises(VolumeReadError, match="declares|truncated|cannot hold"):
            read_volume(path)
        assert main(["info", str(path)]) == 2
    # The same lie inside a .seg.nrrd is refused before pynrrd allocates.
    seg = tmp_path / "lie.seg.nrrd"
    shutil.copyfile(tmp_path / "lie_raw_2000x2000x600.nrrd", seg)
    assert main(["convert", str(seg), str(tmp_path / "o.seg.nrrd")]) == 2
    assert "SEGASSIST_MAX_VOXELS" in capsys.readouterr().err


def test_intact_files_pass_the_check(brain_files):
    for path in brain_files.values():
        check_declared_size(path)


def test_image_size_limits():
    assert check_image_size(600, 800, "x") == (600, 800)
    for h, w in ((40000, 40000), (0, 5), (5.5, 5), ("5", 5), (True, 5)):
        with pytest.raises(FormatError):
            check_image_size(h, w, "x")


def _coco(tmp_path, segmentation, height=8, width=8):
    doc = {"images": [{"id": 1, "file_name": "a.png", "height": height, "width": width}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "segmentation": segmentation}],
           "categories": [{"id": 1, "name": "cell"}]}
    path = tmp_path / "coco.json"
    path.write_text(json.dumps(doc))  # json.dumps writes NaN and Infinity as Python's json reads them
    return path


@pytest.mark.parametrize("segmentation,height,width,message", [
    ([[1, 1, float("nan"), 1, 3, 3]], 8, 8, "non-finite"),
    ([[1, 1, 1e30, 1, 3, 3]], 8, 8, "outside"),
    ([[1, 1, float("inf"), 1, 3, 3]], 8, 8, "non-finite"),
    ([[1, 1, "x", 1, 3, 3]], 8, 8, "numbers"),
    ([[1, 1, 3, 1, 3, 3]], 40000, 40000, "exceeds"),
])
def test_coco_coordinates_and_sizes_checked_before_pycocotools(tmp_path, capsys, segmentation, height, width, message):
    path = _coco(tmp_path, segmentation, height, width)
    assert main(["convert", str(path), str(tmp_path / "out_panoptic.json")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out_panoptic.json").exists()


def test_valid_coco_polygon_still_decodes(tmp_path):
    from SegAssistLib.formats.datasets2d.coco_instances import read_coco_instances

    ds = read_coco_instances(_coco(tmp_path, [[1, 1, 6, 1, 6, 6, 1, 6]]))
    assert 16 <= int(ds.samples[0].regions[0].mask.sum()) <= 36
