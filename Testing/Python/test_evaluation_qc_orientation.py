"""The demo picture's marks: anatomical letters at the tile edges (from the view's own geometry) and the
prompted slices with their points, on the shipped sample CT and on a volume whose j axis is flipped."""

from __future__ import annotations

import numpy as np

from SegAssistLib.core.planes import PlaneView
from SegAssistLib.core.volume import Volume
from SegAssistLib.evaluation.montage import screen_orientation
from SegAssistLib.io.volumes import read_volume
from SegAssistLib.operations.demo import SAMPLE_DIR, load_prompts, prompt_pixels


def test_axial_view_of_the_sample_reads_like_slicer():
    volume = read_volume(SAMPLE_DIR / "lung2_crop.nrrd")
    assert screen_orientation(PlaneView(volume, "axial")) == {"left": "R", "right": "L", "top": "A", "bottom": "P"}
    assert screen_orientation(PlaneView(volume, "coronal")) == {"left": "R", "right": "L", "top": "S", "bottom": "I"}


def test_letters_follow_the_direction_matrix_not_the_array():
    m = np.diag([-1.0, 1.0, 1.0, 1.0])  # i runs towards L: an unusual storage, displayed the same way
    volume = Volume(np.zeros((3, 4, 5), np.int16), m)
    view = PlaneView(volume, "axial")
    letters = screen_orientation(view)
    assert letters["left"] == "R" and letters["right"] == "L"
    # and the letters agree with where the RAS coordinates actually go on screen
    left = view.pixel_to_ras(0, np.array([0.0]), np.array([0.0]))[0]
    right = view.pixel_to_ras(0, np.array([0.0]), np.array([4.0]))[0]
    assert left[0] > right[0]


def test_prompted_slices_are_the_keyframes_slices():
    volume = read_volume(SAMPLE_DIR / "lung2_crop.nrrd")
    prompts = load_prompts(SAMPLE_DIR / "prompts.json")
    marks = prompt_pixels(volume, prompts)
    view = PlaneView(volume, "axial")
    assert len(marks) == len(prompts.keyframes)
    for (pts, labels), n in zip(prompts.keyframes, sorted(marks)):
        expect = view.ras_to_pixel(np.asarray(pts, float))
        assert round(float(expect[0, 0])) == n
        np.testing.assert_allclose(marks[n][0], expect[:, 1:])
        np.testing.assert_array_equal(marks[n][1], labels)


def test_confidence_plot_handles_an_empty_plane_and_writes_a_png(tmp_path):
    from PIL import Image

    from SegAssistLib.evaluation.qc import confidence_plot

    path = confidence_plot({"axial": {0: 0.9, 1: 0.2, 2: 0.95}, "coronal": {}}, tmp_path / "c.png", title="t")
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size[0] > 400
    assert [p.name for p in tmp_path.iterdir()] == ["c.png"]  # atomic: no temporary left
