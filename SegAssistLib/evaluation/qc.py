"""Quality-control pictures: a montage of slices with the mask outline, and per-slice confidence plots.

They let a user (or a reviewer of a batch) see at a glance where the segmentation is and how sure each
plane was, without opening Slicer. matplotlib runs with the non-interactive Agg backend.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from SegAssistLib.io.atomic import atomic_output
from SegAssistLib.core.planes import PlaneView
from SegAssistLib.core.volume import Volume
from SegAssistLib.core.windowing import default_window


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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


def confidence_plot(
    confidence: dict[str, dict[int, float]],
    path: str | os.PathLike,
    title: str = "",
    keyframes: dict[str, list[int]] | None = None,
    flagged: dict[str, list[int]] | None = None,
    review_first: list[tuple[str, int]] | None = None,
) -> Path:
    """Save a PNG of per-slice confidence, read the right way round: up is sure, down is "check me".

    Only slices the engine computed are drawn (no confident-looking points on empty slices); keyframes,
    slices the engine overruled (``flagged``) and the first slices of the review queue (numbered in the
    order to check them) are marked, and the legend says what each mark means."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.4))
    ax.axhspan(-0.05, 0.5, color="#f4cccc", alpha=0.5, lw=0, label="below 0.5: check these slices")
    markers = {"axial": "o", "coronal": "s", "sagittal": "^"}
    for plane, per_slice in confidence.items():
        if not per_slice:
            continue
        xs = sorted(per_slice)
        ys = [per_slice[x] for x in xs]
        ax.plot(xs, ys, marker=markers.get(plane, "."), ms=3, lw=1, label=f"{plane}: confidence per slice")
        keys = [x for x in (keyframes or {}).get(plane, []) if x in per_slice]
        if keys:
            ax.plot(keys, [per_slice[x] for x in keys], ls="none", marker="v", ms=7, mfc="none", mec="black",
                    label=f"{plane}: keyframe (your prompt or drawing)")
        bad = [x for x in (flagged or {}).get(plane, []) if x in per_slice]
        if bad:
            ax.plot(bad, [per_slice[x] for x in bad], ls="none", marker="x", ms=8, color="red",
                    label=f"{plane}: overruled (left the keyframes' band), interpolated")
    for rank, (plane, n) in enumerate(review_first or [], start=1):
        y = confidence.get(plane, {}).get(n)
        if y is not None:
            ax.annotate(str(rank), (n, y), xytext=(0, 7), textcoords="offset points", ha="center", fontsize=7,
                        color="darkred")
    ax.set_xlabel("slice index (numbers: review order, 1 = check first)")
    ax.set_ylabel("confidence (1 = sure)")
    ax.set_ylim(-0.05, 1.12)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.set_title(title or "per-slice confidence", fontsize=10)
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
    return Path(path)


def write_qc(volume: Volume, mask: np.ndarray, result, folder: str | os.PathLike, name: str,
             review_marks: int = 10) -> dict:
    """Write ``NAME_montage.png``, ``NAME_confidence.png`` and ``NAME_review.json`` (the engine result's
    :meth:`~SegAssistLib.engine.result.EngineResult.qc_summary`, slices most likely wrong first) into
    ``folder``; returns the review document."""
    from SegAssistLib.io.jsonfile import write_json

    folder = Path(folder)
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
    region = result.region
    disagree = region.expand(result.crop_disagreement > 0.5, False)  # bool: no full-grid float map
    montage(volume, mask, folder / f"{safe}_montage.png", disagreement=disagree, title=name)
    review = {"segment": name, **result.qc_summary()}
    keys = {p: [n for n, i in per.items() if i.kind in ("keyframe", "locked")] for p, per in result.slice_info.items()}
    flagged = {p: sorted(per) for p, per in result.flags.items()}
    first = [(i["plane"], i["slice"]) for i in review["review_queue"][:review_marks]]
    confidence_plot(result.confidence, folder / f"{safe}_confidence.png", title=name, keyframes=keys,
                    flagged=flagged, review_first=first)
    write_json(folder / f"{safe}_review.json", review)
    return review
