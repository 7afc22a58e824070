"""``segassist convert`` for 2D datasets (options parsed by cli/convert_datasets.py, work done by
SegAssistLib.operations.datasets2d) and ``segassist ontology``: real files in, files that real peers (slicerio, pycocotools) read out, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from SegAssistLib.cli.main import main
from SegAssistLib.operations.datasets2d import is_dataset2d_conversion


def convert(*argv: str) -> int:
    return main(["convert", *argv])


def test_only_2d_conversions_go_to_the_2d_operations(tmp_path, stardist_dir, case_path):
    assert is_dataset2d_conversion(str(stardist_dir / "mask2d.tif"), str(tmp_path / "x_panoptic.json"))
    assert is_dataset2d_conversion(str(case_path("lung2", "label")), str(tmp_path / "coco.json"))
    # Volume-to-volume conversions stay 3D.
    assert not is_dataset2d_conversion(str(case_path("lung2", "label")), str(tmp_path / "a.seg.nrrd"))
    assert not is_dataset2d_conversion(str(tmp_path / "a.seg.nrrd"), str(tmp_path / "b.nii.gz"))


def test_label_image_to_panoptic_and_coco_via_segassist_convert(stardist_dir, tmp_path, capsys):
    import tifffile

    labels = tifffile.imread(stardist_dir / "mask2d.tif")
    assert main(["convert", str(stardist_dir / "mask2d.tif"), str(tmp_path / "nuclei_panoptic.json")]) == 0
    doc = json.loads((tmp_path / "nuclei_panoptic.json").read_text())
    infos = doc["annotations"][0]["segments_info"]
    assert sum(i["category_id"] == 2 for i in infos) == 125
    assert (tmp_path / "nuclei_panoptic" / "mask2d.png").is_file()
    assert main(["convert", str(tmp_path / "nuclei_panoptic.json"), str(tmp_path / "nuclei.json")]) == 0
    from pycocotools.coco import COCO

    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(tmp_path / "nuclei.json"))
    masks = [coco.annToMask(a) for a in coco.loadAnns(coco.getAnnIds(catIds=[2]))]
    assert sum(int(m.sum()) for m in masks) == int((labels > 0).sum())
    assert "125" not in capsys.readouterr().err


def test_image_option_and_label_studio(stardist_dir, tmp_path):
    assert convert(str(stardist_dir / "mask2d.tif"), str(tmp_path / "ls_tasks.json"), "--image",
                   str(stardist_dir / "img2d.tif"), "--thing", "nucleus") == 0
    assert (tmp_path / "ls_tasks_config.xml").read_text().count("<Label ") == 2
    assert (tmp_path / "ls_tasks_images" / "img2d.tif").is_file()
    assert convert(str(tmp_path / "ls_tasks.json"), str(tmp_path / "semantic"), "--ontology",
                   str(tmp_path / "ls_tasks_config.xml"), "--source", "predictions") == 0
    from PIL import Image

    sem = Image.open(tmp_path / "semantic" / "img2d.png")
    assert sem.mode == "P" and set(np.unique(np.array(sem))) == {1, 2}


def test_volume_slices_to_coco_and_back_to_seg_nrrd(case_path, tmp_path):
    slicerio = pytest.importorskip("slicerio")
    from SegAssistLib.io.volumes import read_volume

    label = read_volume(case_path("lung2", "label"))
    assert convert(str(case_path("lung2", "label")), str(tmp_path / "lung_coco.json"),
                   "--reference", str(case_path("lung2", "image")), "--plane", "axial", "--slices", "14-26") == 0
    coco = json.loads((tmp_path / "lung_coco.json").read_text())
    assert len(coco["images"]) == 13 and len(coco["annotations"]) == 11
    assert convert(str(tmp_path / "lung_coco.json"), str(tmp_path / "back.seg.nrrd"),
                   "--images-dir", str(tmp_path / "lung_coco_images"), "--volume-out", str(tmp_path / "vol.nrrd")) == 0
    seg = slicerio.read_segmentation(str(tmp_path / "back.seg.nrrd"))
    assert len(seg["segments"]) == 1
    assert int((seg["voxels"] > 0).sum()) == int((label.array > 0).sum())
    vol = read_volume(tmp_path / "vol.nrrd")
    assert vol.shape == (13, 512, 512)
    # Slice 0 of the stack is slice 14 of lung2: same RAS position.
    assert np.allclose(vol.kji_to_ras([0, 0, 0]), label.kji_to_ras([14, 0, 0]), atol=1e-3)


def test_errors_exit_2_and_write_nothing(stardist_dir, tmp_path, capsys, case_path):
    (tmp_path / "bad.json").write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.png", "height": 4, "width": 4}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 5, "segmentation": {"size": [4, 4], "counts": [16]}}],
        "categories": [{"id": 1, "name": "a"}]}))
    assert main(["convert", str(tmp_path / "bad.json"), str(tmp_path / "out_panoptic.json")]) == 2
    assert "Unknown category id 5" in capsys.readouterr().err
    assert not (tmp_path / "out_panoptic.json").exists() and not (tmp_path / "out_panoptic").exists()
    assert main(["convert", str(case_path("lung2", "label")), str(tmp_path / "c.json")]) == 2
    assert "--reference" in capsys.readouterr().err


def test_segassist_ontology_commands(tmp_path, capsys):
    xml = tmp_path / "config.xml"
    xml.write_text('<View><Image name="image" value="$image"/><BrushLabels name="tag" toName="image">'
                   '<Label value="Liver" background="#dd8265"/><Label value="Tumor" background="rgb(100,0,0)"/>'
                   '</BrushLabels></View>')
    assert main(["ontology", "convert", str(xml), str(tmp_path / "colors.csv")]) == 0
    assert main(["ontology", "convert", str(tmp_path / "colors.csv"), str(tmp_path / "o.json"), "--to", "cvat"]) == 0
    labels = json.loads((tmp_path / "o.json").read_text())
    assert [(lab["name"], lab["color"]) for lab in labels] == [("Liver", "#dd8265"), ("Tumor", "#640000")]
    capsys.readouterr()
    assert main(["ontology", "show", str(tmp_path / "o.json"), "--from", "cvat"]) == 0
    out = capsys.readouterr().out
    assert "Liver" in out and "#640000" in out
    (tmp_path / "empty.xml").write_text("<View><Image name='i' value='$image'/></View>")
    assert main(["ontology", "convert", str(tmp_path / "empty.xml"), str(tmp_path / "x.csv")]) == 2
    assert "no <Label>" in capsys.readouterr().err and not (tmp_path / "x.csv").exists()
