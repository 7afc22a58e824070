"""Benchmark of the 2D dataset codecs against their peers, in one process, on the real stardist nuclei.

  .venv/bin/python Testing/Benchmarks/bench_datasets2d.py [--repeat N]

Rows: Label Studio brush RLE encode/decode of all 126 regions (SegAssist vs label_studio_converter.brush),
COCO RLE instance export (SegAssist's writer vs a bare pycocotools encode loop, i.e. the writer's overhead),
COCO panoptic PNG ids (SegAssist's rgb2id/id2rgb vs panopticapi.utils). Prints median seconds and the ratio
SegAssist / peer (below 1 = SegAssist faster). Results are checked equal before timing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from benchlib import DATA, median_seconds

DATA = DATA / "stardist"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    repeat = ap.parse_args().repeat
    import tifffile
    from label_studio_converter import brush
    from panopticapi import utils as pan_utils
    from pycocotools import mask as M

    from SegAssistLib.formats.datasets2d import dataset_from_instance_labels
    from SegAssistLib.formats.datasets2d.coco_instances import write_coco_instances
    from SegAssistLib.formats.datasets2d.label_studio_tasks import decode_brush_rle, encode_brush_rle
    from SegAssistLib.formats.datasets2d.panoptic import id2rgb, rgb2id
    from SegAssistLib.formats.ontology import Ontology, OntologyClass

    labels = tifffile.imread(DATA / "mask2d.tif")
    masks = [labels == 0] + [labels == v for v in np.unique(labels)[1:]]
    ours_rle = [encode_brush_rle(m) for m in masks]
    assert ours_rle == [brush.mask2rle(np.where(m, 255, 0).astype(np.uint8)) for m in masks]
    assert all(np.array_equal(decode_brush_rle(r, 512, 512), m) for r, m in zip(ours_rle, masks))

    rows = []
    rows.append(("brush RLE encode, 126 masks 512x512",
                 median_seconds(lambda: [encode_brush_rle(m) for m in masks], repeat),
                 median_seconds(lambda: [brush.mask2rle(np.where(m, 255, 0).astype(np.uint8)) for m in masks], repeat),
                 "label_studio_converter"))
    rows.append(("brush RLE decode, 126 masks 512x512",
                 median_seconds(lambda: [decode_brush_rle(r, 512, 512) for r in ours_rle], repeat),
                 median_seconds(lambda: [brush.decode_rle(r).reshape(512, 512, 4)[:, :, 3] > 0 for r in ours_rle], repeat),
                 "label_studio_converter"))
    onto = Ontology([OntologyClass("background", (0, 0, 0), "stuff", 1), OntologyClass("nucleus", (255, 0, 0), "thing", 2)])
    data = dataset_from_instance_labels(labels, onto, "nucleus", "background", "img.png")
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(("COCO RLE export, 125 nuclei",
                     median_seconds(lambda: write_coco_instances(data, Path(tmp) / "c.json"), repeat),
                     median_seconds(lambda: [M.encode(np.asfortranarray(m.astype(np.uint8))) for m in masks[1:]], repeat),
                     "pycocotools encode only"))
    ids = labels.astype(np.uint32)
    assert np.array_equal(id2rgb(ids), pan_utils.id2rgb(ids)) and np.array_equal(rgb2id(id2rgb(ids)), pan_utils.rgb2id(pan_utils.id2rgb(ids)))
    rows.append(("panoptic id2rgb + rgb2id 512x512",
                 median_seconds(lambda: rgb2id(id2rgb(ids)), repeat * 10),
                 median_seconds(lambda: pan_utils.rgb2id(pan_utils.id2rgb(ids)), repeat * 10), "panopticapi.utils"))

    print(f"{'operation':<40} {'SegAssist s':>12} {'peer s':>10} {'ratio':>7}  peer")
    for name, ours, peer, who in rows:
        print(f"{name:<40} {ours:>12.4f} {peer:>10.4f} {ours / peer:>7.2f}  {who}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
