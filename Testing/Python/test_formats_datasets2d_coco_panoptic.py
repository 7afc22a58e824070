"""Acceptance for 2D instance and panoptic export with the real stardist nuclei (things) and background
(stuff): pycocotools' COCOeval gives AP = 1.0 and panopticapi's pq_compute gives PQ = 1.0 against ground
truth built directly from the source mask, and a perturbed copy scores below 1.0."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
from PIL import Image

from SegAssistLib.formats.datasets2d import Region2D, dataset_from_instance_labels
from SegAssistLib.formats.datasets2d.coco_instances import read_coco_instances, write_coco_instances
from SegAssistLib.formats.datasets2d.panoptic import (
    read_cityscapes_instance_ids, read_coco_panoptic, write_cityscapes_instance_ids, write_coco_panoptic,
)
from SegAssistLib.errors import FormatError
from SegAssistLib.formats.ontology import Ontology, OntologyClass

BACKGROUND, NUCLEUS = 1, 2


@pytest.fixture(scope="module")
def nuclei(stardist_dir):
    import tifffile

    return tifffile.imread(stardist_dir / "mask2d.tif"), tifffile.imread(stardist_dir / "img2d.tif")


@pytest.fixture(scope="module")
def ontology():
    return Ontology([OntologyClass("background", (0, 0, 0), "stuff", BACKGROUND),
                     OntologyClass("nucleus", (255, 64, 64), "thing", NUCLEUS)])


@pytest.fixture
def dataset(nuclei, ontology):
    labels, image = nuclei
    return dataset_from_instance_labels(labels, ontology, "nucleus", "background", "img2d.tif", image)


def _coco_gt(labels):
    """COCO ground truth made straight from the label image with pycocotools (not through SegAssist)."""
    from pycocotools import mask as M

    anns = []
    for n, v in enumerate(np.unique(labels)[1:], start=1):
        rle = M.encode(np.asfortranarray((labels == v).astype(np.uint8)))
        rle["counts"] = rle["counts"].decode()
        anns.append({"id": n, "image_id": 1, "category_id": NUCLEUS, "segmentation": rle, "iscrowd": 0,
                     "area": float(M.area(rle)), "bbox": M.toBbox(rle).tolist()})
    return {"images": [{"id": 1, "file_name": "img2d.tif", "height": labels.shape[0], "width": labels.shape[1]}],
            "annotations": anns, "categories": [{"id": NUCLEUS, "name": "nucleus"}]}


def _segm_ap(gt_doc, results):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = gt_doc
        gt.createIndex()
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, "segm")
        ev.params.maxDets = [1, 10, 1000]  # COCO caps at 100 detections per image; this image has 125 nuclei
        ev.evaluate()
        ev.accumulate()
    # AP@[.5:.95], all areas, at the 1000-detection cap (what summarize() reports as stats[0] at 100).
    precision = ev.eval["precision"][:, :, 0, 0, -1]
    return float(precision[precision > -1].mean())


@pytest.mark.parametrize("encoding", ["rle", "polygon"])
def test_coco_instance_export_scores_ap_1(encoding, dataset, nuclei, tmp_path):
    labels, _ = nuclei
    path = write_coco_instances(dataset, tmp_path / "instances.json", encoding=encoding)
    doc = json.loads(path.read_text())
    assert len(doc["annotations"]) == len(np.unique(labels)) - 1 == 125
    from pycocotools import mask as M

    def as_rle(seg):  # COCO results hold RLE: pycocotools rasterises our polygons
        return M.merge(M.frPyObjects(seg, 512, 512)) if isinstance(seg, list) else seg

    results = [{"image_id": a["image_id"], "category_id": a["category_id"], "segmentation": as_rle(a["segmentation"]),
                "score": 1.0} for a in doc["annotations"]]
    assert _segm_ap(_coco_gt(labels), results) == pytest.approx(1.0)
    # Perturbed copy: every nucleus grown by one pixel ring -> IoU drops under the strict thresholds.
    from scipy import ndimage

    from SegAssistLib.formats.datasets2d.coco_instances import mask_to_rle

    grown = [{"image_id": 1, "category_id": NUCLEUS, "score": 1.0,
              "segmentation": mask_to_rle(ndimage.binary_dilation(labels == v, iterations=2))}
             for v in np.unique(labels)[1:]]
    assert _segm_ap(_coco_gt(labels), grown) < 0.9


def test_coco_instances_read_back_exact(dataset, nuclei, tmp_path):
    labels, _ = nuclei
    write_coco_instances(dataset, tmp_path / "i.json", encoding="polygon", include_stuff=True)
    back = read_coco_instances(tmp_path / "i.json")
    regions = back.samples[0].regions
    assert [c.name for c in back.ontology] == ["background", "nucleus"]
    things = [r.mask for r in regions if r.class_id == NUCLEUS]
    rebuilt = np.zeros(labels.shape, np.int32)
    for n, m in enumerate(things, start=1):
        rebuilt[m] = n
    # Same partition of the pixels as the source (ids renumbered).
    assert (rebuilt > 0).sum() == (labels > 0).sum()
    for v in np.unique(labels)[1:]:
        assert len(np.unique(rebuilt[labels == v])) == 1


def _panoptic_gt(labels, folder):
    """COCO panoptic ground truth straight from the label image, with panopticapi's own id2rgb."""
    from panopticapi.utils import id2rgb

    ids = labels.astype(np.int64).copy()
    ids[labels == 0] = 1000  # background stuff segment
    folder.mkdir()
    Image.fromarray(id2rgb(ids)).save(folder / "img2d.png")
    infos = [{"id": int(v), "category_id": NUCLEUS if v != 1000 else BACKGROUND, "iscrowd": 0,
              "area": int((ids == v).sum())} for v in np.unique(ids)]
    doc = {"images": [{"id": 1, "file_name": "img2d.tif", "height": 512, "width": 512}],
           "annotations": [{"image_id": 1, "file_name": "img2d.png", "segments_info": infos}],
           "categories": [{"id": BACKGROUND, "name": "background", "isthing": 0},
                          {"id": NUCLEUS, "name": "nucleus", "isthing": 1}]}
    (folder.parent / "gt.json").write_text(json.dumps(doc))
    return folder.parent / "gt.json"


