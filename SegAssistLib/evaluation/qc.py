"""Quality-control pictures: a montage of slices with the mask outline, and per-slice confidence plots.

They let a user (or a reviewer of a batch) see at a glance where the segmentation is and how sure each
plane was, without opening Slicer. The montage is drawn with Pillow (:mod:`SegAssistLib.evaluation.montage`,
also the demo's picture); the confidence plot is a chart, drawn by matplotlib with the non-interactive Agg
backend, imported only when a plot is drawn.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from SegAssistLib.core.volume import Volume
from SegAssistLib.errors import import_optional
from SegAssistLib.evaluation.montage import montage, screen_orientation  # noqa: F401  (re-exported)
from SegAssistLib.io.atomic import atomic_output


def require_qc() -> None:
    """Fail before any computing when a package the QC pictures need is missing (Pillow for the montage,
    matplotlib for the confidence plot), naming the extra that brings them: no segmentation is computed
    and then left without the pictures asked for."""
    import importlib.util

    from SegAssistLib.errors import DependencyError

    missing = [pip for module, pip in (("PIL", "pillow"), ("matplotlib", "matplotlib"))
               if importlib.util.find_spec(module) is None]
    if missing:
        raise DependencyError(
            f"QC pictures (--qc) need {' and '.join(repr(m) for m in missing)}, not installed. "
            "Install the extra: pip install 'segassist[qc]' (or pip install -e '.[qc]' in a checkout)."
        )


def _pyplot():
    matplotlib = import_optional("matplotlib", "qc", "QC pictures")

    matplotlib.use("Agg")
    return import_optional("matplotlib.pyplot", "qc", "QC pictures")


def confidence_plot(
    confidence: dict[str, dict[int, float]],
    path: str | os.PathLike,
    title: str = "",
    low: float = 0.5,
    keyframes: dict[str, list[int]] | None = None,
    flagged: dict[str, list[int]] | None = None,
    review_first: list[tuple[str, int]] | None = None,
) -> Path:
    """Save a PNG of per-slice confidence, readable without this docstring: up is sure, down is "check me".

    Only slices the engine computed are drawn (no confident-looking points on empty slices); slices below
    ``low`` are circled and counted in the caption, a plane with no slices is named as such; keyframes,
    slices the engine overruled (``flagged``) and the first slices of the review queue (numbered in the
    order to check them) are marked, and the legend says what each mark means."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    ax.axhspan(-0.05, low, color="#f4cccc", alpha=0.5, lw=0, label=f"below {low:g}: check these slices")
    markers = {"axial": "o", "coronal": "s", "sagittal": "^"}
    weak_total = 0
    for plane, per_slice in confidence.items():
        if not per_slice:
            ax.plot([], [], label=f"{plane} (no slices)")
            continue
        xs = sorted(per_slice)
        ys = [per_slice[x] for x in xs]
        ax.plot(xs, ys, marker=markers.get(plane, "."), ms=3, lw=1, label=f"{plane}: confidence ({len(xs)} slices)")
        weak = [(x, y) for x, y in zip(xs, ys) if y < low]
        weak_total += len(weak)
        if weak:
            ax.scatter(*zip(*weak), marker="o", s=60, facecolors="none", edgecolors="red")
        keys = [x for x in (keyframes or {}).get(plane, []) if x in per_slice]
        if keys:
            ax.plot(keys, [per_slice[x] for x in keys], ls="none", marker="v", ms=7, mfc="none", mec="black",
                    label=f"{plane}: keyframe (your prompt or drawing)")
        bad = [x for x in (flagged or {}).get(plane, []) if x in per_slice]
        if bad:
            ax.plot(bad, [per_slice[x] for x in bad], ls="none", marker="x", ms=8, color="red",
                    label=f"{plane}: overruled by the engine's guards (left the keyframes' band, or filled from them)")
    for rank, (plane, n) in enumerate(review_first or [], start=1):
        y = confidence.get(plane, {}).get(n)
        if y is not None:
            ax.annotate(str(rank), (n, y), xytext=(0, 7), textcoords="offset points", ha="center", fontsize=7,
                        color="darkred")
    ax.set_xlabel("slice index along the plane (numbers: review order, 1 = check first)")
    ax.set_ylabel("confidence (0-1, 1 = sure)")
    ax.set_ylim(-0.05, 1.12)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.set_title(title or "per-slice confidence", fontsize=10)
    fig.text(0.01, 0.01, f"Higher is surer. Circled: {weak_total} slice(s) below {low:g}; review those first.",
             fontsize=7)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
    return Path(path)


def write_qc(volume: Volume, mask: np.ndarray, result, folder: str | os.PathLike, name: str,
             review_marks: int = 10) -> dict:
    """Write ``NAME_montage.png``, ``NAME_confidence.png`` and ``NAME_review.json`` (the engine result's
    :meth:`~SegAssistLib.engine.result.EngineResult.qc_summary`, slices most likely wrong first) into
    ``folder``; returns the review document."""
    from SegAssistLib.engine.result import WEAK_EDGE
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
    # The engine's confidence is the written contour's edge agreement: circle what the review reasons call weak.
    confidence_plot(result.confidence, folder / f"{safe}_confidence.png", title=name, low=WEAK_EDGE, keyframes=keys,
                    flagged=flagged, review_first=first)
    write_json(folder / f"{safe}_review.json", review)
    return review
