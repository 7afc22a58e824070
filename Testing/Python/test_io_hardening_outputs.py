"""Outputs never overwrite inputs, and paths taken from data files stay in their folder (issue 18).

Each test runs the real command (``segassist ...`` in-process, real readers and writers) on real data
(pyradiomics brain1) or files the test writes, and checks that the refused command exits 2 and leaves
every input byte-identical, or that the corrected behaviour (colour table named after the full file name)
keeps files apart.
"""

from __future__ import annotations

import os

import csv
import json
import shutil

import numpy as np
import pytest

from SegAssistLib.batch import ManifestError, read_manifest
from SegAssistLib.cli.main import main
from SegAssistLib.core.segmentation import Segment, Segmentation
from SegAssistLib.io.labelmap import default_table_path, find_table, write_labelmap
from SegAssistLib.io.markups import MarkupPrompt, write_markups
from SegAssistLib.io.paths import UnsafePathError, contained, refuse_outputs_over_inputs
from SegAssistLib.io.segmentation_files import read_segmentation
from SegAssistLib.io.seg_nrrd import write_seg_nrrd


@pytest.fixture()
def brain_case(tmp_path, brain1, case_path):
    """A copy of brain1's image, a prompt inside its lesion and the lesion as a .seg.nrrd."""
    vol_path = tmp_path / "vol.nrrd"
    shutil.copyfile(case_path("brain1", "image"), vol_path)
    image, label = brain1
    k, j, i = np.argwhere(label.array > 0)[len(np.argwhere(label.array > 0)) // 2]
    prompt = MarkupPrompt("Tumour", image.kji_to_ras([[k, j, i]]), np.array([1]))
    prompts = write_markups(tmp_path / "tumour.mrk.json", prompt, "LPS")
    seg = Segmentation.like(image)
    seg.add_segment(Segment("lesion", "Lesion", (1.0, 0.0, 0.0)), label.array > 0)
    seg_path = write_seg_nrrd(seg, tmp_path / "lesion.seg.nrrd")
    return vol_path, prompts, seg_path


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_segment_refuses_output_that_is_the_volume(brain_case, tmp_path, capsys):
    vol, prompts, _ = brain_case
    before = _snapshot(tmp_path)
    assert main(["segment", str(vol), "--prompts", str(prompts), "-o", str(vol), "--no-progress"]) == 2
    assert "destroy the input" in capsys.readouterr().err
    assert _snapshot(tmp_path) == before
    # The same through another spelling of the path.
    assert main(["segment", str(vol), "--prompts", str(prompts), "-o", str(tmp_path / "." / "vol.nrrd"),
                 "--no-progress"]) == 2
    assert _snapshot(tmp_path) == before


def test_convert_and_interpolate_refuse_their_input(brain_case, tmp_path, capsys):
    vol, _, seg_path = brain_case
    assert main(["convert", str(seg_path), str(tmp_path / "labels.nrrd")]) == 0
    before = _snapshot(tmp_path)
    assert main(["convert", str(seg_path), str(seg_path)]) == 2
    assert main(["convert", str(seg_path), str(tmp_path / "." / "lesion.seg.nrrd")]) == 2
    assert main(["convert", str(seg_path), str(vol), "--reference", str(vol)]) == 2
    assert main(["interpolate", str(tmp_path / "labels.nrrd"), "-o", str(tmp_path / "labels.nrrd")]) == 2
    assert main(["interpolate", str(tmp_path / "labels.nrrd"), "-o", str(vol), "--volume", str(vol)]) == 2
    assert capsys.readouterr().err.count("destroy the input") == 5
    assert _snapshot(tmp_path) == before


def _manifest(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def test_manifest_outputs_never_hit_inputs_or_the_manifest(brain_case, tmp_path):
    vol, prompts, seg_path = brain_case
    row = {"case": "a", "operation": "segment", "volume": str(vol), "prompts": str(prompts)}
    with pytest.raises(ManifestError, match="destroy the input"):
        read_manifest(_manifest(tmp_path / "m.csv", [{**row, "output": "vol.nrrd"}]))
    # The labelmap's colour table would be the manifest itself.
    with pytest.raises(ManifestError, match="m2.nrrd.csv"):
        read_manifest(_manifest(tmp_path / "m2.nrrd.csv", [{**row, "output": "m2.nrrd"}]))
    # One case's output is another case's input.
    with pytest.raises(ManifestError, match="destroy the input"):
        read_manifest(_manifest(tmp_path / "m3.csv", [
            {**row, "segmentation": "", "output": "lesion.seg.nrrd"},
            {**row, "case": "b", "operation": "convert", "volume": "", "prompts": "", "segmentation": str(seg_path),
             "output": "b.nii.gz"},
        ]))
    # The case: manifest cases.csv and output cases.nrrd no longer collide (table cases.nrrd.csv).
    manifest = _manifest(tmp_path / "cases.csv", [{**row, "output": "cases.nrrd"}])
    text = manifest.read_bytes()
    assert main(["batch", str(manifest), "--workers", "1", "--no-progress"]) == 0
    assert manifest.read_bytes() == text
    assert (tmp_path / "cases.nrrd.csv").is_file()


@pytest.mark.parametrize("output", ["../outside.seg.nrrd", "sub/../../outside.seg.nrrd", "/tmp/abs.seg.nrrd",
                                    "~/x.seg.nrrd", "C:\\x.seg.nrrd"])
def test_manifest_outputs_stay_in_the_output_folder(brain_case, tmp_path, output):
    vol, prompts, _ = brain_case
    row = {"case": "a", "operation": "segment", "volume": str(vol), "prompts": str(prompts), "output": output}
    (tmp_path / "jobs").mkdir()
    with pytest.raises(ManifestError, match="relative|outside|'~'"):
        read_manifest(_manifest(tmp_path / "jobs" / "m.csv", [row]))
    # A sub-folder is fine.
    ok = read_manifest(_manifest(tmp_path / "jobs" / "ok.csv", [{**row, "output": "sub/a.seg.nrrd"}]))
    assert ok[0].output == str((tmp_path / "jobs" / "sub" / "a.seg.nrrd").resolve())


def test_colour_tables_of_two_labelmaps_do_not_collide(brain1, tmp_path):
    image, label = brain1
    segs = []
    for name in ("Left", "Right"):
        seg = Segmentation.like(image)
        seg.add_segment(Segment("s", name, (0.0, 1.0, 0.0)), label.array > 0)
        segs.append(seg)
    write_labelmap(segs[0], tmp_path / "a.nrrd")
    write_labelmap(segs[1], tmp_path / "a.nii.gz")
    assert default_table_path(tmp_path / "a.nii.gz") == tmp_path / "a.nii.gz.csv"
    assert [s.name for s in read_segmentation(tmp_path / "a.nrrd")] == ["Left"]
    assert [s.name for s in read_segmentation(tmp_path / "a.nii.gz")] == ["Right"]
    # Tables written by earlier versions (a.csv beside a.nrrd) are still read.
    (tmp_path / "a.nrrd.csv").rename(tmp_path / "a.csv")
    assert find_table(tmp_path / "a.nrrd") == tmp_path / "a.csv"
    assert [s.name for s in read_segmentation(tmp_path / "a.nrrd")] == ["Left"]


def _coco_with_name(tmp_path, file_name):
    from PIL import Image

    src = tmp_path / "src.png"
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).save(src)
    (tmp_path / "imgs").mkdir()
    doc = {"images": [{"id": 1, "file_name": file_name, "height": 8, "width": 8}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 4, "bbox": [1, 1, 2, 2],
                            "segmentation": [[1, 1, 3, 1, 3, 3, 1, 3]]}],
           "categories": [{"id": 1, "name": "cell"}]}
    (tmp_path / "in.json").write_text(json.dumps(doc))
    return src


