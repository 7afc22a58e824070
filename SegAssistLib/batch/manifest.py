"""Batch manifests: one row per case, read from CSV or JSON and checked before anything runs.

A case is one operation on one volume that writes one segmentation file:

==============  ===========================================================  =============================
operation       inputs                                                       output
==============  ===========================================================  =============================
``segment``     ``volume`` + ``prompts`` (Slicer ``.mrk.json`` files)          segmentation (.seg.nrrd, ...)
``interpolate`` ``volume`` + ``keyframes`` (labelmap with some slices drawn)  the filled segmentation
``convert``     ``segmentation`` (any readable format), ``volume`` optional   the same in another format
==============  ===========================================================  =============================

Optional columns: ``backend`` (segment; default classical), ``plane`` (segment: plane of the prompted
slices, default axial; interpolate: default auto), ``method`` (interpolate).

CSV: a header row with these column names; several prompt files go in one cell separated by ``;``.
JSON: a list of objects, or ``{"cases": [...]}``; ``prompts`` may be a list or a ``;``-separated string.
Relative input paths are relative to the manifest's folder. Outputs must be relative to ``output_dir``
(default: the manifest's folder) and stay inside it (no absolute path, no ``..``); no output may be an input
or the manifest itself. Whole-manifest mistakes (unknown operation or column, missing field, duplicate case
or output) raise :class:`ManifestError` before any case runs; a missing or broken input file fails only
its own case, when it runs.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from SegAssistLib.core.planes import PLANES
from SegAssistLib.errors import ManifestError, SegAssistError

OPERATIONS = ("segment", "interpolate", "convert")
COLUMNS = ("case", "operation", "volume", "prompts", "keyframes", "segmentation", "output", "backend", "plane",
           "method")
#: Fields each operation needs besides ``case``, ``operation`` and ``output``.
REQUIRED = {"segment": ("volume", "prompts"), "interpolate": ("volume", "keyframes"), "convert": ("segmentation",)}
#: Fields that have no meaning for an operation (given anyway, they are a mistake worth reporting).
NOT_USED = {
    "segment": ("keyframes", "segmentation", "method"),
    "interpolate": ("prompts", "segmentation", "backend"),
    "convert": ("prompts", "keyframes", "backend", "plane", "method"),
}


@dataclass(frozen=True)
class CaseSpec:
    """One checked case with absolute paths, ready to send to any worker that sees the same file system."""

    case: str
    operation: str
    output: str
    volume: str | None = None
    prompts: tuple[str, ...] = ()
    keyframes: str | None = None
    segmentation: str | None = None
    backend: str = "classical"
    plane: str | None = None
    method: str | None = None
    #: Where the row came from ("manifest.csv row 3"), for error messages.
    where: str = field(default="", compare=False)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["prompts"] = list(self.prompts)
        return d


def _text(value: Any) -> str | None:
    if value is None:
        return None
    s = str(value).strip()
    return s or None


def _resolve(path: str, base: Path) -> str:
    p = Path(os.path.expanduser(path))
    return str((p if p.is_absolute() else base / p).resolve())


def case_from_row(row: Mapping[str, Any], base_dir: Path, output_dir: Path, where: str) -> CaseSpec:
    """Check one manifest row and resolve its paths; raises :class:`ManifestError` saying what to fix."""
    unknown = sorted(set(row) - set(COLUMNS))
    if unknown:
        raise ManifestError(f"{where}: unknown field(s) {unknown}. Known fields: {', '.join(COLUMNS)}.")
    values = {k: row.get(k) for k in COLUMNS}
    prompts_raw = values.pop("prompts")
    if isinstance(prompts_raw, (list, tuple)):
        prompts = [p for p in (_text(x) for x in prompts_raw) if p]
    else:
        prompts = [p for p in (_text(x) for x in (_text(prompts_raw) or "").split(";")) if p]
    v = {k: _text(x) for k, x in values.items()}
    case, op = v["case"], (v["operation"] or "").lower()
    if not case:
        raise ManifestError(f"{where}: the 'case' field is empty; give every case a unique name.")
    where = f"{where} (case {case!r})"
    if op not in OPERATIONS:
        raise ManifestError(f"{where}: operation {v['operation']!r} is not one of {', '.join(OPERATIONS)}.")
    if not v["output"]:
        raise ManifestError(f"{where}: the 'output' field is empty; name the segmentation file to write.")
    present = {**v, "prompts": prompts or None}
    missing = [k for k in REQUIRED[op] if not present.get(k)]
    if missing:
        raise ManifestError(f"{where}: operation {op!r} needs the field(s) {missing}.")
    stray = [k for k in NOT_USED[op] if present.get(k)]
    if stray:
        raise ManifestError(f"{where}: field(s) {stray} do not apply to operation {op!r}; remove them.")
    if v["plane"] and v["plane"].lower() not in PLANES + (("auto",) if op == "interpolate" else ()):
        raise ManifestError(f"{where}: plane {v['plane']!r} is not one of {', '.join(PLANES)}"
                            + (" or auto." if op == "interpolate" else "."))
    if op == "interpolate" and v["method"]:
        from SegAssistLib.interpolation import METHODS

        if v["method"] not in METHODS:
            raise ManifestError(f"{where}: interpolation method {v['method']!r} is not one of {', '.join(METHODS)}.")
    from SegAssistLib.io.segmentation_files import segmentation_format

    try:
        segmentation_format(v["output"])
    except SegAssistError as exc:
        raise ManifestError(f"{where}: output {exc}") from None
    from SegAssistLib.io.paths import UnsafePathError, contained

    try:  # the containment rule: outputs are relative to the output folder and stay inside it
        output = str(contained(output_dir, v["output"], f"{where}: output").resolve())
    except UnsafePathError as exc:
        raise ManifestError(f"{exc} Relative outputs go under the output folder ({output_dir}).") from None
    res = lambda p: _resolve(p, base_dir) if p else None
    return CaseSpec(
        case=case,
        operation=op,
        output=output,
        volume=res(v["volume"]),
        prompts=tuple(_resolve(p, base_dir) for p in prompts),
        keyframes=res(v["keyframes"]),
        segmentation=res(v["segmentation"]),
        backend=v["backend"] or "classical",
        plane=v["plane"].lower() if v["plane"] else None,
        method=v["method"],
        where=where,
    )


def cases_from_rows(
    rows: Iterable[Mapping[str, Any] | CaseSpec],
    base_dir: str | os.PathLike = ".",
    output_dir: str | os.PathLike | None = None,
    source: str = "manifest",
    manifest: str | os.PathLike | None = None,
) -> list[CaseSpec]:
    """Check manifest rows (dicts with the manifest's fields, or CaseSpecs) and return CaseSpecs.

    Case names and output files must be unique: two cases writing one file would overwrite each other.
    No output (nor its colour table or done marker) may be an input of any case or the ``manifest`` file.
    Outputs given in rows must be relative and stay inside ``output_dir`` (see :mod:`SegAssistLib.io.paths`).
    """
    base = Path(base_dir).resolve()
    out_base = Path(output_dir).resolve() if output_dir else base
    cases: list[CaseSpec] = []
    for n, row in enumerate(rows, start=1):
        if isinstance(row, CaseSpec):
            cases.append(row)
        elif isinstance(row, Mapping):
            cases.append(case_from_row(row, base, out_base, f"{source} row {n}"))
        else:
            raise ManifestError(f"{source} row {n}: expected an object with named fields, got {type(row).__name__}.")
    if not cases:
        raise ManifestError(f"{source}: no cases; add at least one row.")
    seen_case: dict[str, str] = {}
    seen_out: dict[str, str] = {}
    for c in cases:
        if c.case in seen_case:
            raise ManifestError(f"{c.where}: case name {c.case!r} is used twice; case names must be unique.")
        if c.output in seen_out:
            raise ManifestError(f"{c.where}: output {c.output} is also written by case {seen_out[c.output]!r}; "
                                "give every case its own output file.")
        seen_case[c.case] = c.where
        seen_out[c.output] = c.case
    _refuse_outputs_over_inputs(cases, manifest)
    return cases


def _refuse_outputs_over_inputs(cases: list[CaseSpec], manifest: str | os.PathLike | None) -> None:
    from SegAssistLib.batch.runner import marker_path
    from SegAssistLib.io.paths import UnsafePathError, refuse_outputs_over_inputs
    from SegAssistLib.io.segmentation_files import planned_outputs

    inputs = [manifest] + [p for c in cases for p in (c.volume, c.keyframes, c.segmentation, *c.prompts)]
    for c in cases:
        try:
            refuse_outputs_over_inputs([*planned_outputs(c.output), marker_path(c.output)], inputs, c.where)
        except UnsafePathError as exc:
            raise ManifestError(str(exc)) from None


def read_manifest(path: str | os.PathLike, output_dir: str | os.PathLike | None = None) -> list[CaseSpec]:
    """Read and check a CSV or JSON manifest (chosen by the ending: ``.csv``, ``.json``)."""
    p = Path(path)
    if not p.is_file():
        raise ManifestError(f"{p}: no such manifest file.")
    suffix = p.suffix.lower()
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{p}: cannot read the manifest ({exc}); save it as UTF-8 text.") from None
    if suffix == ".csv":
        reader = csv.DictReader(text.splitlines())
        if not reader.fieldnames:
            raise ManifestError(f"{p}: empty CSV; the first line must name the columns ({', '.join(COLUMNS)}).")
        rows = []
        for n, r in enumerate(reader, start=2):
            if None in r:
                raise ManifestError(f"{p} line {n}: more cells than header columns; quote cells that hold commas.")
            rows.append({k.strip(): v for k, v in r.items() if k is not None})
        rows = [r for r in rows if any(_text(v) for v in r.values())]
    elif suffix == ".json":
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ManifestError(f"{p}: not valid JSON ({exc}).") from None
        except RecursionError:
            raise ManifestError(f"{p}: not valid JSON (nested too deeply).") from None
        rows = doc.get("cases") if isinstance(doc, dict) else doc
        if not isinstance(rows, list):
            raise ManifestError(f'{p}: expected a list of cases or {{"cases": [...]}}.')
    else:
        raise ManifestError(f"{p}: a manifest must be a .csv or .json file.")
    return cases_from_rows(rows, p.parent, output_dir, source=str(p), manifest=p)
