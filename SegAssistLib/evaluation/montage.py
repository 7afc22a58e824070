"""The montage: a PNG grid of a segmentation's slices with the mask outline, prompt marks, orientation
letters, a scale bar and the segmented volume in ml.

Drawn with Pillow alone (no matplotlib): it is the demo's picture, and the demo's install stays small
(matplotlib with fontTools, kiwisolver and contourpy is about 60 MB). Outlines are the edge of the mask
resampled (bilinear, threshold 0.5) to the tile's pixels, so they follow the voxels like a contour line.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from scipy import ndimage

from SegAssistLib.core.planes import PlaneView
from SegAssistLib.core.volume import Volume
from SegAssistLib.core.windowing import default_window
from SegAssistLib.errors import import_optional
from SegAssistLib.io.atomic import atomic_output

TILE = 240  # longer side of a tile's image, in picture pixels
PAD = 12  # gap between tiles and around the picture
BACKGROUND = (24, 24, 24)  # dark, as in Slicer's slice views: the coloured marks and letters stay readable
TEXT = (235, 235, 235)
OUTLINE = (255, 255, 0)  # the mask's edge
DISAGREE = (255, 60, 60)  # where the planes disagree
POSITIVE = (0, 255, 0)  # + : a point inside
NEGATIVE = (255, 40, 40)  # x : a point outside
LETTER = (0, 255, 255)

_LETTERS = (("L", "R"), ("P", "A"), ("I", "S"))  # negative / positive end of RAS x, y, z


def screen_orientation(view: PlaneView) -> dict[str, str]:
    """Anatomical letters at the edges of a displayed slice: {"left", "right", "top", "bottom"} -> R/L/A/P/S/I.

    Computed from the view's own pixel -> RAS mapping, so it is right for any direction matrix."""
    origin = view.pixel_to_ras(0, np.array([0.0]), np.array([0.0]))[0]
    along_col = view.pixel_to_ras(0, np.array([0.0]), np.array([1.0]))[0] - origin
    along_row = view.pixel_to_ras(0, np.array([1.0]), np.array([0.0]))[0] - origin

    def ends(d: np.ndarray) -> tuple[str, str]:
        axis = int(np.argmax(np.abs(d)))
        neg, pos = _LETTERS[axis]
        return (neg, pos) if d[axis] > 0 else (pos, neg)

    left, right = ends(along_col)
    top, bottom = ends(along_row)
    return {"left": left, "right": right, "top": top, "bottom": bottom}


def tile_size(view: PlaneView) -> tuple[int, int]:
    """(width, height) in picture pixels of one slice's image: the longer side :data:`TILE`, the pixel
    spacing's aspect kept (a coronal view of thick slices is stretched as in Slicer)."""
    rows, cols = view.slice_shape
    height_mm, width_mm = rows * view.pixel_spacing[0], cols * view.pixel_spacing[1]
    s = TILE / max(height_mm, width_mm)
    return max(1, round(width_mm * s)), max(1, round(height_mm * s))


def edge(mask2d: np.ndarray, size: tuple[int, int], width: int = 2) -> np.ndarray:
    """Bool (height, width) picture pixels on the inner edge of ``mask2d`` resampled to ``size``."""
    from PIL import Image

    up = np.asarray(Image.fromarray(mask2d.astype(np.float32), "F").resize(size, Image.BILINEAR)) >= 0.5
    return up & ~ndimage.binary_erosion(up, iterations=width, border_value=0)


def _font(size: int):
    ImageFont = import_optional("PIL.ImageFont", "qc", "QC pictures")
    try:
        return ImageFont.load_default(size=size)  # Pillow >= 10.1: a scalable font
    except TypeError:  # older Pillow: its small bitmap font
        return ImageFont.load_default()


def _mark(draw, x: float, y: float, positive: bool, r: int = 6) -> None:
    """A + (inside) or x (outside) centred on (x, y), with a dark halo that keeps it visible on any tissue."""
    if positive:
        segments = [((x - r, y), (x + r, y)), ((x, y - r), (x, y + r))]
    else:
        segments = [((x - r, y - r), (x + r, y + r)), ((x - r, y + r), (x + r, y - r))]
    for colour, w in (((0, 0, 0), 5), (POSITIVE if positive else NEGATIVE, 2)):
        for a, b in segments:
            draw.line([a, b], fill=colour, width=w)


def _scale_bar_mm(width_mm: float) -> int:
    """The longest of 1, 2, 5, 10, 20, 50, 100, 200 mm that fits in a third of the tile."""
    fits = [mm for mm in (1, 2, 5, 10, 20, 50, 100, 200) if mm <= width_mm / 3]
    return fits[-1] if fits else 0


def segmented_ml(volume: Volume, mask: np.ndarray) -> float:
    """Volume of ``mask`` in millilitres (voxel count x voxel volume in mm^3 / 1000)."""
    return float(np.count_nonzero(mask)) * float(np.prod(volume.spacing)) / 1000.0


def legend(volume_ml: float, n_slices: int, plane: str, disagreement: bool, prompts: bool) -> list[tuple[str, tuple]]:
    """The montage's key line as (text, colour) parts: the volume, then each mark in its own colour."""
    parts = [(f"{volume_ml:.1f} ml in {n_slices} {plane} slice" + ("" if n_slices == 1 else "s"), TEXT), ("yellow outline: segmentation", OUTLINE)]
    if disagreement:
        parts.append(("red outline: planes disagree", DISAGREE))
    if prompts:
        parts += [("+ prompt inside", POSITIVE), ("x prompt outside", NEGATIVE)]
    return parts


