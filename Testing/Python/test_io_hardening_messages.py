"""Inputs that used to end in a Python traceback now give a clear message and exit status 2 (issue 18):
a truncated DICOM SEG, markups with string positions or non-object control points, JSON nested 100,000
levels, COCO whose ``images`` is not a list or whose annotation lacks ``segmentation``, Label Studio
tasks that are not objects. Each runs the real ``segassist`` command in-process."""

from __future__ import annotations

import json

import numpy as np
import pytest

from SegAssistLib.cli.main import main
from SegAssistLib.core.segmentation import Segment, Segmentation
from SegAssistLib.core.volume import Volume
from SegAssistLib.io.dicom_seg import write_dicom_seg
from SegAssistLib.io.volumes import read_volume, write_dicom_series


def _exit_2(capsys, argv, needle):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and needle in err, err
    return err


@pytest.fixture()
def volume_file(case_path):
    return str(case_path("brain1", "image"))


@pytest.mark.parametrize("markups,needle", [
    ({"markups": [{"type": "Fiducial", "controlPoints": [{"position": ["a", "b", "c"]}]}]}, "finite numbers"),
    ({"markups": [{"type": "Fiducial", "controlPoints": [1, 2]}]}, "not an object"),
    ({"markups": ["x"]}, "not an object"),
    ({"markups": [{"type": "Fiducial", "controlPoints": [{"position": [1, 2, float("nan")]}]}]}, "finite numbers"),
    ({"markups": [{"type": "ROI", "center": [0, 0, 0], "size": [1, "x", 1]}]}, "center/size"),
    ({"markups": [{"type": "ROI", "center": [0, 0, 0], "size": [1, 1, 1], "orientation": 5}]}, "ROI"),
    ({"markups": [{"type": "Fiducial", "controlPoints": "abc"}]}, "not an object"),
])
def test_bad_markups(tmp_path, capsys, volume_file, markups, needle):
    path = tmp_path / "p.mrk.json"
    path.write_text(json.dumps(markups))
    _exit_2(capsys, ["segment", volume_file, "--prompts", str(path), "-o", str(tmp_path / "o.seg.nrrd"),
                     "--no-progress"], needle)
    assert not (tmp_path / "o.seg.nrrd").exists()


def test_deeply_nested_json_everywhere(tmp_path, capsys, volume_file):
    deep = "[" * 100_000 + "]" * 100_000
    for name in ("p.mrk.json", "coco.json", "m.json", "tasks.json"):
        (tmp_path / name).write_text(deep)
    _exit_2(capsys, ["segment", volume_file, "--prompts", str(tmp_path / "p.mrk.json"), "-o",
                     str(tmp_path / "o.seg.nrrd"), "--no-progress"], "nested too deeply")
    _exit_2(capsys, ["convert", str(tmp_path / "coco.json"), str(tmp_path / "x_panoptic.json")], "nested too deeply")
    _exit_2(capsys, ["batch", str(tmp_path / "m.json"), "--no-progress"], "nested too deeply")


@pytest.mark.parametrize("doc,needle", [
    ({"images": {"id": 1}, "annotations": [], "categories": [{"id": 1, "name": "a"}]}, "list of objects"),
    ({"images": ["a.png"], "annotations": [], "categories": [{"id": 1, "name": "a"}]}, "list of objects"),
    ({"images": [{"id": 1, "file_name": "a.png", "height": 4, "width": 4}],
      "annotations": [{"id": 1, "image_id": 1, "category_id": 1}], "categories": [{"id": 1, "name": "a"}]},
     "no 'segmentation'"),
    ({"images": [{"id": 1, "height": 4, "width": 4}], "annotations": [], "categories": [{"id": 1, "name": "a"}]},
     "file_name"),
    ({"images": [{"id": 1, "file_name": "a.png", "height": "4", "width": 4}], "annotations": [],
      "categories": [{"id": 1, "name": "a"}]}, "whole numbers"),
])
def test_bad_coco(tmp_path, capsys, doc, needle):
    (tmp_path / "coco.json").write_text(json.dumps(doc))
    _exit_2(capsys, ["convert", str(tmp_path / "coco.json"), str(tmp_path / "x_panoptic.json")], needle)


@pytest.mark.parametrize("tasks,needle", [
    ([1, "x"], "not an object"),
    ([{"data": {"image": "a.png"}, "annotations": [{"result": [{"value": {"format": "rle", "rle": [1]},
                                                                 "original_height": 40000,
                                                                 "original_width": 40000}]}]}], "exceeds"),
    ([{"data": {"image": "a.png"}, "annotations": "oops"}], "Label Studio"),
])
def test_bad_label_studio_tasks(tmp_path, capsys, tasks, needle):
    (tmp_path / "export.json").write_text(json.dumps(tasks))
    _exit_2(capsys, ["convert", str(tmp_path / "export.json"), str(tmp_path / "x_panoptic.json")], needle)


def test_truncated_dicom_seg(brain1, tmp_path, capsys):
    image, label = brain1
    k = np.flatnonzero((label.array > 0).any(axis=(1, 2)))
    vol = Volume(np.ascontiguousarray(image.array[k[0]:k[-1] + 1]), image.ijk_to_ras.copy())
    vol.ijk_to_ras[:3, 3] = image.ijk_to_ras_points(np.array([0.0, 0.0, float(k[0])]))
    write_dicom_series(vol, tmp_path / "series")
    source = read_volume(tmp_path / "series")
    seg = Segmentation.like(source)
    seg.add_segment(Segment("l", "Lesion", (1.0, 0.0, 0.0)), np.ascontiguousarray(label.array[k[0]:k[-1] + 1] > 0))
    path = write_dicom_seg(seg, tmp_path / "seg.dcm", tmp_path / "series")
    data = path.read_bytes()
    for fraction in (0.3, 0.9, 0.99):
        cut = tmp_path / f"cut{fraction}.dcm"
        cut.write_bytes(data[: int(len(data) * fraction)])
        _exit_2(capsys, ["convert", str(cut), str(tmp_path / "o.seg.nrrd")], str(cut))
        assert not (tmp_path / "o.seg.nrrd").exists()
