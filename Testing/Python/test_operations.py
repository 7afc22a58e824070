"""The operations layer (SegAssistLib.operations) on real data: the one interpolation overlap rule, the front
ends (CLI, batch) giving the same result because they call the same function, segmenting from markups
files, and the 2D dataset operations with keyword options; every error a SegAssistError subclass."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import numpy as np
import pytest

import SegAssistLib
from SegAssistLib import errors
from SegAssistLib.core.colors import segment_color
from SegAssistLib.core.planes import PlaneView
from SegAssistLib.core.segmentation import Segment, Segmentation
from SegAssistLib.errors import BackendError, InterpolationError, OptionError, SegAssistError
from SegAssistLib.interpolation import interpolate_keyframes, interpolate_labelmap
from SegAssistLib.io.volumes import read_volume, write_volume
from SegAssistLib.operations import (convert, interpolate_file, interpolate_segmentation, read_dataset2d,
                                     segment_files, write_dataset2d)


@pytest.fixture()
def two_halves(lung2):
    """lung2's lesion split into two touching segments (left/right of its middle column), drawn on every 2nd
    axial slice: a disjoint segmentation with gaps to fill, and the full halves as truth."""
    _, label = lung2
    lesion = label.array > 0
    cols = np.flatnonzero(lesion.any(axis=(0, 1)))
    middle = int(np.median(cols))
    left, right = lesion.copy(), lesion.copy()
    left[..., middle:] = False
    right[..., :middle] = False
    sparse = np.zeros(lesion.shape, dtype=bool)
    sparse[15::2] = True
    seg = Segmentation.like(label)
    seg.add_segment(Segment("left", "Left half", (0.9, 0.2, 0.1)), left & sparse)
    seg.add_segment(Segment("right", "Right half", (0.1, 0.2, 0.9)), right & sparse)
    return seg, label


def _masks(seg):
    return {sid: seg.mask(sid).copy() for sid in seg.segment_ids}


def test_disjoint_segments_stay_disjoint_and_keep_every_drawn_voxel(two_halves):
    seg, label = two_halves
    drawn = _masks(seg)
    labels, _ = seg.to_labelmap()
    steps = interpolate_segmentation(seg, "auto")
    assert not seg.overlaps()
    for sid, mask in drawn.items():
        assert seg.mask(sid)[mask].all()  # nothing drawn was removed
    assert [s.plane for s in steps] == ["axial", "axial"] and all(s.added > 500 for s in steps)
    # The rule on a disjoint segmentation is the labelmap rule, voxel for voxel.
    expected = interpolate_labelmap(labels, label, "auto")
    assert np.array_equal(seg.mask("left"), expected == 1) and np.array_equal(seg.mask("right"), expected == 2)


def test_layered_segments_keep_their_overlap(lung2):
    """An organ drawn on every 3rd slice around a lesion drawn on every slice: the organ's fill must cover the
    lesion (as it would alone); the disjoint rule would punch the lesion out of the organ."""
    from scipy import ndimage

    _, label = lung2
    lesion = label.array > 0
    organ = ndimage.binary_dilation(lesion, iterations=4)
    sparse_organ = np.zeros_like(organ)
    sparse_organ[12::3] = organ[12::3]
    seg = Segmentation.like(label)
    seg.add_segment(Segment("organ", "Organ"), sparse_organ)
    seg.add_segment(Segment("lesion", "Lesion"), lesion)
    assert seg.overlaps()
    steps = {s.segment_id: s for s in interpolate_segmentation(seg, "axial")}
    alone = interpolate_keyframes(sparse_organ, label, "axial")
    assert np.array_equal(seg.mask("organ"), alone)
    assert np.array_equal(seg.mask("lesion"), lesion) and steps["lesion"].added == 0
    between = np.zeros_like(lesion)
    between[13::3] = True
    assert (seg.mask("organ") & lesion & between).sum() > 100  # overlap kept on the filled slices


def test_one_segment_leaves_the_others_alone(two_halves):
    seg, _ = two_halves
    before = _masks(seg)
    (step,) = interpolate_segmentation(seg, "auto", ["left"])
    assert step.segment_id == "left" and step.added > 0
    assert np.array_equal(seg.mask("right"), before["right"])
    assert not (seg.mask("left") & seg.mask("right")).any()


def test_nothing_to_interpolate_is_explained_when_asked(two_halves):
    seg, label = two_halves
    seg.add_segment(Segment("empty", "Empty"))
    one = np.zeros(label.shape, dtype=bool)
    one[20, 100:110, 100:110] = True
    seg.add_segment(Segment("one", "One slice"), one)
    with pytest.raises(InterpolationError, match="'Empty' is empty"):
        interpolate_segmentation(seg, "auto", ["empty"], require_keyframes=True)
    with pytest.raises(InterpolationError, match="fewer than two axial slices"):
        interpolate_segmentation(seg, "axial", ["one"], require_keyframes=True)
    with pytest.raises(InterpolationError, match="not in the segmentation"):
        interpolate_segmentation(seg, "auto", ["nope"])
    with pytest.raises(OptionError, match="Unknown plane"):
        interpolate_segmentation(seg, "oblique")
    # Without require_keyframes they are left as drawn.
    steps = {s.segment_id: s for s in interpolate_segmentation(seg, "auto", ["one", "empty"])}
    assert steps["one"].plane is None and steps["one"].added == 0 and np.array_equal(seg.mask("one"), one)


def test_cli_and_batch_give_the_same_interpolation(two_halves, lung2, case_path, tmp_path):
    from SegAssistLib.batch.manifest import CaseSpec
    from SegAssistLib.batch.runner import DONE, run_case
    from SegAssistLib.cli.main import main
    from SegAssistLib.io.segmentation_files import read_segmentation

    seg, label = two_halves
    labels, _ = seg.to_labelmap()
    keyframes = tmp_path / "keyframes.nrrd"
    write_volume(label.with_array(labels.astype(np.uint8)), keyframes)
    assert main(["interpolate", str(keyframes), "-o", str(tmp_path / "cli.nrrd")]) == 0
    case = CaseSpec(case="c", operation="interpolate", output=str(tmp_path / "batch.seg.nrrd"),
                    volume=str(case_path("lung2", "image")), keyframes=str(keyframes))
    assert run_case(case).status == DONE
    cli = read_volume(tmp_path / "cli.nrrd").array
    batch = read_segmentation(tmp_path / "batch.seg.nrrd", reference=label)
    interpolate_segmentation(seg)
    for value, sid in ((1, "left"), (2, "right")):
        assert np.array_equal(cli == value, seg.mask(sid))
        (segment,) = [s for s in batch if s.name == f"Label {value}" or s.id.endswith(str(value))]
        assert np.array_equal(batch.mask(segment.id), seg.mask(sid))


def test_interpolate_file_checks_the_reference_grid_and_writes_nothing(two_halves, case_path, tmp_path):
    seg, label = two_halves
    labels, _ = seg.to_labelmap()
    src = tmp_path / "k.nrrd"
    write_volume(label.with_array(labels.astype(np.uint8)), src)
    out = tmp_path / "o.nrrd"
    with pytest.raises(errors.GeometryError, match="does not lie on"):
        interpolate_file(src, out, reference=case_path("brain1", "image"))
    with pytest.raises(InterpolationError, match=r"Segments \[7\] are not in the labelmap"):
        interpolate_file(src, out, segments=[7])
    assert not out.exists()
    result = interpolate_file(src, out, segments=[2], reference=case_path("lung2", "image"))
    written = read_volume(out).array
    assert result.added == int((written != 0).sum() - (labels != 0).sum()) > 0
    assert np.array_equal(written == 1, labels == 1)  # segment 1 was not asked for


def test_segment_files_from_markups(brain1, case_path, tmp_path):
    from scipy import ndimage

    from SegAssistLib.io.markups import MarkupPrompt, write_markups

    vol, label = brain1
    gt = label.array.astype(bool)
    view = PlaneView(vol, "axial")
    occ = [n for n in range(view.n_slices) if view.slice(n, gt).any()]
    files = []
    for n in (occ[1], occ[len(occ) // 2], occ[-2]):
        m = view.slice(n, gt)
        r, c = np.unravel_index(np.argmax(ndimage.distance_transform_edt(m)), m.shape)
        files.append(write_markups(tmp_path / f"t{n}.mrk.json",
                                   MarkupPrompt("Tumour", np.array([view.pixel_to_ras(n, r, c)]), np.array([1]))))
    made = segment_files(case_path("brain1", "image"), files)
    (segment,) = list(made.segmentation)
    assert segment.name == "Tumour" and made.volume.shape == vol.shape
    assert segment.color == segment_color(0)  # the one palette of new segments
    mask = made.segmentation.mask(segment.id)
    assert (mask & gt).sum() > 0.3 * gt.sum() and set(made.results) == {"Tumour"}
    with pytest.raises(BackendError, match="does not take option"):
        segment_files(case_path("brain1", "image"), files, "classical", {"checkpoint": "tiny"})


def test_dataset2d_operations_take_keyword_options(stardist_dir, tmp_path):
    import tifffile

    labels = tifffile.imread(stardist_dir / "mask2d.tif")
    ds = read_dataset2d(stardist_dir / "mask2d.tif", thing="nucleus", stuff="background")
    (sample,) = ds.samples
    nucleus = ds.ontology.by_name("nucleus").id
    n_instances = len(np.unique(labels[labels > 0]))
    assert sum(r.class_id == nucleus for r in sample.regions) == n_instances
    written = write_dataset2d(ds, tmp_path / "cityscapes")
    assert any(p.name == "classes.json" for p in written)
    with pytest.raises(OptionError, match="--ontology"):
        read_dataset2d(tmp_path / "cityscapes")
    back = read_dataset2d(tmp_path / "cityscapes", ontology=tmp_path / "cityscapes" / "classes.json")
    (again,) = back.samples
    assert sum(r.class_id == back.ontology.by_name("nucleus").id for r in again.regions) == n_instances
    with pytest.raises(OptionError, match="three positive"):
        write_dataset2d(ds, tmp_path / "stack.seg.nrrd", spacing=(1.0, -1.0, 1.0))
    assert not (tmp_path / "stack.seg.nrrd").exists()


def test_convert_routes_by_name_and_refuses_unknown_options(lung2, case_path, tmp_path):
    result = convert(case_path("lung2", "label"), tmp_path / "lung.seg.nrrd")
    assert len(result.segmentation) == 1 and result.written == [tmp_path / "lung.seg.nrrd"]
    assert "1 segment(s)" in result.summary("in", "out")
    with pytest.raises(OptionError, match="Unknown 2D dataset option"):
        convert(tmp_path / "lung.seg.nrrd", tmp_path / "coco.json", reference=case_path("lung2", "image"),
                colour="red")
    with pytest.raises(OptionError, match="--reference"):
        convert(tmp_path / "lung.seg.nrrd", tmp_path / "coco.json")
    assert not (tmp_path / "coco.json").exists()
    result = convert(tmp_path / "lung.seg.nrrd", tmp_path / "coco.json", reference=case_path("lung2", "image"),
                     slices=[20, 21])
    assert len(result.dataset.samples) == 2


def test_every_public_exception_class_lives_in_errors_and_is_a_segassist_error():
    defined = []
    for info in pkgutil.walk_packages(SegAssistLib.__path__, "SegAssistLib."):
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            public = not name.startswith("_")  # a private control-flow signal never reaches a user
            if public and inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == info.name:
                defined.append(f"{info.name}.{name}")
    assert defined == [m for m in defined if m.startswith("SegAssistLib.errors.")]
    classes = [obj for obj in vars(errors).values() if inspect.isclass(obj) and issubclass(obj, BaseException)]
    assert len(classes) >= 9 and all(issubclass(c, SegAssistError) for c in classes if c is not SegAssistError)