def montage(
    volume: Volume,
    mask: np.ndarray,
    path: str | os.PathLike,
    plane: str = "axial",
    n_tiles: int = 12,
    disagreement: np.ndarray | None = None,
    title: str = "",
    prompts: dict[int, tuple[np.ndarray, np.ndarray]] | None = None,
) -> Path:
    """Save a PNG grid of the slices of ``plane`` that hold the mask (evenly chosen), outline in yellow,
    cross-plane disagreement (if given) in red.

    ``prompts`` maps a slice index to its prompt points (display (row, col), shape (N, 2)) and labels (1
    positive, 0 negative): those slices are always shown, captioned "prompted", with + (green, positive)
    and x (red, negative) marks. Every tile carries the anatomical letters of its edges (R/L, A/P, S/I);
    the first one a scale bar; the title gives the segmented volume in ml and what each colour means."""
    Image = import_optional("PIL.Image", "qc", "QC pictures")
    ImageDraw = import_optional("PIL.ImageDraw", "qc", "QC pictures")
    view = PlaneView(volume, plane)
    occupied = [n for n in range(view.n_slices) if view.slice(n, mask).any()]
    if not occupied:
        occupied = [view.n_slices // 2]
    prompts = prompts or {}
    picks = sorted({occupied[int(round(i))] for i in np.linspace(0, len(occupied) - 1, min(n_tiles, len(occupied)))}
                   | set(prompts))
    letters = screen_orientation(view)
    volume_ml = segmented_ml(volume, mask)
    window = default_window(volume.array, volume.metadata.get("modality"))
    disagree_any = disagreement is not None and bool((np.asarray(disagreement) > 0.5).any())

    title_font, caption_font, letter_font = _font(16), _font(12), _font(13)
    parts = legend(volume_ml, len(occupied) if mask.any() else 0, plane, disagree_any, bool(prompts))
    w, h = tile_size(view)
    cols = min(4, len(picks))
    rows = int(np.ceil(len(picks) / cols))
    caption_h, line_h = 18, 22
    top = PAD + (line_h if title else 0) + line_h + PAD // 2
    picture = Image.new("RGB", (PAD + cols * (w + PAD), top + rows * (caption_h + h + PAD)), BACKGROUND)
    draw = ImageDraw.Draw(picture)
    if title:
        draw.text((picture.width / 2, PAD), title, fill=TEXT, font=title_font, anchor="ma")
    x = PAD
    for text, colour in parts:  # one line, each part in the colour it explains
        draw.text((x, PAD + (line_h if title else 0)), text, fill=colour, font=caption_font)
        x += draw.textlength(text + "    ", font=caption_font)

    sx, sy = w / view.slice_shape[1], h / view.slice_shape[0]  # picture pixels per slice pixel
    for t, n in enumerate(picks):
        x0 = PAD + (t % cols) * (w + PAD)
        y0 = top + (t // cols) * (caption_h + h + PAD) + caption_h
        draw.text((x0 + w / 2, y0 - 3), f"{plane} {n}" + (" (prompted)" if n in prompts else ""),
                  fill=TEXT, font=caption_font, anchor="md")
        grey = window.to_uint8(view.slice(n))
        tile = np.array(Image.fromarray(grey, "L").resize((w, h), Image.BILINEAR).convert("RGB"))
        m = view.slice(n, mask)
        if m.any():
            tile[edge(m, (w, h))] = OUTLINE
        if disagreement is not None:
            d = view.slice(n, disagreement) > 0.5
            if d.any():
                tile[edge(d, (w, h), width=1)] = DISAGREE
        picture.paste(Image.fromarray(tile), (x0, y0))
        if n in prompts:
            pts, labels = (np.asarray(a) for a in prompts[n])
            for (r, c), lab in zip(pts.reshape(-1, 2), labels.reshape(-1)):
                # slice pixel (r, c) covers [c, c+1) x [r, r+1) in slice pixels: its centre is at + 0.5
                _mark(draw, x0 + (float(c) + 0.5) * sx, y0 + (float(r) + 0.5) * sy, bool(lab))
        for where, (px, py, anchor) in {"left": (x0 + 3, y0 + h / 2, "lm"), "right": (x0 + w - 3, y0 + h / 2, "rm"),
                                        "top": (x0 + w / 2, y0 + 3, "ma"),
                                        "bottom": (x0 + w / 2, y0 + h - 3, "md")}.items():
            draw.text((px, py), letters[where], fill=LETTER, font=letter_font, anchor=anchor,
                      stroke_width=2, stroke_fill=(0, 0, 0))
        bar_mm = _scale_bar_mm(view.slice_shape[1] * view.pixel_spacing[1]) if t == 0 else 0
        if bar_mm:
            length = bar_mm / view.pixel_spacing[1] * sx
            bx, by = x0 + 6, y0 + h - 8
            draw.line([(bx, by), (bx + length, by)], fill=(0, 0, 0), width=5)
            draw.line([(bx, by), (bx + length, by)], fill=(255, 255, 255), width=3)
            draw.text((bx, by - 4), f"{bar_mm} mm", fill=(255, 255, 255), font=caption_font, anchor="ld",
                      stroke_width=2, stroke_fill=(0, 0, 0))
    with atomic_output(path) as tmp:
        picture.save(tmp, format="PNG")
    return Path(path)