def _pq(gt_json, pred_json, gt_dir, pred_dir):
    from panopticapi.evaluation import pq_compute

    with contextlib.redirect_stdout(io.StringIO()):
        return pq_compute(str(gt_json), str(pred_json), str(gt_dir), str(pred_dir))


def test_panoptic_export_scores_pq_1_and_perturbed_less(dataset, nuclei, tmp_path):
    labels, _ = nuclei
    gt_json = _panoptic_gt(labels, tmp_path / "gt")
    pred_json = write_coco_panoptic(dataset, tmp_path / "pred.json")
    result = _pq(gt_json, pred_json, tmp_path / "gt", tmp_path / "pred")
    assert result["All"]["pq"] == pytest.approx(1.0)
    assert result["Things"]["n"] == 1 and result["Stuff"]["n"] == 1
    # Perturb: half of the nuclei lose most of their pixels to the background.
    from panopticapi.utils import id2rgb, rgb2id

    ids = rgb2id(np.array(Image.open(tmp_path / "pred" / "img2d.png")))
    doc = json.loads(pred_json.read_text())
    infos = doc["annotations"][0]["segments_info"]
    bg = next(i["id"] for i in infos if i["category_id"] == BACKGROUND)
    from scipy import ndimage

    for info in infos[1::2]:
        if info["category_id"] == NUCLEUS:
            m = ids == info["id"]
            ids[m & ~ndimage.binary_erosion(m, iterations=3)] = bg
    (tmp_path / "bad").mkdir()
    Image.fromarray(id2rgb(ids)).save(tmp_path / "bad" / "img2d.png")
    for info in infos:
        info["area"] = int((ids == info["id"]).sum())
    infos[:] = [i for i in infos if i["area"]]
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    assert _pq(gt_json, tmp_path / "bad.json", tmp_path / "gt", tmp_path / "bad")["All"]["pq"] < 0.95


def test_panoptic_read_back_and_cityscapes(dataset, nuclei, ontology, tmp_path):
    labels, _ = nuclei
    write_coco_panoptic(dataset, tmp_path / "p.json")
    back = read_coco_panoptic(tmp_path / "p.json")
    sample = back.samples[0]
    assert sample.name == "img2d.tif"
    assert sum(r.class_id == NUCLEUS for r in sample.regions) == 125
    bg = next(r for r in sample.regions if r.class_id == BACKGROUND)
    assert np.array_equal(bg.mask, labels == 0)
    (path,) = write_cityscapes_instance_ids(dataset, tmp_path / "cs")
    values = np.array(Image.open(path))
    assert values.max() == NUCLEUS * 1000 + 124 and set(np.unique(values[labels == 0])) == {BACKGROUND}
    cs = read_cityscapes_instance_ids(path, ontology)
    assert sum(r.class_id == NUCLEUS for r in cs.regions) == 125


