"""Quality-control pictures: a montage of slices with the mask outline, and per-slice confidence plots.

They let a user (or a reviewer of a batch) see at a glance where the segmentation is and how sure each
plane was, without opening Slicer. matplotlib runs with the non-interactive Agg backend.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from SegAssistLib.errors import import_optional
from SegAssistLib.io.atomic import atomic_output
from SegAssistLib.core.planes import PlaneView
from SegAssistLib.core.volume import Volume
from SegAssistLib.core.windowing import default_window


def _pyplot():
    matplotlib = import_optional("matplotlib", "qc", "QC pictures")

    matplotlib.use("Agg")
    return import_optional("matplotlib.pyplot", "qc", "QC pictures")


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
    positive, 0 negative): those slices are always shown, titled "prompted", with + (green, positive) and
    x (red, negative) marks. Every tile carries the anatomical letters of its edges (R/L, A/P, S/I); the
    title gives the segmented volume in ml."""
    plt = _pyplot()
    view = PlaneView(volume, plane)
    occupied = [n for n in range(view.n_slices) if view.slice(n, mask).any()]
    if not occupied:
        occupied = [view.n_slices // 2]
    prompts = prompts or {}
    picks = sorted({occupied[int(round(i))] for i in np.linspace(0, len(occupied) - 1, min(n_tiles, len(occupied)))}
                   | set(prompts))
    letters = screen_orientation(view)
    volume_ml = float(mask.sum()) * float(np.prod(volume.spacing)) / 1000.0
    window = default_window(volume.array, volume.metadata.get("modality"))
    cols = min(4, len(picks))
    rows = int(np.ceil(len(picks) / cols))
    aspect = view.pixel_spacing[0] / view.pixel_spacing[1]
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, n in zip(axes.ravel(), picks):
        ax.imshow(window.to_float(view.slice(n)), cmap="gray", aspect=aspect, vmin=0, vmax=1)
        m = view.slice(n, mask)
        if m.any():
            ax.contour(m.astype(float), levels=[0.5], colors="yellow", linewidths=0.8)
        if disagreement is not None:
            d = view.slice(n, disagreement)
            if (d > 0.5).any():
                ax.contour((d > 0.5).astype(float), levels=[0.5], colors="red", linewidths=0.6)
        if n in prompts:
            pts, labels = (np.asarray(a) for a in prompts[n])
            for lab, marker, colour in ((1, "+", "lime"), (0, "x", "red")):
                sel = labels == lab
                if sel.any():
                    ax.scatter(pts[sel, 1], pts[sel, 0], marker=marker, c=colour, s=40, linewidths=1.5)
        for where, (x, y, ha, va) in {"left": (0.02, 0.5, "left", "center"), "right": (0.98, 0.5, "right", "center"),
                                      "top": (0.5, 0.98, "center", "top"),
                                      "bottom": (0.5, 0.02, "center", "bottom")}.items():
            ax.text(x, y, letters[where], transform=ax.transAxes, ha=ha, va=va, color="cyan", fontsize=8)
        ax.set_title(f"{plane} {n}" + (" (prompted)" if n in prompts else ""), fontsize=8)
    legend = f"{volume_ml:.1f} ml; outline yellow" + ("; prompts + inside, x outside" if prompts else "")
    fig.suptitle(f"{title}\n{legend}" if title else legend, fontsize=10)
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
    return Path(path)


def confidence_plot(confidence: dict[str, dict[int, float]], path: str | os.PathLike, title: str = "",
                    low: float = 0.5) -> Path:
    """Save a PNG line plot of per-slice confidence for each plane, readable without this docstring.

    The axes say what they are (the backend's own score per slice, 0-1: SAM 2's predicted IoU or object
    presence, the classical backend's edge/contrast score), slices below ``low`` are marked and counted in the
    caption as the ones to review first, and a plane with no slices is named as such."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    weak_total = 0
    for plane, per_slice in confidence.items():
        if per_slice:
            xs = sorted(per_slice)
            ys = [per_slice[x] for x in xs]
            line, = ax.plot(xs, ys, marker=".", label=f"{plane} ({len(xs)} slices)")
            weak = [(x, y) for x, y in zip(xs, ys) if y < low]
            weak_total += len(weak)
            if weak:
                ax.scatter(*zip(*weak), marker="o", s=60, facecolors="none", edgecolors="red")
        else:
            ax.plot([], [], label=f"{plane} (no slices)")
    ax.axhline(low, color="red", linestyle=":", linewidth=0.8)
    ax.set_xlabel("slice index along the plane")
    ax.set_ylabel("backend's score (0-1)")
    ax.set_ylim(-0.05, 1.05)
    ax.legend(fontsize=8)
    ax.set_title(title or "per-slice confidence", fontsize=10)
    fig.text(0.01, 0.01, f"Higher is surer. Circled: {weak_total} slice(s) below {low:g}; review those first.",
             fontsize=7)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
    return Path(path)
