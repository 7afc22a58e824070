"""Label Studio brush RLE and tasks: byte-identical to label_studio_converter's encoder, decodes its output
to the exact source mask, round-trips tasks, and refuses an RLE of the wrong length."""

from __future__ import annotations

import json

import numpy as np
import pytest

from SegAssistLib.formats.datasets2d import dataset_from_instance_labels
from SegAssistLib.formats.datasets2d.label_studio_tasks import (
    decode_brush_rle, decode_rle_values, encode_brush_rle, read_tasks, write_tasks,
)
from SegAssistLib.errors import FormatError
from SegAssistLib.formats.ontology import Ontology, OntologyClass
from SegAssistLib.formats.ontology.label_studio import labeling_config, parse_labeling_config

brush = pytest.importorskip("label_studio_converter.brush")


@pytest.fixture(scope="module")
def labels(stardist_dir):
    import tifffile

    return tifffile.imread(stardist_dir / "mask2d.tif")


@pytest.fixture(scope="module")
def ontology():
    return Ontology([OntologyClass("background", (0, 0, 0), "stuff", 1),
                     OntologyClass("nucleus", (255, 64, 64), "thing", 2)])


def test_encoder_matches_label_studio_converter_byte_for_byte(labels):
    masks = [labels > 0, labels == 0, np.zeros_like(labels, bool), np.ones((300, 300), bool)]
    masks += [labels == v for v in np.unique(labels)[1:]]  # some streams end on a byte boundary
    for mask in masks:
        ref = brush.mask2rle(np.where(mask, 255, 0).astype(np.uint8))
        assert encode_brush_rle(mask) == ref


def test_decoder_reads_label_studio_output_exactly(labels):
    mask = labels > 0
    rle = brush.mask2rle(np.where(mask, 255, 0).astype(np.uint8))
    assert np.array_equal(decode_brush_rle(rle, *mask.shape), mask)
    # And label_studio_converter decodes ours to the same RGBA image.
    ours = brush.decode_rle(encode_brush_rle(mask)).reshape(512, 512, 4)[:, :, 3]
    assert np.array_equal(ours > 0, mask)


def test_decoder_reads_literal_runs():
    # rle-pack literal chunks (flag 0), as the browser writes for noisy data: values 1, 2, 3 then a run of 5 x 7.
    values = np.array([1, 2, 3, 7, 7, 7, 7, 7], np.uint8)
    fields = [(8, 32), (7, 5), (2, 4), (3, 4), (7, 4), (15, 4), (0, 1), (0, 2), (2, 3), (1, 8), (2, 8), (3, 8),
              (1, 1), (0, 2), (4, 3), (7, 8)]
    bits = "".join(format(v, f"0{w}b") for v, w in fields)
    bits += "0" * (-len(bits) % 8)
    data = [int(bits[i : i + 8], 2) for i in range(0, len(bits), 8)]
    assert decode_rle_values(data).tolist() == values.tolist()
    assert brush.decode_rle(data).tolist() == values.tolist()


def test_wrong_length_and_garbage_are_clear_errors(labels):
    rle = encode_brush_rle(labels > 0)
    with pytest.raises(FormatError, match="wrong length"):
        decode_brush_rle(rle, 256, 512)
    with pytest.raises(FormatError, match="ends early"):
        decode_brush_rle(rle[: len(rle) // 2], 512, 512)
    with pytest.raises(FormatError, match="byte values"):
        decode_brush_rle([1, 2, 300], 512, 512)


def test_tasks_round_trip_with_labeling_config(labels, ontology, tmp_path):
    dataset = dataset_from_instance_labels(labels, ontology, "nucleus", "background", "img2d.png")
    write_tasks(dataset, tmp_path / "tasks.json")
    tasks = json.loads((tmp_path / "tasks.json").read_text())
    assert tasks[0]["data"]["image"].endswith("img2d.png")
    assert len(tasks[0]["predictions"][0]["result"]) == 126
    config = parse_labeling_config(labeling_config(ontology))
    back = read_tasks(tmp_path / "tasks.json", config, source="predictions")
    src, got = dataset.samples[0].regions, back.samples[0].regions
    assert len(got) == len(src)
    assert all(np.array_equal(a.mask, b.mask) and a.class_id == b.class_id for a, b in zip(src, got))
    # Label Studio's own decoder reads every exported result to the same mask.
    res = tasks[0]["predictions"][0]["result"][5]
    layers = brush.decode_from_annotation("tag", [{**res, **res["value"]}])
    assert np.array_equal(next(iter(layers.values())) > 0, src[5].mask)


def test_unknown_label_is_refused(labels, ontology, tmp_path):
    dataset = dataset_from_instance_labels(labels[:64, :64], ontology, "nucleus", None, "crop.png")
    write_tasks(dataset, tmp_path / "t.json")
    other = Ontology([OntologyClass("cell", (1, 2, 3), "thing", 1)])
    with pytest.raises(FormatError, match="not in the labeling config"):
        read_tasks(tmp_path / "t.json", other, source="predictions")
