"""Quality-control pictures: a montage of slices with the mask outline, and per-slice confidence plots.

They let a user (or a reviewer of a batch) see at a glance where the segmentation is and how sure each
plane was, without opening Slicer. matplotlib runs with the non-interactive Agg backend.
"""

from __future__ import annotations

from SegAssistLib.errors import import_optional

import os
from pathlib import Path

import numpy as np

from SegAssistLib.io.atomic import atomic_output
from SegAssistLib.core.planes import PlaneView
from SegAssistLib.core.volume import Volume
from SegAssistLib.core.windowing import default_window


def _pyplot():
    matplotlib = import_optional("matplotlib", "qc", "QC pictures")

    matplotlib.use("Agg")
    plt = import_optional("matplotlib.pyplot", "qc", "QC pictures")

    return plt


def montage(
    volume: Volume,
    mask: np.ndarray,
    path: str | os.PathLike,
    plane: str = "axial",
    n_tiles: int = 12,
    disagreement: np.ndarray | None = None,
    title: str = "",
) -> Path:
    """Save a PNG grid of the slices of ``plane`` that hold the mask (evenly chosen), outline in yellow,
    cross-plane disagreement (if given) in red."""
    plt = _pyplot()
    view = PlaneView(volume, plane)
    occupied = [n for n in range(view.n_slices) if view.slice(n, mask).any()]
    if not occupied:
        occupied = [view.n_slices // 2]
    picks = sorted({occupied[int(round(i))] for i in np.linspace(0, len(occupied) - 1, min(n_tiles, len(occupied)))})
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
        ax.set_title(f"{plane} {n}", fontsize=8)
    fig.suptitle(title or f"{int(mask.sum())} voxels", fontsize=10)
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
    return Path(path)


def confidence_plot(confidence: dict[str, dict[int, float]], path: str | os.PathLike, title: str = "") -> Path:
    """Save a PNG line plot of per-slice confidence for each plane."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3))
    for plane, per_slice in confidence.items():
        if per_slice:
            xs = sorted(per_slice)
            ax.plot(xs, [per_slice[x] for x in xs], marker=".", label=plane)
    ax.set_xlabel("slice")
    ax.set_ylabel("confidence")
    ax.set_ylim(-0.05, 1.05)
    ax.legend(fontsize=8)
    ax.set_title(title or "per-slice confidence", fontsize=10)
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
    return Path(path)
