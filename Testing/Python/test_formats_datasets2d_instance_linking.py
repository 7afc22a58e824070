"""Per-slice 2D instances joined into 3D instances by overlap (``import_stack(link_instances=...)``,
``segassist convert --link-instances``).

Two sources of truth, both real anatomy or real shapes:

* the stardist nuclei (real 2D instance shapes) stacked into 3D: nucleus n on slice k is the nucleus eroded
  by |k - 2| pixels, a spheroid-like cell; every slice numbers its nuclei in its own shuffled order, as a
  per-slice annotation tool would. The stacking is synthetic, the shapes are not;
* lung2's bones (CT above 250 HU): the 3D connected components are the truth, and the 2D regions are each
  slice's connected components.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from SegAssistLib.formats.datasets2d import Dataset2D, Region2D, Sample2D
from SegAssistLib.formats.datasets2d.coco_instances import read_coco_instances, write_coco_instances
from SegAssistLib.formats.datasets2d.instance_linking import iou_matrix, link_slices
from SegAssistLib.formats.datasets2d.volume_slices import import_stack
from SegAssistLib.formats.ontology import Ontology, OntologyClass

NUCLEUS = 1
DEPTH = 5  # slices per nucleus stack: erosion by 2, 1, 0, 1, 2 pixels
# Nuclei under 60 px (4 of 125, cut by the image edge) all but vanish under two erosions: their slices
# overlap by an IoU under 0.25, so they are left out of the truth rather than expected to link.
MIN_AREA = 60


@pytest.fixture(scope="module")
def nuclei_stack(stardist_dir):
    """(per-slice Dataset2D with shuffled instance order, truth: nucleus number -> (DEPTH, rows, cols) mask)."""
    import tifffile

    labels = tifffile.imread(stardist_dir / "mask2d.tif")
    ontology = Ontology([OntologyClass("nucleus", (255, 64, 64), "thing", NUCLEUS)])
    truth = {}
    for n in np.unique(labels)[1:]:
        nucleus = labels == n
        if nucleus.sum() < MIN_AREA:
            continue
        stack = np.stack([ndimage.binary_erosion(nucleus, iterations=abs(k - DEPTH // 2)) if k != DEPTH // 2
                          else nucleus for k in range(DEPTH)])
        truth[int(n)] = stack
    rng = np.random.default_rng(0)
    samples = []
    for k in range(DEPTH):
        sample = Sample2D(f"slice{k:02d}.png", labels.shape)
        present = [n for n, stack in truth.items() if stack[k].any()]
        for n in rng.permutation(present):
            sample.add(Region2D(truth[int(n)][k], NUCLEUS))
        samples.append(sample)
    return Dataset2D(ontology, samples), truth


def test_linked_stack_recovers_every_3d_nucleus(nuclei_stack, tmp_path):
    dataset, truth = nuclei_stack
    # Through a real COCO file (pycocotools RLE), as a lab would receive per-slice annotations.
    write_coco_instances(dataset, tmp_path / "slices.json")
    back = read_coco_instances(tmp_path / "slices.json")
    volume, seg = import_stack(back, link_instances=0.25)
    assert volume.shape == (DEPTH, *next(iter(truth.values())).shape[1:])
    masks = [seg.mask(sid) for sid in seg.segment_ids]
    assert len(masks) == len(truth) == 121
    # Every segment is exactly one nucleus's 3D stack (matched by its middle slice).
    by_middle = {stack[DEPTH // 2].tobytes(): stack for stack in truth.values()}
    for mask in masks:
        assert np.array_equal(mask, by_middle[mask[DEPTH // 2].tobytes()])
    assert all(seg.segment(sid).name.startswith("nucleus ") for sid in seg.segment_ids)


def test_without_linking_every_2d_instance_stays_its_own_segment(nuclei_stack):
    dataset, truth = nuclei_stack
    _, seg = import_stack(dataset)
    regions = sum(len(s.regions) for s in dataset.samples)
    assert len(seg.segment_ids) == regions > 3 * len(truth)


def test_lung2_bones_link_without_mixing_3d_components(case_path):
    from SegAssistLib.io.volumes import read_volume

    ct = read_volume(case_path("lung2", "image")).array
    components, _ = ndimage.label(ct > 250)
    sizes = np.bincount(components.ravel())
    big = np.flatnonzero(sizes > 200)
    truth = np.where(np.isin(components, big[big > 0]), components, 0)
    regions, owners = [], []
    for k in range(truth.shape[0]):
        flat, m = ndimage.label(truth[k] > 0)
        masks = [flat == i for i in range(1, m + 1)]
        regions.append(masks)
        owners.append([int(np.bincount(truth[k][mask]).argmax()) for mask in masks])
    ids = link_slices(regions, 0.1)
    members: dict[int, set[int]] = {}
    for numbers, owner in zip(ids, owners):
        for number, o in zip(numbers, owner):
            members.setdefault(number, set()).add(o)
    n_regions = sum(map(len, regions))
    # No 3D instance made of two separate bones, and far fewer instances than 2D regions (the skeleton
    # branches, so one 3D component may still be several linked instances).
    assert all(len(m) == 1 for m in members.values())
    assert len(members) < n_regions / 2
    assert [len(numbers) for numbers in ids] == [len(r) for r in regions]


def test_pairing_is_one_to_one_by_iou():
    a = np.zeros((20, 20), bool)
    a[2:10, 2:10] = True
    b = np.zeros((20, 20), bool)
    b[3:11, 3:11] = True  # overlaps a strongly
    c = np.zeros((20, 20), bool)
    c[8:12, 8:12] = True  # overlaps a weakly
    iou = iou_matrix([a], [b, c])
    assert iou[0, 0] > 0.5 > iou[0, 1] > 0
    assert link_slices([[a], [c, b]], 0.25) == [[0], [1, 0]]
    assert link_slices([[a], [], [a]], 0.25) == [[0], [], [1]]  # an empty slice ends the instance
    with pytest.raises(ValueError, match="min_iou"):
        link_slices([[a]], 0.0)


def test_cli_links_instances_into_a_seg_nrrd(nuclei_stack, tmp_path):
    import slicerio

    from SegAssistLib.cli.main import main

    dataset, truth = nuclei_stack
    write_coco_instances(dataset, tmp_path / "slices.json")
    out = tmp_path / "nuclei.seg.nrrd"
    assert main(["convert", str(tmp_path / "slices.json"), str(out), "--link-instances"]) == 0
    assert len(slicerio.read_segmentation(str(out))["segments"]) == len(truth)
    assert main(["convert", str(tmp_path / "slices.json"), str(tmp_path / "x.seg.nrrd"), "--link-instances", "2"]) == 2
    assert not (tmp_path / "x.seg.nrrd").exists()
