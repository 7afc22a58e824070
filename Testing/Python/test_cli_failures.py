"""User-facing failures of the ``segassist`` command: exit status 2, a message that says what to do, no
traceback, and no file changed — checked before any computing, so no computed work is thrown away.

Every case runs the real command in a subprocess on the shipped sample CT and its sample prompts.
* Read-only output folder: as root, permission bits do not stop writes, so the command then runs as the
  unprivileged user ``nobody`` (a real EACCES). Read-only mount: a real read-only bind mount made in a user
  namespace (``unshare -rm``); where the kernel refuses user namespaces, the permission case stands in.
* A missing optional package cannot be uninstalled from the shared test environment, so the subprocess
  blocks its import (``sys.modules[name] = None``, Python's own "not installed" signal) before running.
* DICOM SEG: a real DICOM series (a crop of lung2) whose headers lack FrameOfReferenceUID or SliceThickness.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "SegAssistLib" / "data" / "sample"
VOLUME = SAMPLE / "lung2_crop.nrrd"
PROMPTS = SAMPLE / "lung_lesion.mrk.json"
NOBODY = 65534


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (relative name -> SHA-256), to prove nothing was written or changed."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def segassist(*argv: str, blocked: tuple[str, ...] = (), as_nobody: bool = False, prefix: list[str] | None = None,
              cwd: Path | None = None) -> subprocess.CompletedProcess:
    if as_nobody:  # util-linux's setpriv drops root's uid, groups and capabilities before exec
        prefix = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *(prefix or [])]
    code = ("import sys\n" + "".join(f"sys.modules[{m!r}] = None\n" for m in blocked)
            + "from SegAssistLib.cli.main import main\nsys.exit(main(sys.argv[1:]))")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([*(prefix or []), sys.executable, "-c", code, *argv], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=300)


def assert_user_error(result: subprocess.CompletedProcess, *phrases: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("segassist "), result.stderr
    for phrase in phrases:
        assert phrase in result.stderr, (phrase, result.stderr)


@pytest.fixture
def open_tmp():
    """A temporary folder every user can enter (pytest's own is private to root), removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="segassist-failures-"))
    folder.chmod(0o755)
    yield folder
    for p in folder.rglob("*"):
        if p.is_dir():
            p.chmod(0o755)
    shutil.rmtree(folder)


def _read_only_run(folder: Path, argv: list[str]) -> subprocess.CompletedProcess:
    """Run with ``folder`` read-only by permissions (as ``nobody`` when root, whom permissions do not stop)."""
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    return segassist(*argv, as_nobody=os.geteuid() == 0, cwd=folder.parent)


def test_segment_into_a_read_only_folder_stops_before_computing(open_tmp):
    out_dir = open_tmp / "results"
    out_dir.mkdir()
    (out_dir / "previous.seg.nrrd").write_bytes(b"an earlier result")
    before = snapshot(open_tmp)
    # A volume that does not exist: the writability check must answer first, before any reading or computing.
    result = _read_only_run(out_dir, ["segment", str(open_tmp / "not-read-yet.nrrd"), "--prompts", str(PROMPTS),
                                      "-o", str(out_dir / "lesion.seg.nrrd"), "--no-progress"])
    assert_user_error(result, "not writable", str(out_dir), "Nothing was computed", "-o")
    assert snapshot(open_tmp) == before


def test_segment_onto_a_read_only_mount(open_tmp):
    out_dir = open_tmp / "mounted"
    out_dir.mkdir()
    before = snapshot(open_tmp)
    argv = ["segment", str(VOLUME), "--prompts", str(PROMPTS), "-o", str(out_dir / "lesion.seg.nrrd"), "--no-progress"]
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True) if shutil.which("unshare") else None
    if probe is not None and probe.returncode == 0:
        mount = f"mount --bind {out_dir} {out_dir} && mount -o remount,bind,ro {out_dir} && exec \"$@\""
        result = segassist(*argv, prefix=["unshare", "-rm", "sh", "-c", mount, "sh"])
        assert_user_error(result, "not writable", "Read-only file system")
    else:  # no user namespaces here: the permission case proves the same check
        assert_user_error(_read_only_run(out_dir, argv), "not writable")
    assert snapshot(open_tmp) == before


@pytest.mark.parametrize("command", ["segment", "interpolate", "convert", "ontology", "demo"])
def test_an_output_whose_parent_is_a_file(tmp_path, command):
    blocker = tmp_path / "results"
    blocker.write_text("a file, not a folder")
    out = blocker / "out.seg.nrrd"
    argv = {
        "segment": ["segment", str(VOLUME), "--prompts", str(PROMPTS), "-o", str(out), "--no-progress"],
        "interpolate": ["interpolate", str(SAMPLE / "lung2_crop_label.nrrd"), "-o", str(blocker / "out.nrrd")],
        "convert": ["convert", str(SAMPLE / "lung2_crop_label.nrrd"), str(out)],
        "ontology": ["ontology", "convert", str(_ctbl(tmp_path)), str(blocker / "classes.json")],
        "demo": ["demo", "-o", str(blocker / "demo")],
    }[command]
    before = snapshot(tmp_path)
    assert_user_error(segassist(*argv), f"{blocker} is a file, not a folder")
    assert snapshot(tmp_path) == before


