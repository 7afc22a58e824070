"""The summary of a batch: one :class:`CaseResult` per case in manifest order, as a table or CSV."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from SegAssistLib.batch.runner import DONE, FAILED, SKIPPED, CaseResult


@dataclass
class BatchSummary:
    """Results of a batch run, in manifest order, with the wall time of the whole run."""

    results: list[CaseResult]
    wall_seconds: float = 0.0
    workers: int = 1
    engine: str = "local"
    extra: dict = field(default_factory=dict)

    def __iter__(self):
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def __getitem__(self, case: str) -> CaseResult:
        for r in self.results:
            if r.case == case:
                return r
        raise KeyError(case)

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def failed(self) -> list[CaseResult]:
        return [r for r in self.results if r.status == FAILED]

    @property
    def ok(self) -> bool:
        """True when no case failed."""
        return not self.failed

    def table(self, error_width: int = 80) -> str:
        """A plain-text table: case, operation, status, seconds, voxels segmented, error (long errors are
        shortened in the table and repeated in full below it)."""
        head = ("case", "operation", "status", "time s", "voxels", "error")
        rows = [
            (r.case, r.operation, r.status, f"{r.seconds:.2f}", str(r.voxels),
             (r.error if len(r.error) <= error_width else r.error[: error_width - 1] + "…").replace("\n", " "))
            for r in self.results
        ]
        widths = [max(len(h), *(len(row[n]) for row in rows)) if rows else len(h) for n, h in enumerate(head)]
        right = {3, 4}

        def line(cells):
            return "  ".join(c.rjust(w) if n in right else c.ljust(w) for n, (c, w) in enumerate(zip(cells, widths))).rstrip()

        out = [line(head), line(["-" * w for w in widths]), *(line(r) for r in rows)]
        out.append(
            f"{self.count(DONE)} done, {self.count(SKIPPED)} skipped (already finished), {self.count(FAILED)} failed; "
            f"{self.wall_seconds:.1f} s wall time, {self.workers} worker(s), {self.engine}"
        )
        failed = self.failed
        if failed and any(len(r.error) > error_width for r in failed):
            out.append("errors:")
            out += [f"  {r.case}: {r.error}" for r in failed]
        return "\n".join(out)

    def to_csv(self) -> str:
        """The summary as CSV text (one row per case, all CaseResult fields)."""
        buf = io.StringIO()
        names = ["case", "operation", "status", "seconds", "voxels", "error", "outputs", "worker", "cpu_seconds"]
        w = csv.DictWriter(buf, fieldnames=names)
        w.writeheader()
        for r in self.results:
            d = r.to_dict()
            d["outputs"] = ";".join(d["outputs"])
            w.writerow(d)
        return buf.getvalue()