@pytest.mark.parametrize("name", ["../src.png", "ABSOLUTE"])
def test_coco_file_names_cannot_leave_their_folder(tmp_path, capsys, name):
    src = _coco_with_name(tmp_path, name)
    if name == "ABSOLUTE":
        (tmp_path / "in.json").write_text((tmp_path / "in.json").read_text().replace("ABSOLUTE", str(src)))
    before = _snapshot(tmp_path)
    assert main(["convert", str(tmp_path / "in.json"), str(tmp_path / "out" / "coco.json"),
                 "--images-dir", str(tmp_path / "imgs")]) == 2
    assert "stay inside" in capsys.readouterr().err
    assert _snapshot(tmp_path) == before
    assert not (tmp_path / "out").exists()


def test_panoptic_png_names_cannot_leave_their_folder(tmp_path, capsys):
    doc = {"images": [{"id": 1, "file_name": "a.png", "height": 8, "width": 8}],
           "annotations": [{"image_id": 1, "file_name": "../../etc/passwd.png", "segments_info": []}],
           "categories": [{"id": 1, "name": "cell", "isthing": 1}]}
    (tmp_path / "p_panoptic.json").write_text(json.dumps(doc))
    assert main(["convert", str(tmp_path / "p_panoptic.json"), str(tmp_path / "out.json")]) == 2
    assert "stay inside" in capsys.readouterr().err


def test_path_rules_directly(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "link").symlink_to(tmp_path)
    assert contained(tmp_path / "d", "x/y.png", "t") == tmp_path / "d" / "x" / "y.png"
    with pytest.raises(UnsafePathError, match="outside"):
        contained(tmp_path / "d", "link/y.png", "t")
    (tmp_path / "f").write_text("x")
    os.link(tmp_path / "f", tmp_path / "hard")  # Path.hardlink_to is Python 3.10+
    with pytest.raises(UnsafePathError):
        refuse_outputs_over_inputs([tmp_path / "hard"], [tmp_path / "f"])
    with pytest.raises(UnsafePathError, match="two outputs"):
        refuse_outputs_over_inputs([tmp_path / "o", tmp_path / "." / "o"], [])


def test_label_studio_image_names_cannot_leave_their_folder(tmp_path, capsys):
    from SegAssistLib.formats.datasets2d.coco_instances import read_coco_instances
    from SegAssistLib.formats.datasets2d.label_studio_tasks import read_tasks, write_tasks

    _coco_with_name(tmp_path, "a.png")
    write_tasks(read_coco_instances(tmp_path / "in.json"), tmp_path / "tasks.json")
    tasks = json.loads((tmp_path / "tasks.json").read_text())
    for url, expected in (("/data/local-files/?d=imgs/..", "task_"), ("C:\\data\\x.png", "x.png")):
        tasks[0]["data"] = {"image": url}
        (tmp_path / "tasks.json").write_text(json.dumps(tasks))
        (sample,) = read_tasks(tmp_path / "tasks.json", source="predictions").samples
        assert sample.name.startswith(expected)
    assert main(["convert", str(tmp_path / "tasks.json"), str(tmp_path / "sem"), "--source", "predictions"]) == 0
    assert [p.name for p in (tmp_path / "sem").iterdir() if p.suffix == ".png"] == ["x.png"]
