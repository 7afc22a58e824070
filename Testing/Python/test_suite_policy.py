"""The suite's policy: a skipped test fails the run unless SEGASSIST_ALLOW_SKIPS=1 (Testing/Python/skip_policy.py).

Each case runs a small real pytest session in a subprocess with the project's plugin loaded, and reads its
exit status and summary: skips of every kind (in a test, importorskip at collection, skipif) fail it;
passing tests and xfail do not; the environment variable turns skips back into skips.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

SKIPPING = """
import pytest

def test_passes():
    assert True

def test_skips_inside():
    pytest.skip("no data here")

@pytest.mark.skipif(True, reason="marker says so")
def test_skipif():
    pass
"""

COLLECTION_SKIP = """
import pytest
pytest.importorskip("a_package_that_does_not_exist_segassist")

def test_never_runs():
    pass
"""

CLEAN = """
import pytest

def test_passes():
    assert 1 + 1 == 2

@pytest.mark.xfail(reason="known", strict=True)
def test_expected_failure():
    assert False
"""


def _run(tmp_path: Path, source: str, allow: str | None) -> subprocess.CompletedProcess:
    (tmp_path / "test_sample.py").write_text(source)
    env = {k: v for k, v in os.environ.items() if k != "SEGASSIST_ALLOW_SKIPS"}
    if allow is not None:
        env["SEGASSIST_ALLOW_SKIPS"] = allow
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "skip_policy", "-p", "no:cacheprovider", "-q", "-rA",
         "--rootdir", str(tmp_path), "-c", os.devnull, str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )


def test_skips_in_tests_fail_the_run_and_name_their_reason(tmp_path):
    result = _run(tmp_path, SKIPPING, allow=None)
    assert result.returncode == 1, result.stdout
    # a skip in the test body fails the test; a skipif (decided at set-up) is reported as a set-up error
    assert "1 failed, 1 passed, 1 error" in result.stdout
    assert "no data here" in result.stdout and "marker says so" in result.stdout
    assert "SEGASSIST_ALLOW_SKIPS=1" in result.stdout


def test_a_skip_at_collection_fails_the_run(tmp_path):
    result = _run(tmp_path, COLLECTION_SKIP, allow=None)
    assert result.returncode != 0, result.stdout
    assert "a_package_that_does_not_exist_segassist" in result.stdout
    assert "skipped" not in result.stdout.splitlines()[-1]


@pytest.mark.parametrize("allow", ["0", ""])
def test_only_the_value_1_allows_skips(tmp_path, allow):
    assert _run(tmp_path, SKIPPING, allow=allow).returncode == 1


def test_allow_skips_restores_ordinary_skips(tmp_path):
    result = _run(tmp_path, SKIPPING, allow="1")
    assert result.returncode == 0, result.stdout
    assert "1 passed, 2 skipped" in result.stdout
    collected = _run(tmp_path, COLLECTION_SKIP, allow="1")
    assert collected.returncode == 5 or "1 skipped" in collected.stdout, collected.stdout


def test_passes_and_xfail_are_untouched(tmp_path):
    result = _run(tmp_path, CLEAN, allow=None)
    assert result.returncode == 0, result.stdout
    assert "1 passed, 1 xfailed" in result.stdout
