"""The demo: a real CT volume segmented from a stored set of prompts with the weight-free classical backend.

It needs no download and no GPU: the sample (a crop of pyradiomics' lung2 around its lesion, BSD-3) and
its prompts ship inside the package in ``SegAssistLib/data/sample``. The prompts are RAS points on a few
axial slices (keyframes), as Slicer markups give them; the classical backend turns each keyframe into a
mask and fills the slices between them in 3D. The result is written as ``demo.seg.nrrd`` (opens in
Slicer with name, colour and terminology) and ``demo_overview.png`` (the lesion's slices with the outline).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from SegAssistLib.backends.base import Backend
from SegAssistLib.errors import DependencyError, FormatError, PromptError
from SegAssistLib.core.planes import PlaneView, check_plane
from SegAssistLib.core.prompts import slice_prompt_from_ras
from SegAssistLib.core.segmentation import Code, Segment, Segmentation, Terminology
from SegAssistLib.core.volume import Volume

#: Folder of the shipped sample (volume, label, prompts, licence).
SAMPLE_DIR = Path(__file__).resolve().parent.parent / "data" / "sample"

#: Terminology of the demo's segment: a neoplasm, in Slicer's DICOM master list codes.
LESION_TERMINOLOGY = Terminology(
    category=Code("SCT", "49755003", "Morphologically Altered Structure"),
    type=Code("SCT", "108369006", "Neoplasm"),
    anatomic_region=Code("SCT", "39607008", "Lung"),
)


@dataclass
class PromptSet:
    """Stored prompts: per keyframe, RAS points with a positive flag; the plane and the segment they make."""

    plane: str
    keyframes: list[tuple[np.ndarray, np.ndarray]]  # (points (N, 3) RAS mm, labels (N,) 1/0)
    name: str = "Segment"
    color: tuple[float, float, float] = (0.87, 0.36, 0.29)
    volume: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def load_prompts(path: str | os.PathLike) -> PromptSet:
    """Read a prompts JSON file (see ``SegAssistLib/data/sample/prompts.json``); clear errors name the file."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text())
    except FileNotFoundError:
        raise FormatError(f"{p}: prompts file not found.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FormatError(f"{p}: not a JSON prompts file ({exc}).") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("keyframes"), list):
        raise FormatError(f"{p}: expected an object with a 'keyframes' list of {{'points': [...]}} entries.")
    keyframes = []
    for n, kf in enumerate(doc["keyframes"]):
        try:
            pts = np.array([pt["ras"] for pt in kf["points"]], dtype=float).reshape(-1, 3)
            labels = np.array([1 if pt.get("positive", True) else 0 for pt in kf["points"]], dtype=int)
        except (KeyError, TypeError, ValueError) as exc:
            raise FormatError(
                f"{p}: keyframe {n} is malformed ({exc}); each point needs 'ras': [R, A, S] and 'positive': true/false."
            ) from None
        if len(pts) == 0:
            raise PromptError(f"{p}: keyframe {n} has no points; give at least one positive point per keyframe.")
        keyframes.append((pts, labels))
    if not keyframes:
        raise PromptError(f"{p}: the prompt set is empty; add at least one keyframe with a positive point.")
    seg = doc.get("segment", {})
    try:
        plane = check_plane(doc.get("plane", "axial"))
    except ValueError as exc:
        raise FormatError(f"{p}: {exc}") from None
    return PromptSet(plane=plane, keyframes=keyframes, name=str(seg.get("name", "Segment")),
                     color=tuple(seg.get("color", (0.87, 0.36, 0.29))), volume=doc.get("volume"),
                     extra={k: v for k, v in doc.items() if k not in ("keyframes", "segment", "plane", "volume")})


def segment_prompt_set(volume: Volume, prompts: PromptSet, backend: Backend | None = None) -> np.ndarray:
    """3D bool (k, j, i) mask of ``volume`` from the keyframe prompts (default backend: classical)."""
    if backend is None:
        from SegAssistLib.backends.classical.backend import ClassicalBackend

        backend = ClassicalBackend()
    view = PlaneView(volume, prompts.plane)
    mask = np.zeros(volume.shape, dtype=bool)
    with backend.open_session(view) as session:
        for pts, labels in prompts.keyframes:
            n, prompt = slice_prompt_from_ras(view, pts, labels)
            session.add_prompt(n, prompt)
        for res in session.propagate("both"):
            view.write_slice(mask, res.slice_index, res.mask)
    return mask


@dataclass
class DemoResult:
    segmentation_path: Path
    overview_path: Path
    segmentation: Segmentation
    volume: Volume


def run_demo(outdir: str | os.PathLike, sample_dir: str | os.PathLike = SAMPLE_DIR,
             backend: Backend | None = None) -> DemoResult:
    """Segment the sample from its stored prompts; write ``demo.seg.nrrd`` and ``demo_overview.png``.

    Everything is computed before anything is written, and each file is written atomically.
    """
    from SegAssistLib.io.volumes import read_volume

    _require("slicerio", "PIL")
    sample_dir = Path(sample_dir)
    prompts = load_prompts(sample_dir / "prompts.json")
    volume = read_volume(sample_dir / (prompts.volume or "lung2_crop.nrrd"))
    mask = segment_prompt_set(volume, prompts, backend)
    if not mask.any():
        raise PromptError(f"The prompts in {sample_dir / 'prompts.json'} gave an empty segmentation.")
    seg = Segmentation.like(volume, source=str(sample_dir))
    seg.add_segment(Segment("Segment_1", prompts.name, prompts.color, LESION_TERMINOLOGY), mask)
    out = Path(outdir)
    seg_path = out / "demo.seg.nrrd"
    png_path = out / "demo_overview.png"
    write_seg_nrrd(seg, seg_path)
    from SegAssistLib.evaluation.montage import montage

    montage(volume, mask, png_path, plane=prompts.plane, prompts=prompt_pixels(volume, prompts),
            title=f"{prompts.name}: classical backend from {len(prompts.keyframes)} prompted slices")
    return DemoResult(seg_path, png_path, seg, volume)


def prompt_pixels(volume: Volume, prompts: PromptSet) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Each prompted slice's points in display (row, col), with their labels, for the overview picture."""
    view = PlaneView(volume, prompts.plane)
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for pts, labels in prompts.keyframes:
        pix = view.ras_to_pixel(np.asarray(pts, float))
        n = int(round(float(np.median(pix[:, 0]))))
        out[n] = (pix[:, 1:], np.asarray(labels))
    return out


def _require(*modules: str) -> None:
    """Fail before any work or output when a package the demo's writers need is missing."""
    import importlib.util

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise DependencyError(
            f"The demo writes a .seg.nrrd and a PNG, which need {', '.join(missing).replace('PIL', 'pillow')}: "
            "pip install 'segassist[demo]'."
        )


def write_seg_nrrd(segmentation: Segmentation, path: str | os.PathLike) -> Path:
    """Write a .seg.nrrd through the project's writer (:mod:`SegAssistLib.io.segmentation_files`)."""
    from SegAssistLib.io.segmentation_files import write_segmentation

    return write_segmentation(segmentation, path)[0]
