"""The montage drawn with Pillow: where its marks land, measured in the saved PNG.

A volume of one constant value windows to black, so the tile is exactly the picture's (0, 0, 0) pixels
(the background is dark grey, text is anti-aliased grey or colour, never pure black outside the tile):
from there every mark's position is checked against the slice pixels it stands for."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from SegAssistLib.core.planes import PlaneView
from SegAssistLib.core.volume import Volume
from SegAssistLib.evaluation import montage as mt

ROWS, COLS = slice(10, 20), slice(20, 35)  # the mask's square, display (row, col) on slice 1
POS, NEG = (30.0, 10.0), (5.0, 45.0)  # prompt points, display (row, col)


@pytest.fixture(scope="module")
def case():
    # i spacing 1 mm, j spacing 2 mm: an axial tile must be stretched twice as tall per row as wide per column
    volume = Volume(np.zeros((3, 40, 50), np.int16), np.diag([1.0, 2.0, 3.0, 1.0]))
    view = PlaneView(volume, "axial")
    assert view.slice_shape == (40, 50)
    mask = np.zeros(volume.shape, bool)
    square = np.zeros(view.slice_shape, bool)
    square[ROWS, COLS] = True
    view.write_slice(mask, 1, square)
    return volume, view, mask


def _picture(tmp_path, case, **kw):
    volume, _, mask = case
    path = mt.montage(volume, mask, tmp_path / "m.png", **kw)
    with Image.open(path) as im:
        assert im.format == "PNG"
        return np.asarray(im.convert("RGB")).astype(int)


def _tile(rgb):
    """The one tile's pixels (the key line above it has coloured text too)."""
    black = np.argwhere((rgb == 0).all(axis=-1))
    (y0, x0), (y1, x1) = black.min(0), black.max(0) + 1
    return rgb[y0:y1, x0:x1]


def _where(rgb, colour):
    return np.argwhere((rgb == np.array(colour)).all(axis=-1))  # (y, x) pairs


def test_tile_keeps_the_pixel_aspect_and_outline_sits_on_the_mask_edge(tmp_path, case):
    _, view, _ = case
    tile = _tile(_picture(tmp_path, case))
    w, h = mt.tile_size(view)
    assert tile.shape[:2] == (h, w) == (240, 150)  # 50 mm wide, 80 mm tall, longer side TILE
    sx, sy = w / 50, h / 40
    yellow = _where(tile, mt.OUTLINE)
    assert len(yellow) > 100
    top, left = yellow.min(0)
    bottom, right = yellow.max(0) + 1
    # the outline's box is the square's box in picture pixels (bilinear resampling: within 2 pixels)
    np.testing.assert_allclose([top, bottom, left, right],
                               [ROWS.start * sy, ROWS.stop * sy, COLS.start * sx, COLS.stop * sx], atol=2)
    # an outline, not a fill: every yellow pixel lies within 3 pixels of the box's border
    depth = np.minimum.reduce([yellow[:, 0] - top, bottom - 1 - yellow[:, 0], yellow[:, 1] - left, right - 1 - yellow[:, 1]])
    assert depth.max() <= 3


def test_prompt_marks_sit_on_their_pixels_and_letters_on_their_edges(tmp_path, case):
    _, view, _ = case
    prompts = {1: (np.array([POS, NEG]), np.array([1, 0]))}
    tile = _tile(_picture(tmp_path, case, prompts=prompts))
    w, h = mt.tile_size(view)
    sx, sy = w / 50, h / 40
    for colour, (r, c) in ((mt.POSITIVE, POS), (mt.NEGATIVE, NEG)):
        marks = _where(tile, colour)
        assert len(marks) > 10, f"no {colour} mark"
        np.testing.assert_allclose(marks.mean(0), [(r + 0.5) * sy, (c + 0.5) * sx], atol=1.5)
    cyan = _where(tile, mt.LETTER)
    letters = mt.screen_orientation(view)
    assert letters == {"left": "R", "right": "L", "top": "A", "bottom": "P"}
    zones = {"left": (cyan[:, 1] < 20) & (abs(cyan[:, 0] - h / 2) < 15),
             "right": (cyan[:, 1] > w - 20) & (abs(cyan[:, 0] - h / 2) < 15),
             "top": (cyan[:, 0] < 25) & (abs(cyan[:, 1] - w / 2) < 15),
             "bottom": (cyan[:, 0] > h - 25) & (abs(cyan[:, 1] - w / 2) < 15)}
    assert {k: bool(v.any()) for k, v in zones.items()} == dict.fromkeys(zones, True)
    assert len(cyan) == sum(int(v.sum()) for v in zones.values())  # and nowhere else


def test_disagreement_is_outlined_in_red_and_named_in_the_key(tmp_path, case):
    volume, view, mask = case
    other = np.zeros(volume.shape, bool)
    square = np.zeros(view.slice_shape, bool)
    square[25:35, 5:15] = True
    view.write_slice(other, 1, square)
    red = _where(_tile(_picture(tmp_path, case, disagreement=other)), mt.DISAGREE)
    assert len(red) > 50
    np.testing.assert_allclose(red.mean(0), [30 * 6, 10 * 3], atol=2)  # the other square's centre
    assert not _where(_tile(_picture(tmp_path, case)), mt.DISAGREE).size
    texts = [t for t, _ in mt.legend(1.0, 1, "axial", True, False)]
    assert "red outline: planes disagree" in texts and not any("prompt" in t for t in texts)


def test_key_gives_the_volume_in_ml_and_the_slice_count(case):
    volume, _, mask = case
    ml = mt.segmented_ml(volume, mask)
    assert ml == pytest.approx(150 * 6 / 1000)  # 10 x 15 voxels of 1 x 2 x 3 mm
    parts = mt.legend(ml, 1, "axial", False, True)
    assert parts[0] == ("0.9 ml in 1 axial slice", mt.TEXT)
    assert ("+ prompt inside", mt.POSITIVE) in parts and ("x prompt outside", mt.NEGATIVE) in parts
