"""Label Studio tasks with brush masks: the brush RLE codec and task JSON import/export.

Label Studio stores a brush mask as an RGBA image (the mask in every channel, 255 inside) flattened row by
row and packed with the bit-level RLE of thi-ng's ``rle-pack`` (the format of
``label_studio_converter.brush``):

* header: 32 bits value count, 5 bits ``word_size - 1``, four times 4 bits ``rle_size - 1``;
* then chunks: 1 flag bit, 2 bits choosing one of the four run-length field sizes, the run length minus one
  in that many bits; flag 1 = one word repeated over the run, flag 0 = that many literal words follow.

:func:`encode_brush_rle` writes exactly what ``label_studio_converter.brush.mask2rle`` writes (word size 8,
run sizes 3/4/8/16); :func:`decode_brush_rle` reads any valid stream (including the browser's literal runs)
and checks its length, so a mask from another image size is an error, not a silently wrong picture. Both are
vectorised over runs rather than bits, which keeps large masks fast (see Testing/Benchmarks).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import numpy as np

from SegAssistLib.formats.datasets2d.model import Dataset2D, Region2D, Sample2D
from SegAssistLib.errors import FormatError
from SegAssistLib.io.jsonfile import read_json, write_json
from SegAssistLib.formats.ontology.model import Ontology, OntologyClass

_RLE_SIZES = (3, 4, 8, 16)


# ---- codec --------------------------------------------------------------------------------------
def encode_rle_values(values: np.ndarray, word_size: int = 8) -> list[int]:
    """rle-pack bytes of a 1D array of unsigned values below ``2**word_size`` (as Label Studio encodes)."""
    values = np.asarray(values).ravel()
    if values.size and (values.min() < 0 or values.max() >= 2**word_size):
        raise FormatError(f"Brush RLE values must be in 0..{2**word_size - 1}.")
    n = int(values.size)
    fields: list[tuple[int, int]] = [(n, 32), (word_size - 1, 5)] + [(s - 1, 4) for s in _RLE_SIZES]
    if n:
        change = np.flatnonzero(values[1:] != values[:-1]) + 1
        starts = np.concatenate([[0], change])
        lengths = np.diff(np.concatenate([starts, [n]]))
        for length, value in zip(lengths.tolist(), values[starts].tolist()):
            if length == 1:
                fields += [(0, 1), (0, 2), (0, 3), (value, word_size)]
                continue
            while length > 2**16:
                fields += [(1, 1), (3, 2), (2**16 - 1, 16), (value, word_size)]
                length -= 2**16
            size_index = 0 if length <= 8 else 1 if length <= 16 else 2 if length <= 256 else 3
            fields += [(1, 1), (size_index, 2), (length - 1, _RLE_SIZES[size_index]), (value, word_size)]
    return _pack(fields)


def _pack(fields: list[tuple[int, int]]) -> list[int]:
    vals = np.array([f[0] for f in fields], dtype=np.uint64)
    widths = np.array([f[1] for f in fields], dtype=np.int64)
    # Expand every field into its bits, most significant first.
    offsets = np.repeat(np.cumsum(widths) - widths, widths)
    position = np.arange(int(widths.sum())) - offsets
    owner = np.repeat(np.arange(len(fields)), widths)
    shift = (widths[owner] - 1 - position).astype(np.uint64)
    bits = ((vals[owner] >> shift) & np.uint64(1)).astype(np.uint8)
    packed = np.packbits(bits).tolist()
    # label_studio_converter pads with 8 - len % 8 zero bits, i.e. a whole zero byte when the stream already
    # ends on a byte boundary; do the same so that the bytes are identical (decoders ignore the padding).
    return packed + [0] if bits.size % 8 == 0 else packed


def decode_rle_values(rle, expected: int | None = None, where: str = "brush RLE") -> np.ndarray:
    """Values of an rle-pack byte sequence; ``expected`` is the value count the caller needs."""
    try:
        data = np.asarray(rle, dtype=np.int64)
        if data.ndim != 1 or (data.size and (data.min() < 0 or data.max() > 255)):
            raise ValueError
    except (TypeError, ValueError):
        raise FormatError(f"{where}: the RLE must be a list of byte values 0..255.") from None
    bitstr = (np.unpackbits(data.astype(np.uint8)) + 48).tobytes().decode("ascii")
    total = len(bitstr)
    pos = 0

    def read(nbits: int) -> int:
        nonlocal pos
        if pos + nbits > total:
            raise FormatError(f"{where}: the RLE ends early (truncated or not a Label Studio brush RLE).")
        v = int(bitstr[pos : pos + nbits], 2)
        pos += nbits
        return v

    num = read(32)
    word = read(5) + 1
    sizes = [read(4) + 1 for _ in range(4)]
    if expected is not None and num != expected:
        raise FormatError(f"{where}: RLE of the wrong length: it holds {num} values but the image needs {expected} "
                          "(width x height x 4). Is original_width/original_height that of the mask?")
    out = np.zeros(num, dtype=np.uint8 if word <= 8 else np.uint16 if word <= 16 else np.uint32)
    i = 0
    while i < num:
        repeat = read(1)
        j = i + 1 + read(sizes[read(2)])
        if j > num:
            raise FormatError(f"{where}: a run goes past the {num} values the header announces.")
        if repeat:
            out[i:j] = read(word)
        else:
            for k in range(i, j):
                out[k] = read(word)
        i = j
    return out


def encode_brush_rle(mask: np.ndarray) -> list[int]:
    """Label Studio brush RLE of a bool/0-255 (rows, cols) mask (RGBA, 255 inside, as ``mask2rle`` does)."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise FormatError(f"A brush mask must be 2D (rows, cols); got shape {mask.shape}.")
    values = np.where(mask > 0, 255, 0).astype(np.uint8) if mask.dtype == bool else mask.astype(np.uint8)
    return encode_rle_values(np.repeat(values.ravel(), 4))


