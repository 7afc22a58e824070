"""The development set of issue 14: the split is fixed, disjoint, stratified, and matches the real data."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "Benchmarks"))
import devset  # noqa: E402


def test_split_is_written_once_disjoint_and_large_enough():
    split = devset.read_split()
    tuning, heldout = set(split["tuning"]), set(split["heldout"])
    assert not tuning & heldout
    assert len(tuning) + len(heldout) >= 30
    assert set(split["structures"]) == tuning | heldout
    # Fixed once: writing again is refused rather than silently reshuffling the halves.
    try:
        devset.write_split()
    except SystemExit as exc:
        assert "fixed once" in str(exc)
    else:  # pragma: no cover - would have overwritten the split
        raise AssertionError("write_split overwrote the fixed split")


def test_split_is_stratified_over_at_least_four_sources_ct_and_mr():
    split = devset.read_split()
    info = split["structures"]
    sources = {v["source"] for v in info.values()}
    assert len(sources) >= 4
    for source in sources:
        n_t = sum(info[i]["source"] == source for i in split["tuning"])
        n_h = sum(info[i]["source"] == source for i in split["heldout"])
        assert abs(n_t - n_h) <= 1, (source, n_t, n_h)
    modalities = {v["modality"] for v in info.values()}
    kinds = {v["kind"] for v in info.values()}
    assert {"CT", "MR"} <= modalities
    assert {"organ", "lesion", "brain"} <= kinds


def test_split_names_exactly_the_structures_the_data_holds():
    split = devset.read_split()
    ids = [s.id for s in devset.structures()]
    assert sorted(ids) == sorted(split["tuning"] + split["heldout"])


def test_a_structure_of_each_source_loads_with_its_recorded_size():
    split = devset.read_split()
    seen = set()
    for s in devset.half("heldout"):
        if s.source in seen or s.id == "mni152/brain":
            continue
        seen.add(s.source)
        image, mask = s.load()
        assert mask.shape == image.shape and mask.dtype == bool
        assert int(mask.sum()) == split["structures"][s.id]["voxels"]
        assert np.asarray(image.array).std() > 0
    assert len(seen) >= 4
