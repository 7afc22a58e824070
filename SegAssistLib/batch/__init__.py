"""Batch runs over many volumes: manifests, one-case runner, local or Dask execution, summary table.

``run_batch(read_manifest("cases.csv"), workers=2)`` returns a :class:`BatchSummary`; the ``segassist batch``
command does the same with a progress bar. See :mod:`.manifest` for the manifest fields, :mod:`.runner` for
atomic outputs and done markers, :mod:`.executor` for local processes and Dask distributed.
"""

from SegAssistLib.batch.executor import default_workers, run_batch
from SegAssistLib.batch.manifest import (
    CaseSpec,
    ManifestError,
    cases_from_rows,
    read_manifest,
)
from SegAssistLib.batch.runner import (
    DONE,
    FAILED,
    SKIPPED,
    CaseResult,
    marker_path,
    run_case,
)
from SegAssistLib.batch.summary import BatchSummary

__all__ = [
    "DONE",
    "FAILED",
    "SKIPPED",
    "BatchSummary",
    "CaseResult",
    "CaseSpec",
    "ManifestError",
    "cases_from_rows",
    "default_workers",
    "marker_path",
    "read_manifest",
    "run_batch",
    "run_case",
]
