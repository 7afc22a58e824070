"""Running one batch case: read its inputs, run its operation, write its output atomically, mark it done.

A case is finished when its *done marker* exists: a small JSON file beside the output
(``.<output name>.done.json``) written after the output, holding a fingerprint of the case (its fields and
the size and modification time of its inputs) and the result. A resumed batch skips a case whose marker
matches and whose outputs all exist; a changed row or input runs again. Outputs are written through
:func:`SegAssistLib.io.atomic.atomic_output`, so a case that dies half-way (an error, a killed worker)
leaves no partial output; temporary files left by a killed process are removed when the case runs again.

:func:`run_case` never raises for a failing case: the error goes into the returned :class:`CaseResult`,
so one bad case cannot stop a batch.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from SegAssistLib.batch.manifest import CaseSpec
from SegAssistLib.errors import InterpolationError, SegAssistError
from SegAssistLib.io.atomic import atomic_output
from SegAssistLib.core.segmentation import Segmentation

DONE, FAILED, SKIPPED = "done", "failed", "skipped"


@dataclass
class CaseResult:
    """What happened to one case: status (done, failed, skipped), seconds, voxels segmented, error."""

    case: str
    operation: str
    status: str
    seconds: float = 0.0
    #: Voxels inside at least one segment of the written segmentation.
    voxels: int = 0
    error: str = ""
    outputs: list[str] = field(default_factory=list)
    #: "host:pid" of the process that ran the case (tells a retried case from its first try).
    worker: str = ""
    #: CPU seconds the worker process spent on the case (all its threads); below ``seconds`` when the
    #: process waited for a CPU or the disk, above it when native libraries ran several threads.
    cpu_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def marker_path(output: str | os.PathLike) -> Path:
    """The done marker of a case writing ``output``."""
    p = Path(output)
    return p.with_name(f".{p.name}.done.json")


def _input_paths(case: CaseSpec) -> list[str]:
    return [p for p in (case.volume, case.keyframes, case.segmentation, *case.prompts) if p]


def fingerprint(case: CaseSpec) -> str:
    """A hash of the case's fields and its inputs' sizes and modification times."""
    doc = case.to_dict()
    doc.pop("where", None)
    stats = {}
    for p in _input_paths(case):
        try:
            st = os.stat(p)
            stats[p] = [st.st_size, st.st_mtime_ns]
        except OSError:
            stats[p] = None
    return hashlib.sha256(json.dumps([doc, stats], sort_keys=True).encode()).hexdigest()


def finished_result(case: CaseSpec) -> CaseResult | None:
    """The stored result when ``case`` already finished with the same fingerprint and its outputs exist."""
    marker = marker_path(case.output)
    try:
        doc = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    result = doc.get("result") or {}
    outputs = result.get("outputs") or []
    if doc.get("fingerprint") != fingerprint(case) or not outputs or not all(Path(o).is_file() for o in outputs):
        return None
    return CaseResult(case.case, case.operation, SKIPPED, 0.0, int(result.get("voxels", 0)), "", list(outputs),
                      str(result.get("worker", "")))


def _output_targets(case: CaseSpec) -> list[Path]:
    """Every file a case may write: its output, a labelmap's colour tables, its done marker."""
    from SegAssistLib.io.segmentation_files import LABELMAP, planned_outputs, segmentation_format

    out = Path(case.output)
    targets = [*planned_outputs(out), marker_path(out)]
    if segmentation_format(out) == LABELMAP:
        from SegAssistLib.io.labelmap import default_table_path

        targets.append(default_table_path(out, "ctbl"))
    return targets


def _temporary_leftovers(case: CaseSpec) -> list[Path]:
    """Temporary files that ``atomic_output`` made for this case's outputs and that a killed process left
    (same host, dead pid): never those of a live process, such as a concurrent ``--force`` run."""
    from SegAssistLib.io.atomic import stale_temporaries

    return [p for t in _output_targets(case) for p in stale_temporaries(t)]


def _segment(case: CaseSpec) -> Segmentation:
    from SegAssistLib.operations.segment_files import segment_files

    return segment_files(case.volume, case.prompts, case.backend, None, case.plane or "axial").segmentation


def _interpolate(case: CaseSpec) -> Segmentation:
    from SegAssistLib.interpolation import DEFAULT_METHOD
    from SegAssistLib.io.segmentation_files import read_segmentation
    from SegAssistLib.operations.interpolate import interpolate_segmentation

    seg = read_segmentation(case.keyframes, reference=case.volume)
    if len(seg) == 0:
        raise InterpolationError(f"{case.keyframes}: the keyframe labelmap is empty; draw some slices first.")
    interpolate_segmentation(seg, case.plane or "auto", method=case.method or DEFAULT_METHOD)
    return seg


def _convert(case: CaseSpec) -> Segmentation:
    from SegAssistLib.io.segmentation_files import read_segmentation

    return read_segmentation(case.segmentation, reference=case.volume)


OPERATIONS = {"segment": _segment, "interpolate": _interpolate, "convert": _convert}


def _voxels(seg: Segmentation) -> int:
    union = np.zeros(seg.shape, dtype=bool)
    for sid in seg.segment_ids:
        union |= seg.mask(sid)
    return int(union.sum())


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, SegAssistError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def run_case(case: CaseSpec, force: bool = False) -> CaseResult:
    """Run one case and return its result; errors are returned, not raised. ``force`` ignores the marker."""
    worker = f"{socket.gethostname()}:{os.getpid()}"
    if not force:
        done = finished_result(case)
        if done is not None:
            return done
    start, cpu_start = time.perf_counter(), time.process_time()
    try:
        from SegAssistLib.io.atomic import clean_stale_temporaries

        for target in _output_targets(case):
            clean_stale_temporaries(target)
        marker_path(case.output).unlink(missing_ok=True)
        seg = OPERATIONS[case.operation](case)
        options = {"reference": case.volume} if case.output.lower().endswith(".dcm") else {}
        from SegAssistLib.io.segmentation_files import write_segmentation

        written = [str(p) for p in write_segmentation(seg, case.output, **options)]
        result = CaseResult(case.case, case.operation, DONE, time.perf_counter() - start, _voxels(seg), "",
                            written, worker, time.process_time() - cpu_start)
        with atomic_output(marker_path(case.output)) as tmp:
            tmp.write_text(json.dumps({"fingerprint": fingerprint(case), "case": case.to_dict(),
                                       "result": result.to_dict()}, indent=1), encoding="utf-8")
        return result
    except Exception as exc:  # one case's failure is recorded, never raised
        return CaseResult(case.case, case.operation, FAILED, time.perf_counter() - start, 0, _error_text(exc), [],
                          worker, time.process_time() - cpu_start)
