"""Batch runs in local processes on real cases from the fetched data (Testing/Data/fetch_data.py) (brain1, brain2, breast1).

Outputs are checked against slicerio (the peer .seg.nrrd reader) and against the same operation called
directly; a corrupt volume fails alone; a second run skips finished cases; manifests are checked.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from batch_cases import corrupt_row, inside_point_kji, make_case_rows

from SegAssistLib.batch import (
    DONE,
    FAILED,
    SKIPPED,
    ManifestError,
    marker_path,
    read_manifest,
    run_batch,
    run_case,
)
from SegAssistLib.io.segmentation_files import read_segmentation
from SegAssistLib.io.volumes import read_volume

NAMES = ("brain1", "brain2", "breast1")


@pytest.fixture(scope="module")
def batch_run(pyradiomics_dir, tmp_path_factory):
    """Every operation on three real cases plus one corrupt case, run once with two local workers."""
    work = tmp_path_factory.mktemp("batch_local")
    rows = [r for n in NAMES for r in make_case_rows(pyradiomics_dir, work, n)] + [corrupt_row(work)]
    seen = []
    summary = run_batch(rows, workers=2, output_dir=work / "out", progress=seen.append)
    return work, rows, summary, seen


def _voxels_by_slicerio(path: str) -> int:
    from slicerio.segmentation import read_segmentation as peer_read
    from slicerio.segmentation import segment_mask

    peer = peer_read(path)
    union = None
    for info in peer["segments"]:
        m = segment_mask(peer, info) > 0
        union = m if union is None else union | m
    return int(union.sum())


def _union(seg) -> np.ndarray:
    return np.any([seg.mask(s) for s in seg.segment_ids], axis=0)


def test_every_real_case_done_and_equal_to_direct_call(batch_run, pyradiomics_dir):
    from SegAssistLib.interpolation import interpolate_labelmap
    from SegAssistLib.io.markups import read_markups
    from SegAssistLib.operations.segment_files import segment_from_prompts

    work, rows, summary, seen = batch_run
    assert sorted(r.case for r in seen) == sorted(r["case"] for r in rows)  # progress saw every case once
    assert [r.case for r in summary] == [r["case"] for r in rows]  # manifest order
    for row in rows[:-1]:
        res = summary[row["case"]]
        assert res.status == DONE, res.error
        out = work / "out" / row["output"]
        assert res.outputs == [str(out)] and out.is_file() and marker_path(out).is_file()
        assert _voxels_by_slicerio(str(out)) == res.voxels > 0
        image = read_volume(row["volume"])
        got = read_segmentation(out, reference=image)
        if row["operation"] == "convert":
            label = read_volume(row["segmentation"]).array
            np.testing.assert_array_equal(_union(got), label > 0)
        elif row["operation"] == "interpolate":
            keyframes = read_volume(row["keyframes"]).array
            direct = interpolate_labelmap(keyframes, image)
            np.testing.assert_array_equal(_union(got), direct > 0)
            assert res.voxels > int((keyframes > 0).sum())  # slices were filled in
        else:
            direct, _ = segment_from_prompts(image, read_markups(row["prompts"]))
            np.testing.assert_array_equal(_union(got), _union(direct))
            name = row["case"].split("-")[0]
            assert _union(got)[inside_point_kji(read_volume(pyradiomics_dir / f"{name}_label.nrrd").array)]


def test_corrupt_volume_fails_alone_and_writes_nothing(batch_run):
    work, rows, summary, _ = batch_run
    bad = summary["corrupt-convert"]
    assert bad.status == FAILED and "corrupt_image.nrrd" in bad.error
    assert [r.case for r in summary.failed] == ["corrupt-convert"] and not summary.ok
    out = work / "out" / "corrupt.seg.nrrd"
    assert not out.exists() and not marker_path(out).exists()
    assert not [p for p in (work / "out").iterdir() if ".tmp" in p.name]
    table = summary.table()
    assert "corrupt-convert" in table and "failed" in table and "9 done" in table and "1 failed" in table


def test_resume_skips_finished_cases_and_reruns_changed_ones(batch_run):
    work, rows, first, _ = batch_run
    outputs = {r["case"]: work / "out" / r["output"] for r in rows[:-1]}
    stamps = {c: p.stat().st_mtime_ns for c, p in outputs.items()}
    again = run_batch(rows, workers=2, output_dir=work / "out")
    for case, path in outputs.items():
        assert again[case].status == SKIPPED and again[case].voxels == first[case].voxels
        assert path.stat().st_mtime_ns == stamps[case]  # not rewritten
    assert again["corrupt-convert"].status == FAILED  # failures are tried again
    # A changed input makes its case run again; the others stay finished.
    keyframes = Path(rows[4]["keyframes"])  # brain2-interpolate
    assert rows[4]["case"] == "brain2-interpolate"
    st = keyframes.stat()
    os.utime(keyframes, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    third = run_batch(rows[3:6], workers=1, output_dir=work / "out")
    assert [r.status for r in third] == [SKIPPED, DONE, SKIPPED]
    assert third["brain2-interpolate"].voxels == first["brain2-interpolate"].voxels


def test_run_case_removes_leftovers_of_a_killed_process(batch_run):
    from SegAssistLib.batch import cases_from_rows

    work, rows, _, _ = batch_run
    out_dir = work / "out_leftover"
    case = cases_from_rows([rows[-2]], output_dir=out_dir)[0]  # breast1-convert
    out_dir.mkdir()
    # What atomic_output leaves when its process is killed before the rename.
    leftover = out_dir / f".{Path(case.output).name}.k1ll3d_x.tmp.seg.nrrd"
    leftover.write_bytes(b"NRRD0004\nhalf")
    other = out_dir / ".breast1_label2.seg.nrrd.abc.tmp.seg.nrrd"  # another case's file: left alone
    other.write_bytes(b"x")
    result = run_case(case)
    assert result.status == DONE and Path(case.output).is_file()
    assert not leftover.exists() and other.exists()
    doc = json.loads(marker_path(case.output).read_text())
    assert doc["result"]["voxels"] == result.voxels and doc["case"]["case"] == "breast1-convert"


def _write_csv(path: Path, header: str, *lines: str) -> Path:
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def test_csv_and_json_manifests_resolve_paths(tmp_path):
    csv_path = _write_csv(
        tmp_path / "cases.csv",
        "case,operation,volume,prompts,output,plane",
        "a,segment,img.nrrd,one.mrk.json; two.mrk.json,a.seg.nrrd,Coronal",
    )
    (c,) = read_manifest(csv_path, output_dir=tmp_path / "results")
    assert c.volume == str(tmp_path / "img.nrrd")
    assert c.prompts == (str(tmp_path / "one.mrk.json"), str(tmp_path / "two.mrk.json"))
    assert c.output == str(tmp_path / "results" / "a.seg.nrrd") and c.plane == "coronal"
    json_path = tmp_path / "cases.json"
    json_path.write_text(json.dumps({"cases": [
        {"case": "b", "operation": "interpolate", "volume": "/abs/img.nrrd", "keyframes": "k.nrrd",
         "output": "out/b.nii.gz", "method": "itk-mci"}]}))
    (b,) = read_manifest(json_path)
    assert (b.volume, b.keyframes, b.output) == ("/abs/img.nrrd", str(tmp_path / "k.nrrd"),
                                                 str(tmp_path / "out" / "b.nii.gz"))


@pytest.mark.parametrize(
    "lines, message",
    [
        (["a,segment,v.nrrd,p.mrk.json,a.seg.nrrd,"], None),  # the valid baseline
        (["a,grow,v.nrrd,p.mrk.json,a.seg.nrrd,"], "operation 'grow' is not one of"),
        (["a,segment,v.nrrd,,a.seg.nrrd,"], "needs the field(s) ['prompts']"),
        (["a,segment,v.nrrd,p.mrk.json,,"], "'output' field is empty"),
        (["a,segment,v.nrrd,p.mrk.json,a.png,"], "unknown segmentation format"),
        (["a,segment,v.nrrd,p.mrk.json,a.seg.nrrd,k.nrrd"], "do not apply to operation 'segment'"),
        (["a,segment,v.nrrd,p.mrk.json,a.seg.nrrd,", "a,segment,v.nrrd,p.mrk.json,b.seg.nrrd,"], "used twice"),
        (["a,segment,v.nrrd,p.mrk.json,x.seg.nrrd,", "b,segment,v.nrrd,p.mrk.json,x.seg.nrrd,"], "also written by"),
        ([",segment,v.nrrd,p.mrk.json,a.seg.nrrd,"], "'case' field is empty"),
        ([], "no cases"),
    ],
)
def test_manifest_mistakes_are_reported_before_anything_runs(tmp_path, lines, message):
    path = _write_csv(tmp_path / "m.csv", "case,operation,volume,prompts,output,keyframes", *lines)
    if message is None:
        assert len(read_manifest(path)) == 1
        return
    with pytest.raises(ManifestError) as err:
        read_manifest(path)
    assert message in str(err.value) and str(path) in str(err.value)


def test_manifest_unknown_column_and_bad_json(tmp_path):
    with pytest.raises(ManifestError, match=r"unknown field\(s\) \['volumne'\]"):
        read_manifest(_write_csv(tmp_path / "m.csv", "case,operation,volumne,output", "a,convert,v.nrrd,a.seg.nrrd"))
    bad = tmp_path / "m.json"
    bad.write_text("{not json")
    with pytest.raises(ManifestError, match="not valid JSON"):
        read_manifest(bad)
    with pytest.raises(ManifestError, match="must be a .csv or .json"):
        read_manifest(_write_csv(tmp_path / "m.txt", "case"))


def test_cli_batch_prints_summary_and_exit_status(batch_run, pyradiomics_dir, tmp_path, capsys):
    from SegAssistLib.cli.main import main

    rows = make_case_rows(pyradiomics_dir, tmp_path, "breast1", ops=("interpolate", "convert"))
    good = tmp_path / "good.json"
    good.write_text(json.dumps(rows))
    summary_csv = tmp_path / "summary.csv"
    assert main(["batch", str(good), "--workers", "2", "--output-dir", str(tmp_path / "o"), "--no-progress",
                 "--summary-csv", str(summary_csv)]) == 0
    out = capsys.readouterr().out
    assert "breast1-interpolate" in out and "2 done" in out and "0 failed" in out
    assert (tmp_path / "o" / "breast1_label.seg.nrrd").is_file()
    assert summary_csv.read_text().count("\n") == 3 and ",done," in summary_csv.read_text()

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(rows + [corrupt_row(tmp_path)]))
    assert main(["batch", str(bad), "--workers", "1", "--output-dir", str(tmp_path / "o")]) == 1
    captured = capsys.readouterr()
    assert "2 skipped" in captured.out and "corrupt-convert" in captured.out and "1 failed" in captured.out
    assert "corrupt_image.nrrd" in captured.err  # reported as it happens, beside the progress bar

    broken = _write_csv(tmp_path / "broken.csv", "case,operation,output", "a,segment,a.seg.nrrd")
    assert main(["batch", str(broken), "--output-dir", str(tmp_path / "nothing")]) == 2
    assert "needs the field(s)" in capsys.readouterr().err and not (tmp_path / "nothing").exists()
