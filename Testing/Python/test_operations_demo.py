"""``segassist demo``: the shipped sample segmented from its stored prompts, read back by real peers
(slicerio and Slicer's own segmentation storage node), scored against the sample's real label."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from SegAssistLib.cli.main import main
from SegAssistLib.operations.demo import SAMPLE_DIR, load_prompts, run_demo
from SegAssistLib.errors import FormatError, PromptError
from SegAssistLib.io.volumes import read_volume
from SegAssistLib.evaluation.simulated_user import dice
from SegAssistLib.core.volume import LPS_TO_RAS


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    return out, run_demo(out)


def test_sample_is_small_real_and_licensed():
    files = {p.name: p.stat().st_size for p in SAMPLE_DIR.iterdir()}
    assert {"lung2_crop.nrrd", "lung2_crop_label.nrrd", "prompts.json", "LICENSE.txt", "README.md"} <= set(files)
    assert sum(files.values()) < 1.5e6
    assert "BSD" in (SAMPLE_DIR / "LICENSE.txt").read_text() or "Redistribution" in (SAMPLE_DIR / "LICENSE.txt").read_text()
    image = read_volume(SAMPLE_DIR / "lung2_crop.nrrd")
    label = read_volume(SAMPLE_DIR / "lung2_crop_label.nrrd")
    assert image.size_ijk == (160, 160, 15) and image.same_grid(label)
    assert image.array.min() < -900 and image.array.max() > 100  # real CT: air and soft tissue/bone in HU
    assert (label.array > 0).sum() == 24644  # the whole lung2 lesion lies in the crop


def test_crop_matches_the_original(lung2):
    image, _ = lung2
    crop = read_volume(SAMPLE_DIR / "lung2_crop.nrrd")
    # Same RAS position -> same voxel value in the full volume.
    k, j, i = np.array(crop.shape) // 2
    kji = image.ras_to_kji_index(crop.kji_to_ras(np.array([k, j, i])))
    assert crop.array[k, j, i] == image.array[tuple(kji)]


def test_demo_segments_the_lesion(demo_out):
    out, result = demo_out
    label = read_volume(SAMPLE_DIR / "lung2_crop_label.nrrd").array > 0
    mask = result.segmentation.mask("Segment_1")
    assert dice(mask, label) > 0.85
    assert 0.7 < mask.sum() / label.sum() < 1.3
    filled = np.flatnonzero(mask.any(axis=(1, 2)))
    assert filled.tolist() == np.flatnonzero(label.any(axis=(1, 2))).tolist()
    assert result.segmentation_path == out / "demo.seg.nrrd" and result.overview_path == out / "demo_overview.png"


def test_demo_file_read_by_slicerio(demo_out):
    from slicerio.segmentation import read_segmentation, segment_mask

    _, result = demo_out
    peer = read_segmentation(str(result.segmentation_path))
    info = peer["segments"][0]
    assert info["name"] == "Lung lesion"
    np.testing.assert_allclose(LPS_TO_RAS @ peer["ijkToLPS"], result.volume.ijk_to_ras, atol=1e-6)
    mask = segment_mask(peer, info).transpose(2, 1, 0) > 0
    np.testing.assert_array_equal(mask, result.segmentation.mask("Segment_1"))


def test_demo_file_opens_in_slicer(demo_out, mrml_scene):
    import slicer

    _, result = demo_out
    node = mrml_scene.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "demo")
    storage = slicer.vtkMRMLSegmentationStorageNode()
    mrml_scene.scene.AddNode(storage)
    storage.SetFileName(str(result.segmentation_path))
    assert storage.ReadData(node) == 1
    segmentation = node.GetSegmentation()
    assert segmentation.GetNumberOfSegments() == 1
    segment = segmentation.GetNthSegment(0)
    assert segment.GetName() == "Lung lesion"
    volume_node = mrml_scene.add_volume(result.volume, "sample")
    arr = slicer.util.arrayFromSegmentBinaryLabelmap(node, segmentation.GetNthSegmentID(0), volume_node)
    np.testing.assert_array_equal(arr > 0, result.segmentation.mask("Segment_1"))


def test_overview_png_shows_the_result(demo_out):
    from PIL import Image

    from SegAssistLib.evaluation import montage as mt

    _, result = demo_out
    with Image.open(result.overview_path) as im:
        assert im.format == "PNG" and im.width > 900 and im.height > 700  # 11 slices, 4 per row
        rgb = np.asarray(im.convert("RGB"))
    for colour, least in ((mt.OUTLINE, 2000), (mt.POSITIVE, 5 * 20), (mt.NEGATIVE, 4 * 20), (mt.LETTER, 11 * 4 * 3)):
        found = int((rgb == np.array(colour, np.uint8)).all(axis=-1).sum())
        assert found > least, f"{colour}: {found} pixels"  # outlines, 5 + and 4 x prompts, letters on 11 tiles


def test_demo_runs_without_matplotlib(tmp_path):
    """The demo's install has no matplotlib (the `demo` extra is slicerio + pillow): run the demo in a fresh
    interpreter where matplotlib and its dependencies cannot be imported, as in that install (they are
    installed here for the confidence plot, so the test hides them rather than uninstalling them)."""
    hidden = ("matplotlib", "fontTools", "kiwisolver", "contourpy", "pyparsing", "cycler", "dateutil")
    code = ("import sys\n"
            "class Hide:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            f"        if name.split('.')[0] in {hidden!r}:\n"
            "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
            "sys.meta_path.insert(0, Hide())\n"
            "from SegAssistLib.cli.main import main\n"
            f"assert main(['demo', '-o', {str(tmp_path / 'out')!r}]) == 0\n"
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({hidden!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2])))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout
    assert (tmp_path / "out" / "demo_overview.png").stat().st_size > 10_000


def test_demo_extra_is_slicerio_and_pillow():
    import re

    text = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    (demo,) = re.findall(r"^demo = \[(.*)\]$", text, re.M)  # tomllib is Python 3.11+; this runs on 3.9 too
    assert sorted(re.split("[<>=;]", d)[0] for d in re.findall(r'"([^"]+)"', demo)) == ["pillow", "slicerio"]


def test_cli_demo(tmp_path, capsys):
    assert main(["demo", "-o", str(tmp_path / "out")]) == 0
    text = capsys.readouterr().out
    assert "Lung lesion" in text and "demo.seg.nrrd" in text
    assert (tmp_path / "out" / "demo.seg.nrrd").stat().st_size > 0
    assert (tmp_path / "out" / "demo_overview.png").stat().st_size > 0


# ---- bad input ------------------------------------------------------------------------------------
def _sample_copy(tmp_path: Path, prompts: dict | str) -> Path:
    folder = tmp_path / "sample"
    folder.mkdir()
    shutil.copy(SAMPLE_DIR / "lung2_crop.nrrd", folder)
    text = prompts if isinstance(prompts, str) else json.dumps(prompts)
    (folder / "prompts.json").write_text(text)
    return folder


def test_prompts_outside_the_volume_write_nothing(tmp_path):
    doc = json.loads((SAMPLE_DIR / "prompts.json").read_text())
    doc["keyframes"][1]["points"][0]["ras"][2] += 500.0  # 500 mm above the volume
    folder = _sample_copy(tmp_path, doc)
    out = tmp_path / "out"
    with pytest.raises(PromptError, match="outside the volume"):
        run_demo(out, sample_dir=folder)
    assert not out.exists() or not any(out.iterdir())
    assert main(["demo", "-o", str(out)]) == 0  # the shipped sample itself is fine


@pytest.mark.parametrize(
    "text, error, match",
    [
        ("{not json", FormatError, "not a JSON"),
        ('{"plane": "axial"}', FormatError, "keyframes"),
        ('{"keyframes": []}', PromptError, "empty"),
        ('{"keyframes": [{"points": []}]}', PromptError, "no points"),
        ('{"keyframes": [{"points": [{"ras": [1, 2]}]}]}', FormatError, "keyframe 0"),
        ('{"plane": "oblique", "keyframes": [{"points": [{"ras": [1, 2, 3]}]}]}', FormatError, "plane"),
    ],
)
def test_bad_prompt_files(tmp_path, text, error, match):
    path = tmp_path / "prompts.json"
    path.write_text(text)
    with pytest.raises(error, match=match) as info:
        load_prompts(path)
    assert "prompts.json" in str(info.value) or error is PromptError