def decode_brush_rle(rle, height: int, width: int, where: str = "brush RLE") -> np.ndarray:
    """Bool (height, width) mask of a Label Studio brush RLE (alpha channel > 0)."""
    values = decode_rle_values(rle, height * width * 4, where)
    return values.reshape(height, width, 4)[:, :, 3] > 0


# ---- tasks --------------------------------------------------------------------------------------
def dataset_to_tasks(dataset: Dataset2D, image_root: str = "/data/local-files/?d=", from_name: str = "tag",
                     to_name: str = "image", model_version: str = "segassist") -> list[dict]:
    """Label Studio tasks (one per image) whose ``predictions`` hold one brush result per region."""
    dataset.check("Label Studio export")
    tasks = []
    for sample in dataset.samples:
        h, w = sample.shape
        results = []
        for region in sample.regions:
            if not region.mask.any():
                continue
            results.append({
                "id": uuid.uuid5(uuid.NAMESPACE_URL, f"{sample.name}/{len(results)}").hex[:10],
                "from_name": from_name, "to_name": to_name, "type": "brushlabels",
                "original_width": w, "original_height": h, "image_rotation": 0,
                "value": {"format": "rle", "rle": encode_brush_rle(region.mask),
                          "brushlabels": [dataset.ontology.by_id(region.class_id).name]},
                **({"score": float(region.score)} if region.score is not None else {}),
            })
        tasks.append({"data": {to_name: image_root + sample.name},
                      "predictions": [{"model_version": model_version, "result": results}]})
    return tasks


def write_tasks(dataset: Dataset2D, json_path: str | os.PathLike, **options) -> Path:
    """Write :func:`dataset_to_tasks` as a Label Studio import JSON file."""
    json_path = Path(json_path)
    tasks = dataset_to_tasks(dataset, **options)
    return write_json(json_path, tasks, indent=None)


def tasks_to_dataset(tasks: list, ontology: Ontology | None = None, where: str = "Label Studio tasks",
                     source: str = "annotations") -> Dataset2D:
    """Brush results of ``source`` ("annotations" or "predictions") of exported tasks as a dataset.

    Label names map to ``ontology`` classes (an unknown label is an error); without an ontology every label
    becomes a thing class in order of appearance.
    """
    if not isinstance(tasks, list):
        raise FormatError(f"{where}: expected a list of tasks.")
    from SegAssistLib.io.jsonfile import malformed

    for t, task in enumerate(tasks):
        if not isinstance(task, dict):
            raise FormatError(f"{where}: task {t} is not an object.")
    with malformed(where, "Label Studio export"):
        return _tasks_to_dataset(tasks, ontology, where, source)


def _tasks_to_dataset(tasks: list, ontology: Ontology | None, where: str, source: str) -> Dataset2D:
    from SegAssistLib.io.declared_size import check_image_size

    fixed = ontology is not None
    ontology = ontology if fixed else Ontology()
    dataset = Dataset2D(ontology)
    for t, task in enumerate(tasks):
        data = task.get("data") or {}
        name = next((str(v) for v in data.values() if isinstance(v, str)), f"task_{task.get('id', t)}")
        name = name.split("?d=")[-1].split("/")[-1].split("\\")[-1]
        if name in ("", ".", ".."):  # a URL ending in a folder: name the image after the task instead
            name = f"task_{task.get('id', t)}"
        sample = None
        for entry in task.get(source) or task.get("predictions" if source == "annotations" else "annotations") or []:
            for n, res in enumerate(entry.get("result") or []):
                value = res.get("value") or {}
                if value.get("format") != "rle" and "rle" not in value:
                    continue
                rwhere = f"{where}, task {task.get('id', t)}, result {res.get('id', n)}"
                try:
                    h, w = int(res["original_height"]), int(res["original_width"])
                except (KeyError, TypeError, ValueError):
                    raise FormatError(f"{rwhere}: original_width/original_height are missing.") from None
                check_image_size(h, w, rwhere)
                mask = decode_brush_rle(value.get("rle"), h, w, rwhere)
                labels = value.get("brushlabels") or value.get("labels") or []
                if not labels:
                    raise FormatError(f"{rwhere}: the brush result has no label.")
                if labels[0] not in ontology.names:
                    if fixed:
                        raise FormatError(f"{rwhere}: label {labels[0]!r} is not in the labeling config "
                                          f"({ontology.names}).")
                    ontology.add(OntologyClass(labels[0], (128, 174, 128), "thing"))
                if sample is None:
                    sample = Sample2D(name, (h, w))
                    dataset.samples.append(sample)
                sample.add(Region2D(mask, ontology.by_name(labels[0]).id, res.get("score")))
    return dataset


def read_tasks(json_path: str | os.PathLike, ontology: Ontology | None = None, source: str = "annotations") -> Dataset2D:
    json_path = Path(json_path)
    tasks = read_json(json_path)
    return tasks_to_dataset(tasks, ontology, str(json_path), source)