def _ctbl(folder: Path) -> Path:
    table = folder / "classes.ctbl"
    table.write_text("0 Background 0 0 0 0\n1 Lesion 220 90 70 255\n")
    return table


def test_missing_optional_package_names_the_extra(tmp_path):
    config = tmp_path / "config.xml"
    config.write_text('<View><Image name="image" value="$image"/>'
                      '<BrushLabels name="tag" toName="image"><Label value="Lesion" background="#dc5a46"/>'
                      "</BrushLabels></View>")
    before = snapshot(tmp_path)
    result = segassist("ontology", "convert", str(config), str(tmp_path / "classes.json"), "--from", "label-studio",
                       blocked=("defusedxml", "defusedxml.ElementTree"))
    assert_user_error(result, "defusedxml", "pip install 'segassist[formats]'", "Label Studio XML")
    assert snapshot(tmp_path) == before


def test_qc_without_matplotlib_stops_before_computing(tmp_path):
    """--qc needs matplotlib (the confidence plot) beyond the demo's install: said before any computing."""
    out = tmp_path / "out"
    result = segassist("segment", str(VOLUME), "--prompts", str(PROMPTS), "-o", str(out / "lesion.seg.nrrd"),
                       "--qc", str(out / "qc"), "--no-progress", blocked=("matplotlib", "matplotlib.pyplot"))
    assert_user_error(result, "'matplotlib'", "pip install 'segassist[qc]'", "--qc")
    assert not out.exists() and "voxels" not in result.stdout  # nothing computed, nothing written


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    """A real DICOM series (8 slices of the sample CT) and a segmentation on its grid (.seg.nrrd)."""
    from SegAssistLib.core.segmentation import Segment, Segmentation
    from SegAssistLib.io.segmentation_files import write_segmentation
    from SegAssistLib.io.volumes import read_volume, write_dicom_series

    folder = tmp_path_factory.mktemp("series")
    image = read_volume(VOLUME)
    from SegAssistLib.core.volume import Volume

    crop = Volume(np.ascontiguousarray(image.array[:8]), image.ijk_to_ras)  # first 8 slices: same origin
    write_dicom_series(crop, folder / "dicom")
    source = read_volume(folder / "dicom")
    seg = Segmentation.like(source)
    lesion = read_volume(SAMPLE / "lung2_crop_label.nrrd").array[:8] > 0
    seg.add_segment(Segment("lesion", "Lesion", (0.9, 0.4, 0.3)), lesion)
    write_segmentation(seg, folder / "lesion.seg.nrrd")
    return folder


def _stripped_copy(series: Path, dest: Path, attribute: str) -> Path:
    import pydicom

    out = dest / "reference"
    out.mkdir()
    for f in sorted((series / "dicom").iterdir()):
        ds = pydicom.dcmread(f)
        delattr(ds, attribute)
        ds.save_as(out / f.name)
    return out


def test_dicom_seg_reference_without_frame_of_reference_says_so(series, tmp_path):
    reference = _stripped_copy(series, tmp_path, "FrameOfReferenceUID")
    before = snapshot(tmp_path)
    result = segassist("convert", str(series / "lesion.seg.nrrd"), str(tmp_path / "lesion.dcm"),
                       "--reference", str(reference))
    assert_user_error(result, "FrameOfReferenceUID", str(reference))
    assert snapshot(tmp_path) == before


def test_dicom_seg_reference_without_slice_thickness_uses_the_slice_spacing(series, tmp_path):
    import pydicom

    reference = _stripped_copy(series, tmp_path, "SliceThickness")
    result = segassist("convert", str(series / "lesion.seg.nrrd"), str(tmp_path / "lesion.dcm"),
                       "--reference", str(reference))
    assert result.returncode == 0, result.stderr
    seg = pydicom.dcmread(tmp_path / "lesion.dcm")
    measures = seg.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
    spacing = np.linalg.norm(np.subtract(*[pydicom.dcmread(f).ImagePositionPatient for f in
                                           sorted(reference.iterdir())[:2]]))
    assert float(measures.SliceThickness) == pytest.approx(spacing, rel=1e-4)


def test_interpolate_names_a_missing_file_once(tmp_path):
    missing = tmp_path / "keyframes.nrrd"
    result = segassist("interpolate", str(missing), "-o", str(tmp_path / "filled.nrrd"))
    assert_user_error(result, "no such file")
    assert result.stderr.count(str(missing)) == 1, result.stderr
    assert list(tmp_path.iterdir()) == []
