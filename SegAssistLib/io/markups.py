"""Prompts from Slicer markups files (``.mrk.json``): point lists and ROIs, in LPS or RAS as declared.

Conventions (documented in the README, shared with the Slicer panel):

* **Which segment.** A markup belongs to the segment named by its ``"name"`` field when present (SegAssist
  writes it; Slicer's own files leave it out), otherwise to the file's stem (``Tumor.mrk.json`` -> "Tumor").
* **Positive or negative.** A control point is negative (outside the object) when its label starts with
  ``-`` or its description contains "negative"/"exclude"; every other point is positive. In the panel,
  negative points are placed in a separate point list whose name ends with ``-`` or ``(negative)``; such a
  list makes all its points negative.
* **Boxes.** An ROI markup is a box prompt: its two opposite corners (centre +/- size/2 along its axes).

Coordinates are converted to RAS here; the file's declared ``coordinateSystem`` is trusted, and the
engine reports when points only make sense in the other system.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from SegAssistLib.core.planes import PLANES
from SegAssistLib.errors import FormatError
from SegAssistLib.io.jsonfile import read_json, write_json

_LPS_FLIP = np.array([-1.0, -1.0, 1.0])
SCHEMA = "https://raw.githubusercontent.com/slicer/slicer/main/Modules/Loadable/Markups/Resources/Schema/markups-schema-v1.0.3.json#"


@dataclass
class MarkupPrompt:
    """Prompts of one markup for one segment: RAS points with labels (1 positive, 0 negative) and/or a box."""

    segment_name: str
    points_ras: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    labels: np.ndarray = field(default_factory=lambda: np.zeros((0,), dtype=int))
    box_ras: tuple[np.ndarray, np.ndarray] | None = None
    source: str = ""
    #: Plane of the prompted slice ("axial", "coronal", "sagittal"), from an optional "plane" field.
    plane: str | None = None


def is_negative_list_name(name: str) -> bool:
    """True for point-list names that mark all their points negative ("Tumor -", "Tumor (negative)")."""
    n = name.strip().lower()
    return n.endswith("-") or n.endswith("(negative)")


def segment_name_of_list(name: str) -> str:
    """The segment a point list belongs to, without a negative marker."""
    n = name.strip()
    if n.lower().endswith("(negative)"):
        n = n[: -len("(negative)")]
    return n.rstrip(" -").strip() or name.strip()


def point_is_negative(label: str, description: str = "") -> bool:
    """True for a control point marked negative: label starting with '-', or description saying
    "negative" / "exclude"."""
    desc = (description or "").lower()
    return (label or "").strip().startswith("-") or "negative" in desc or "exclude" in desc


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and bool(np.isfinite(v))


def read_markups(source: str | os.PathLike | dict) -> list[MarkupPrompt]:
    """Read a ``.mrk.json`` file (or its parsed JSON) into one MarkupPrompt per markup."""
    if isinstance(source, dict):
        doc, where, stem = source, "<markups JSON>", "Segment_1"
    else:
        path = Path(source)
        where = str(path)
        stem = path.name.split(".")[0] or "Segment_1"
        doc = read_json(path, "markups JSON (save the markups from Slicer as .mrk.json)")
    if not isinstance(doc, dict) or not isinstance(doc.get("markups"), list) or not doc["markups"]:
        raise FormatError(f"{where}: no 'markups' list; is this a Slicer .mrk.json file?")
    from SegAssistLib.io.jsonfile import malformed

    prompts = []
    for index, markup in enumerate(doc["markups"]):
        if not isinstance(markup, dict):
            raise FormatError(f"{where}: markup {index} is not an object; is this a Slicer .mrk.json file?")
        with malformed(f"{where}, markup {index}", "Slicer markup"):
            prompts.append(_read_one(markup, where, index, stem))
    return prompts


def _read_one(markup: dict[str, Any], where: str, index: int, stem: str) -> MarkupPrompt:
    kind = str(markup.get("type", ""))
    system = str(markup.get("coordinateSystem", "LPS")).upper()
    if system not in ("LPS", "RAS"):
        raise FormatError(f"{where}: markup {index} has coordinateSystem {system!r}; only LPS and RAS exist.")
    units = str(markup.get("coordinateUnits", "mm"))
    if units != "mm":
        raise FormatError(f"{where}: markup {index} uses {units!r}; SegAssist expects millimetres.")
    flip = _LPS_FLIP if system == "LPS" else np.ones(3)
    plane = markup.get("plane")
    if plane is not None and str(plane).lower() not in PLANES:
        raise FormatError(f"{where}: markup {index} has plane {plane!r}; use {', '.join(PLANES)}.")
    plane = str(plane).lower() if plane else None
    name = str(markup.get("name") or stem)
    negative_list = is_negative_list_name(name)
    segment = segment_name_of_list(name)
    if kind in ("Fiducial", "PointList"):
        points, labels = [], []
        for cp in markup.get("controlPoints", []):
            if not isinstance(cp, dict):
                raise FormatError(f"{where}: markup {index} has a control point that is not an object.")
            if cp.get("positionStatus", "defined") != "defined":
                continue
            pos = cp.get("position")
            if not (isinstance(pos, list) and len(pos) == 3 and all(_is_number(v) for v in pos)):
                raise FormatError(f"{where}: control point {cp.get('label', '?')} has no 3D position of three finite "
                                  "numbers.")
            points.append(np.asarray(pos, dtype=float) * flip)
            labels.append(0 if negative_list or point_is_negative(str(cp.get("label", "")), str(cp.get("description", ""))) else 1)
        if not points:
            raise FormatError(f"{where}: point list {name!r} has no placed points.")
        return MarkupPrompt(segment, np.array(points), np.array(labels, dtype=int), None, where, plane)
    if kind == "ROI":
        try:
            center = np.asarray(markup["center"], dtype=float)
            size = np.asarray(markup["size"], dtype=float)
            axes = np.asarray(markup.get("orientation", np.eye(3).ravel()), dtype=float).reshape(3, 3)
        except (KeyError, ValueError) as exc:
            raise FormatError(f"{where}: ROI {name!r} lacks a valid center/size/orientation ({exc}).") from None
        if not (np.isfinite(center).all() and np.isfinite(size).all() and np.isfinite(axes).all()):
            raise FormatError(f"{where}: ROI {name!r} has a non-finite center, size or orientation.")
        if np.any(size < 0):
            raise FormatError(f"{where}: ROI {name!r} has a negative size {size.tolist()}.")
        half = axes @ (size / 2.0)  # orientation columns are the ROI axes in the file's system
        c1, c2 = (center - half) * flip, (center + half) * flip
        return MarkupPrompt(segment, box_ras=(c1, c2), source=where, plane=plane)
    raise FormatError(f"{where}: markup type {kind!r} is not a prompt; use point lists or ROIs.")


def write_markups(path: str | os.PathLike, prompt: MarkupPrompt, coordinate_system: str = "LPS") -> Path:
    """Write one prompt as a Slicer-readable ``.mrk.json`` (points as a point list, else the box as an ROI)."""
    flip = _LPS_FLIP if coordinate_system == "LPS" else np.ones(3)
    if len(prompt.points_ras):
        markup: dict[str, Any] = {
            "type": "Fiducial",
            "name": prompt.segment_name,
            **({"plane": prompt.plane} if prompt.plane else {}),
            "coordinateSystem": coordinate_system,
            "coordinateUnits": "mm",
            "controlPoints": [
                {
                    "id": str(n + 1),
                    "label": ("-" if lab == 0 else "") + f"{prompt.segment_name}-{n + 1}",
                    "description": "negative" if lab == 0 else "",
                    "position": (np.asarray(p) * flip).tolist(),
                    "positionStatus": "defined",
                }
                for n, (p, lab) in enumerate(zip(prompt.points_ras, prompt.labels))
            ],
        }
    elif prompt.box_ras is not None:
        c1, c2 = (np.asarray(c) * flip for c in prompt.box_ras)
        markup = {
            "type": "ROI",
            "name": prompt.segment_name,
            **({"plane": prompt.plane} if prompt.plane else {}),
            "coordinateSystem": coordinate_system,
            "coordinateUnits": "mm",
            "roiType": "Box",
            "center": ((c1 + c2) / 2).tolist(),
            "size": np.abs(c2 - c1).tolist(),
            "orientation": np.eye(3).ravel().tolist(),
            "controlPoints": [],
        }
    else:
        raise FormatError("Nothing to write: the prompt has neither points nor a box.")
    return write_json(path, {"@schema": SCHEMA, "markups": [markup]})