def test_overlapping_things_are_refused_and_nothing_written(dataset, nuclei, tmp_path):
    labels, _ = nuclei
    sample = dataset.samples[0]
    first = next(r for r in sample.regions if r.class_id == NUCLEUS)
    from scipy import ndimage

    sample.add(Region2D(ndimage.binary_dilation(first.mask, iterations=3), NUCLEUS))
    with pytest.raises(FormatError, match="overlapping things"):
        write_coco_panoptic(dataset, tmp_path / "p.json")
    assert not list(tmp_path.iterdir())
    # With the stated rule the earlier thing keeps the shared pixels.
    write_coco_panoptic(dataset, tmp_path / "p.json", overlap="first")
    back = read_coco_panoptic(tmp_path / "p.json")
    kept = next(r for r in back.samples[0].regions if r.class_id == NUCLEUS)
    assert np.array_equal(kept.mask, first.mask)


def test_malformed_panoptic_and_coco_inputs(dataset, tmp_path):
    write_coco_panoptic(dataset, tmp_path / "p.json")
    doc = json.loads((tmp_path / "p.json").read_text())
    infos = doc["annotations"][0]["segments_info"]
    dup = json.loads(json.dumps(doc))
    dup["annotations"][0]["segments_info"].append(dict(infos[-1]))
    (tmp_path / "dup.json").write_text(json.dumps(dup))
    with pytest.raises(FormatError, match="overlapping things"):
        read_coco_panoptic(tmp_path / "dup.json", tmp_path / "p")
    unknown = json.loads(json.dumps(doc))
    unknown["annotations"][0]["segments_info"][3]["category_id"] = 99
    (tmp_path / "unk.json").write_text(json.dumps(unknown))
    with pytest.raises(FormatError, match="Unknown category id 99"):
        read_coco_panoptic(tmp_path / "unk.json", tmp_path / "p")
    missing = json.loads(json.dumps(doc))
    del missing["annotations"][0]["segments_info"][5]
    (tmp_path / "miss.json").write_text(json.dumps(missing))
    with pytest.raises(FormatError, match="does not list"):
        read_coco_panoptic(tmp_path / "miss.json", tmp_path / "p")

    write_coco_instances(dataset, tmp_path / "i.json")
    coco = json.loads((tmp_path / "i.json").read_text())
    wrong = json.loads(json.dumps(coco))
    wrong["annotations"][0]["segmentation"] = {"size": [512, 512], "counts": [100, 20, 5]}
    (tmp_path / "wrong.json").write_text(json.dumps(wrong))
    with pytest.raises(FormatError, match="wrong length"):
        read_coco_instances(tmp_path / "wrong.json")
    wrong["annotations"][0]["segmentation"] = dict(coco["annotations"][0]["segmentation"])
    wrong["annotations"][0]["segmentation"]["counts"] = coco["annotations"][0]["segmentation"]["counts"][:-3]
    (tmp_path / "wrong2.json").write_text(json.dumps(wrong))
    with pytest.raises(FormatError, match="annotation 1"):
        read_coco_instances(tmp_path / "wrong2.json")
    coco["annotations"][2]["category_id"] = 7
    (tmp_path / "cat.json").write_text(json.dumps(coco))
    with pytest.raises(FormatError, match="Unknown category id 7"):
        read_coco_instances(tmp_path / "cat.json")


def test_a_failed_rewrite_leaves_the_previous_dataset_whole(dataset, tmp_path, monkeypatch):
    """The PNGs and the JSON of a panoptic (or semantic) dataset land together: when the last file cannot be
    written (a full disk, simulated by a failing JSON writer), the PNGs written before it do not replace the
    previous ones, and no temporary file is left."""
    from SegAssistLib.formats.datasets2d import panoptic, semantic

    write_coco_panoptic(dataset, tmp_path / "p.json")
    semantic.write_semantic(dataset, tmp_path / "sem")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    regions = dataset.samples[0].regions
    del regions[next(i for i, r in enumerate(regions) if r.class_id == NUCLEUS)]  # the new PNGs differ

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(panoptic, "write_json", full_disk)
    monkeypatch.setattr(semantic, "write_coco_categories", full_disk)
    with pytest.raises(OSError, match="No space"):
        write_coco_panoptic(dataset, tmp_path / "p.json")
    with pytest.raises(OSError, match="No space"):
        semantic.write_semantic(dataset, tmp_path / "sem")
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before
    monkeypatch.undo()
    write_coco_panoptic(dataset, tmp_path / "p.json")  # and a good rewrite replaces it
    assert (tmp_path / "p" / "img2d.png").read_bytes() != before[tmp_path / "p" / "img2d.png"]
