"""Pytest plugin: a skipped test fails the run, unless ``SEGASSIST_ALLOW_SKIPS=1`` is set.

Every test runs on a fresh machine (the README's test command installs every package and
``Testing/Data/fetch_data.py`` fetches every data source), so a skip means something is missing — a
package not declared, data not fetched — and a green run with hidden skips would prove nothing. Each skip
(``pytest.skip``, ``importorskip``, ``skipif``, at collection or in a test) is reported as a failure naming
its reason. ``xfail`` is unaffected.

``SEGASSIST_ALLOW_SKIPS=1`` allows skips again, for runs that deliberately lack a package (e.g. library-only
runs on an older Python where slicer-core or sam2 do not install); such a run must say so.
"""

from __future__ import annotations

import os

import pytest

ENV = "SEGASSIST_ALLOW_SKIPS"


def skips_allowed() -> bool:
    return os.environ.get(ENV, "") == "1"


def _reason(longrepr) -> str:
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


def _fail(report) -> None:
    report.outcome = "failed"
    report.longrepr = (
        f"skipped, and a skip fails this suite ({ENV}=1 allows it): {_reason(report.longrepr)}\n"
        "Install what the README's test command installs (bash scripts/run.sh test) and fetch the data "
        "(python Testing/Data/fetch_data.py)."
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail") and not skips_allowed():
        _fail(report)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not skips_allowed():
        _fail(report)
