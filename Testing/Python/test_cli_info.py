"""The `segassist info` command, run as a user runs it (a subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys


def run(*args):
    return subprocess.run([sys.executable, "-m", "SegAssistLib.cli.main", *args], capture_output=True, text=True)


def test_info_json(case_path):
    res = run("info", str(case_path("brain1", "image")), "--json")
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    assert info["size_ijk"] == [256, 256, 25]
    assert info["spacing_mm"][2] == 6.5
    assert info["direction_ras"][1][1] == 1.0  # brain1's j axis points anterior
    assert info["planes"] == {"axial": "k", "coronal": "j", "sagittal": "i"}
    assert info["intensity_range"][1] > info["intensity_range"][0]


def test_info_text(case_path):
    res = run("info", str(case_path("lung2", "image")))
    assert res.returncode == 0
    assert "512 512 61" in res.stdout and "axial = k axis" in res.stdout


def test_bad_input_no_traceback(tmp_path):
    bad = tmp_path / "broken.nii.gz"
    bad.write_bytes(b"\x1f\x8b garbage")
    res = run("info", str(bad))
    assert res.returncode == 2
    assert "broken.nii.gz" in res.stderr and "Traceback" not in res.stderr
    res = run("info", str(tmp_path / "nope.nrrd"))
    assert res.returncode == 2 and "no such file" in res.stderr
