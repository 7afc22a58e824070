"""Markups prompts and `segassist segment` end to end on brain1: output read back by slicerio,
QC pictures written, bad prompts refused with nothing written."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from scipy import ndimage

from SegAssistLib.errors import FormatError
from SegAssistLib.io.markups import MarkupPrompt, read_markups, write_markups
from SegAssistLib.core.planes import PlaneView


def run(*args):
    return subprocess.run([sys.executable, "-m", "SegAssistLib.cli.main", *args], capture_output=True, text=True)


def lesion_points(vol, gt, slices):
    """The interior point farthest from the lesion boundary on each given axial slice, in RAS."""
    view = PlaneView(vol, "axial")
    pts = []
    for n in slices:
        m = view.slice(n, gt)
        r, c = np.unravel_index(np.argmax(ndimage.distance_transform_edt(m)), m.shape)
        pts.append(view.pixel_to_ras(n, r, c))
    return np.array(pts)


def test_markups_round_trip_lps_and_ras(tmp_path, brain1):
    vol, label = brain1
    pts = lesion_points(vol, label.array.astype(bool), [13, 15])
    prompt = MarkupPrompt("Tumour", pts, np.array([1, 0]))
    for system in ("LPS", "RAS"):
        path = write_markups(tmp_path / f"t_{system}.mrk.json", prompt, system)
        doc = json.loads(path.read_text())
        stored = np.array(doc["markups"][0]["controlPoints"][0]["position"])
        np.testing.assert_allclose(stored, pts[0] * ([-1, -1, 1] if system == "LPS" else [1, 1, 1]))
        (back,) = read_markups(path)
        np.testing.assert_allclose(back.points_ras, pts)
        assert back.labels.tolist() == [1, 0] and back.segment_name == "Tumour"


def test_markups_conventions(tmp_path):
    doc = {
        "markups": [
            {"type": "Fiducial", "coordinateSystem": "RAS",
             "controlPoints": [{"label": "a", "position": [1, 2, 3]}, {"label": "-b", "position": [4, 5, 6]},
                               {"label": "c", "description": "Negative", "position": [7, 8, 9]}]},
            {"type": "Fiducial", "name": "Liver (negative)", "coordinateSystem": "RAS",
             "controlPoints": [{"label": "x", "position": [0, 0, 0]}]},
            {"type": "ROI", "coordinateSystem": "LPS", "center": [10, 20, 30], "size": [4, 6, 0],
             "orientation": [1, 0, 0, 0, 1, 0, 0, 0, 1]},
        ]
    }
    path = tmp_path / "Kidney.mrk.json"
    path.write_text(json.dumps(doc))
    points, negative_list, roi = read_markups(path)
    assert points.segment_name == "Kidney" and points.labels.tolist() == [1, 0, 0]
    assert negative_list.segment_name == "Liver" and negative_list.labels.tolist() == [0]
    c1, c2 = roi.box_ras
    np.testing.assert_allclose(c1, [-8, -17, 30])
    np.testing.assert_allclose(c2, [-12, -23, 30])


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not valid markups JSON"),
        (json.dumps({"markups": []}), "no 'markups' list"),
        (json.dumps({"markups": [{"type": "Fiducial", "coordinateSystem": "XYZ", "controlPoints": []}]}), "only LPS and RAS"),
        (json.dumps({"markups": [{"type": "Line", "controlPoints": []}]}), "not a prompt"),
    ],
)
def test_malformed_markups(tmp_path, content, message):
    path = tmp_path / "bad.mrk.json"
    path.write_text(content)
    with pytest.raises(FormatError, match=message):
        read_markups(path)


def test_segment_cli_end_to_end(tmp_path, brain1, case_path):
    slicerio = pytest.importorskip("slicerio")
    vol, label = brain1
    gt = label.array.astype(bool)
    view = PlaneView(vol, "axial")
    occ = [n for n in range(view.n_slices) if view.slice(n, gt).any()]
    for n in (occ[1], occ[len(occ) // 2], occ[-2]):
        write_markups(tmp_path / f"Tumour_{n}.mrk.json", MarkupPrompt("Tumour", lesion_points(vol, gt, [n]), np.array([1])))
    out = tmp_path / "out" / "tumour.seg.nrrd"
    res = run("segment", str(case_path("brain1", "image")), "--prompts", *map(str, sorted(tmp_path.glob("*.mrk.json"))),
              "-o", str(out), "--qc", str(tmp_path / "qc"), "--no-progress")
    assert res.returncode == 0, res.stderr
    seg = slicerio.read_segmentation(str(out))
    (segment,) = seg["segments"]
    assert segment["name"] == "Tumour"
    voxels = seg["voxels"]
    assert int((voxels > 0).sum()) > 0.3 * gt.sum()
    png = (tmp_path / "qc" / "Tumour_montage.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "qc" / "Tumour_confidence.png").stat().st_size > 1000


def test_segment_cli_bad_prompt_writes_nothing(tmp_path, case_path, brain1):
    vol, _ = brain1
    lo, hi = vol.bounds_ras()
    write_markups(tmp_path / "Far.mrk.json", MarkupPrompt("Far", np.array([hi + 100]), np.array([1])), "RAS")
    out = tmp_path / "far.seg.nrrd"
    res = run("segment", str(case_path("brain1", "image")), "--prompts", str(tmp_path / "Far.mrk.json"), "-o", str(out))
    assert res.returncode == 2
    assert "outside the volume" in res.stderr and "Traceback" not in res.stderr
    assert not out.exists() and not list(tmp_path.glob("*.seg.nrrd*"))
