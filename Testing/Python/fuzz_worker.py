"""Worker process of the importer fuzz suite (test_io_fuzz.py): reads mutated files with SegAssist's real
importers and reports, one JSON line per file, whether the importer returned (with a digest of what it
read), refused with a SegAssistError (the CLI's clean exit 2), or raised anything else (a traceback).

Run as ``python fuzz_worker.py JOBS.json START``; a line ``{"start": i}`` precedes each job so the parent
knows which file was being read when the process died (a segfault in native code). Memory is capped so a
file that makes a reader allocate without bound shows as a failure instead of taking the machine.
"""

from __future__ import annotations

import hashlib
import json
import resource
import sys
import traceback

import numpy as np


def _digest_arrays(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str(a.shape).encode() + str(a.dtype).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def _segmentation_digest(seg) -> str:
    masks = [seg.mask(s.id) for s in seg]
    names = ",".join(s.name for s in seg)
    return names + ":" + _digest_arrays(np.round(seg.ijk_to_ras, 4), *masks)


def _dataset_digest(ds) -> str:
    parts = []
    for s in ds.samples:
        parts.append(s.name)
        parts += [_digest_arrays(r.mask) + str(r.class_id) for r in s.regions]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def read(kind: str, path: str, extra: dict) -> str:
    if kind == "volume":
        from SegAssistLib.io.volumes import read_volume

        v = read_volume(path)
        return _digest_arrays(v.array, np.round(v.ijk_to_ras, 4))
    if kind in ("seg", "labelmap", "dicom-seg"):
        from SegAssistLib.io.segmentation_files import read_segmentation

        return _segmentation_digest(read_segmentation(path))
    if kind == "markups":
        from SegAssistLib.io.markups import read_markups

        prompts = read_markups(path)
        return _digest_arrays(*[np.asarray(p.points_ras, float) for p in prompts],
                              *[np.asarray(p.box_ras if p.box_ras is not None else [], float) for p in prompts])
    if kind == "coco":
        from SegAssistLib.formats.datasets2d.coco_instances import read_coco_instances

        return _dataset_digest(read_coco_instances(path, extra.get("images_dir")))
    if kind == "panoptic":
        from SegAssistLib.formats.datasets2d.panoptic import read_coco_panoptic

        return _dataset_digest(read_coco_panoptic(path, extra.get("png_dir")))
    if kind == "label-studio":
        from SegAssistLib.formats.datasets2d.label_studio_tasks import read_tasks

        return _dataset_digest(read_tasks(path))
    if kind == "manifest":
        from SegAssistLib.batch import read_manifest

        cases = read_manifest(path)
        return hashlib.sha256(json.dumps([c.to_dict() for c in cases], sort_keys=True).encode()).hexdigest()[:16]
    raise ValueError(kind)


def main() -> None:
    jobs = json.loads(open(sys.argv[1]).read())
    start = int(sys.argv[2])
    limit = 3 << 30
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    from SegAssistLib.errors import SegAssistError

    for i in range(start, len(jobs)):
        job = jobs[i]
        print(json.dumps({"start": i}), flush=True)
        try:
            out = {"i": i, "outcome": "ok", "digest": read(job["kind"], job["path"], job.get("extra", {}))}
        except SegAssistError as exc:
            out = {"i": i, "outcome": "refused", "message": str(exc)[:300]}
        except BaseException as exc:  # noqa: BLE001 - every other exception is what the suite looks for
            out = {"i": i, "outcome": "traceback", "message": f"{type(exc).__name__}: {exc}"[:300],
                   "where": traceback.format_exc().splitlines()[-3:]}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
