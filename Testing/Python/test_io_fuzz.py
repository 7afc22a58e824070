"""Fuzz suite over every importer (issue 18): real files (pyradiomics brain1 cropped and written by
SegAssist's writers, SimpleITK, slicerio, highdicom, pycocotools) are mutated in ~200 seeded ways
(truncation, byte flips, header damage, appended junk, JSON nodes replaced or removed, CSV cells changed)
and read in a separate worker process (``fuzz_worker.py``), so a segfault in native code is caught too.

Every mutant must be read or refused with a SegAssistError (the CLI's exit 2): never a traceback, never a
crash, never an unbounded allocation (the worker's address space is capped). A *truncated* file must
never be read as something other than the original ("no exit 0 with altered data"); other mutations may
change values a format cannot check (a voxel byte of raw data), so only their crash-freedom is asserted.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from SegAssistLib.core.segmentation import Segment, Segmentation
from SegAssistLib.core.volume import Volume

HERE = Path(__file__).resolve().parent
MUTANTS = 200
BINARY_KINDS = ("volume", "seg", "labelmap", "dicom-seg", "panoptic-png")


def _seeds(brain1, root: Path) -> list[dict]:
    """The unmutated files, one per importer and encoding: (kind, path, extra)."""
    from pycocotools import mask as mask_utils

    from SegAssistLib.formats.datasets2d.coco_instances import read_coco_instances
    from SegAssistLib.formats.datasets2d.label_studio_tasks import write_tasks
    from SegAssistLib.formats.datasets2d.panoptic import write_coco_panoptic
    from SegAssistLib.io.dicom_seg import write_dicom_seg
    from SegAssistLib.io.labelmap import write_labelmap
    from SegAssistLib.io.markups import MarkupPrompt, write_markups
    from SegAssistLib.io.seg_nrrd import write_seg_nrrd
    from SegAssistLib.io.volumes import read_volume, write_dicom_series, write_volume

    image, label = brain1
    k = np.flatnonzero((label.array > 0).any(axis=(1, 2)))
    j = np.flatnonzero((label.array > 0).any(axis=(0, 2)))
    i = np.flatnonzero((label.array > 0).any(axis=(0, 1)))
    box = (slice(k[0], k[-1] + 1), slice(j[0] - 4, j[-1] + 5), slice(i[0] - 4, i[-1] + 5))
    m = image.ijk_to_ras.copy()
    m[:3, 3] = image.ijk_to_ras_points(np.array([box[2].start, box[1].start, box[0].start], dtype=float))
    vol = Volume(np.ascontiguousarray(image.array[box]), m)
    lesion = np.ascontiguousarray(label.array[box] > 0)
    seeds = []
    for name, compress in (("v.nrrd", True), ("raw.nrrd", False), ("v.nii", False), ("v.nii.gz", True)):
        seeds.append({"kind": "volume", "path": str(write_volume(vol, root / name, compress=compress))})
    dicom = write_dicom_series(vol, root / "series")
    seeds.append({"kind": "volume", "path": str(dicom[len(dicom) // 2])})
    source = read_volume(root / "series")
    seg = Segmentation.like(source)
    seg.add_segment(Segment("lesion", "Lesion", (1.0, 0.0, 0.0)), lesion)
    ring = np.zeros_like(lesion)
    ring[:, 2:6, 2:6] = True
    seg.add_segment(Segment("box", "Box", (0.0, 1.0, 0.0)), ring)
    seeds.append({"kind": "seg", "path": str(write_seg_nrrd(seg, root / "s.seg.nrrd"))})
    seeds.append({"kind": "labelmap", "path": str(write_labelmap(seg, root / "l.nii.gz")[0])})
    seeds.append({"kind": "labelmap", "path": str(write_labelmap(seg, root / "l.nrrd")[0])})
    seeds.append({"kind": "dicom-seg", "path": str(write_dicom_seg(seg, root / "seg.dcm", root / "series"))})
    pts = source.kji_to_ras(np.argwhere(lesion)[:3])
    write_markups(root / "p.mrk.json", MarkupPrompt("Tumour", pts, np.array([1, 1, 0])), "LPS")
    seeds.append({"kind": "markups", "path": str(root / "p.mrk.json")})
    write_markups(root / "r.mrk.json", MarkupPrompt("Box", box_ras=(pts[0] - 5, pts[0] + 5)), "RAS")
    seeds.append({"kind": "markups", "path": str(root / "r.mrk.json")})
    # COCO with a polygon and an RLE region on two slices of the lesion.
    h, w = lesion.shape[1:]
    images, anns = [], []
    for n, kk in enumerate(np.flatnonzero(lesion.any(axis=(1, 2)))[:2]):
        images.append({"id": n + 1, "file_name": f"s{kk}.png", "height": int(h), "width": int(w)})
        rle = mask_utils.encode(np.asfortranarray(lesion[kk].astype(np.uint8)))
        anns.append({"id": 2 * n + 1, "image_id": n + 1, "category_id": 1, "iscrowd": 0,
                     "segmentation": {"size": rle["size"], "counts": rle["counts"].decode()}})
        anns.append({"id": 2 * n + 2, "image_id": n + 1, "category_id": 2, "iscrowd": 0,
                     "segmentation": [[1, 1, 5, 1, 5, 5, 1, 5]]})
    coco = {"images": images, "annotations": anns,
            "categories": [{"id": 1, "name": "lesion", "isthing": 1}, {"id": 2, "name": "box", "isthing": 1}]}
    (root / "coco.json").write_text(json.dumps(coco))
    seeds.append({"kind": "coco", "path": str(root / "coco.json")})
    dataset = read_coco_instances(root / "coco.json")
    write_coco_panoptic(dataset, root / "x_panoptic.json")
    seeds.append({"kind": "panoptic", "path": str(root / "x_panoptic.json"), "png_dir": str(root / "x_panoptic")})
    png = sorted((root / "x_panoptic").iterdir())[0]
    seeds.append({"kind": "panoptic-png", "path": str(png), "json": str(root / "x_panoptic.json")})
    write_tasks(dataset, root / "tasks.json")
    seeds.append({"kind": "label-studio", "path": str(root / "tasks.json")})
    (root / "m.csv").write_text(
        "case,operation,volume,prompts,segmentation,output\n"
        f"a,segment,{root / 'v.nrrd'},{root / 'p.mrk.json'},,a.seg.nrrd\n"
        f"b,convert,,,{root / 's.seg.nrrd'},b.nii.gz\n")
    seeds.append({"kind": "manifest", "path": str(root / "m.csv")})
    (root / "m.json").write_text(json.dumps({"cases": [
        {"case": "a", "operation": "convert", "segmentation": str(root / "s.seg.nrrd"), "output": "a.nrrd"}]}))
    seeds.append({"kind": "manifest", "path": str(root / "m.json")})
    return seeds


# ---- mutations ---------------------------------------------------------------------------------------
def _json_nodes(doc, path=()):
    yield path
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _json_nodes(v, path + (k,))
    elif isinstance(doc, list):
        for n, v in enumerate(doc):
            yield from _json_nodes(v, path + (n,))


WEIRD = [None, "x", "", -1, 0, 1e308, -1e308, float("nan"), float("inf"), [], {}, [[]], True, 2**70, "../../x",
         "/etc/passwd", [float("nan")] * 6, {"size": [3, 3], "counts": "zz"}, [[1, 2, 3]], 40000]


def _mutate_json(text: str, rng: random.Random) -> tuple[str, str]:
    doc = json.loads(text)
    nodes = [p for p in _json_nodes(doc) if p]
    if not nodes or rng.random() < 0.15:
        return text[: rng.randrange(1, len(text))], "truncate"
    path = rng.choice(nodes)
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if rng.random() < 0.3 and isinstance(parent, dict):
        del parent[path[-1]]
        how = "drop"
    else:
        parent[path[-1]] = rng.choice(WEIRD)
        how = "node"
    return json.dumps(doc), how


def _mutate_csv(text: str, rng: random.Random) -> tuple[str, str]:
    lines = text.splitlines()
    choice = rng.random()
    if choice < 0.25:
        return text[: rng.randrange(1, len(text))], "truncate"
    n = rng.randrange(len(lines))
    cells = lines[n].split(",")
    cells[rng.randrange(len(cells))] = str(rng.choice(WEIRD))
    lines[n] = ",".join(cells) if rng.random() < 0.8 else ",".join(cells + ["extra"])
    return "\n".join(lines) + "\n", "cell"


def _mutate_binary(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    choice = rng.random()
    b = bytearray(data)
    if choice < 0.35:
        return bytes(b[: rng.randrange(1, len(b) - 1)]), "truncate"
    if choice < 0.6:
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(min(len(b), 600))] = rng.randrange(256)
        return bytes(b), "header"
    if choice < 0.75 and data.startswith(b"NRRD"):
        head, sep, body = data.partition(b"\n\n")
        lines = head.split(b"\n")
        n = rng.randrange(1, len(lines))
        key = lines[n].split(b":")[0]
        lines[n] = key + b": " + rng.choice([b"0 0 0", b"-5 4 3", b"99999 99999 99999", b"nan nan nan", b"raw",
                                              b"gzip", b"double", b"(nan,0,0) (0,1,0) (0,0,1)", b"1 2", b""])
        return b"\n".join(lines) + sep + body, "field"
    if choice < 0.9:
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        return bytes(b), "flip"
    return bytes(b) + bytes(rng.randrange(256) for _ in range(rng.randint(1, 300))), "append"


def _make_mutants(seeds: list[dict], root: Path, count: int) -> list[dict]:
    rng = random.Random(18)
    jobs = [{"kind": s["kind"], "path": s["path"], "extra": {}, "seed": n, "how": "none"}
            for n, s in enumerate(seeds)]
    for m in range(count):
        n = m % len(seeds)
        seed = seeds[n]
        folder = root / "mutants" / str(m)
        folder.mkdir(parents=True)
        src = Path(seed["path"])
        kind, extra = seed["kind"], {}
        if kind in BINARY_KINDS:
            data, how = _mutate_binary(src.read_bytes(), rng)
        else:
            text = src.read_text()
            data, how = (_mutate_csv if src.suffix == ".csv" else _mutate_json)(text, rng)
            data = data.encode()
        if kind == "panoptic-png":  # a damaged PNG under an intact panoptic JSON
            png_dir = folder / "x_panoptic"
            shutil.copytree(src.parent, png_dir)
            (png_dir / src.name).write_bytes(data)
            target = folder / "x_panoptic.json"
            shutil.copyfile(seed["json"], target)
            kind, extra = "panoptic", {"png_dir": str(png_dir)}
        else:
            target = folder / src.name
            target.write_bytes(data)
            for sidecar in src.parent.glob(src.name + ".csv"):  # a labelmap's colour table
                shutil.copyfile(sidecar, folder / sidecar.name)
            if kind == "panoptic":
                extra = {"png_dir": seed["png_dir"]}
            if kind == "manifest":  # inputs stay where the original manifest points
                pass
        jobs.append({"kind": kind, "path": str(target), "extra": extra, "seed": n, "how": how})
    for job, seed in zip(jobs, seeds):  # baselines read the panoptic PNGs from their own folder
        if seed["kind"] == "panoptic-png":
            job.update(kind="panoptic", path=seed["json"], extra={"png_dir": str(Path(seed["path"]).parent)})
        elif seed["kind"] == "panoptic":
            job["extra"] = {"png_dir": seed["png_dir"]}
    return jobs


def _run_worker(jobs: list[dict], root: Path) -> dict[int, dict]:
    """Run every job in worker processes; a worker that dies is restarted after the job it died on."""
    job_file = root / "jobs.json"
    job_file.write_text(json.dumps(jobs))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parents[1]), os.environ.get("PYTHONPATH", "")]),
           "PYTHONIOENCODING": "utf-8"}
    results: dict[int, dict] = {}
    start = 0
    while start < len(jobs):
        proc = subprocess.run([sys.executable, str(HERE / "fuzz_worker.py"), str(job_file), str(start)],
                              capture_output=True, text=True, encoding="utf-8", env=env, timeout=300)
        current = None
        for line in proc.stdout.splitlines():
            rec = json.loads(line)
            if "start" in rec:
                current = rec["start"]
            else:
                results[rec["i"]] = rec
                current = None
        if proc.returncode == 0 and current is None:
            break
        if current is None:
            raise AssertionError(f"fuzz worker failed outside a job (rc {proc.returncode}): {proc.stderr[-2000:]}")
        results[current] = {"i": current, "outcome": "crash", "message": f"worker died, rc {proc.returncode}: "
                                                                          f"{proc.stderr[-500:]}"}
        start = current + 1
    return results


def test_importers_survive_mutated_files(brain1, tmp_path):
    seeds = _seeds(brain1, tmp_path)
    jobs = _make_mutants(seeds, tmp_path, MUTANTS)
    results = _run_worker(jobs, tmp_path)
    baseline = {n: results[n] for n in range(len(seeds))}
    assert all(b["outcome"] == "ok" for b in baseline.values()), baseline
    problems = []
    for i, job in enumerate(jobs[len(seeds):], start=len(seeds)):
        r = results[i]
        label = f"mutant {i} ({job['kind']} {Path(job['path']).name}, {job['how']})"
        if r["outcome"] in ("traceback", "crash"):
            problems.append(f"{label}: {r['outcome']}: {r['message']} {r.get('where', '')}")
        elif r["outcome"] == "ok" and job["how"] == "truncate" and r["digest"] != baseline[job["seed"]]["digest"]:
            problems.append(f"{label}: read without error but with altered data")
    outcomes = [results[i]["outcome"] for i in range(len(seeds), len(jobs))]
    print(f"{len(outcomes)} mutants of {len(seeds)} files: {outcomes.count('refused')} refused, "
          f"{outcomes.count('ok')} read")
    assert not problems, "\n".join(problems)
    assert outcomes.count("refused") > len(outcomes) // 4  # the mutations really damage the files
