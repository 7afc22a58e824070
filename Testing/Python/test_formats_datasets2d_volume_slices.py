"""Volume <-> 2D: slices of real CT/MR volumes in every plane exported with their segments as 2D datasets
(COCO, panoptic, semantic PNG, images) and imported back onto the same voxels and RAS positions."""

from __future__ import annotations

import numpy as np
import pytest

from SegAssistLib.formats.datasets2d.coco_instances import read_coco_instances, write_coco_instances
from SegAssistLib.formats.datasets2d.images import read_image, write_image
from SegAssistLib.formats.datasets2d.panoptic import read_coco_panoptic, write_coco_panoptic
from SegAssistLib.formats.datasets2d.semantic import read_semantic, write_semantic
from SegAssistLib.formats.datasets2d.volume_slices import export_slices, import_stack, write_images
from SegAssistLib.errors import FormatError, GeometryError
from SegAssistLib.core.planes import PlaneView
from SegAssistLib.core.segmentation import Segment, Segmentation


def _segmentation(image, label, name="lesion"):
    seg = Segmentation.like(image)
    seg.add_segment(Segment("lesion", name, (0.9, 0.2, 0.1)), label.array > 0)
    return seg


@pytest.mark.parametrize("plane", ["axial", "coronal", "sagittal"])
def test_brain1_slices_round_trip_through_coco(plane, brain1, tmp_path):
    image, label = brain1
    seg = _segmentation(image, label)
    view = PlaneView(image, plane)
    data = export_slices(image, seg, plane, only_annotated=True)
    annotated = [n for n in range(view.n_slices) if view.slice(n, label.array).any()]
    assert [s.metadata["slice"] for s in data.samples] == annotated
    write_images(data, tmp_path / "images")
    write_coco_instances(data, tmp_path / "coco.json", include_stuff=True)
    back = read_coco_instances(tmp_path / "coco.json", tmp_path / "images")
    for s in back.samples:
        n = s.metadata["slice"]
        assert np.array_equal(s.image, view.slice(n))
        assert np.array_equal(s.regions[0].mask, view.slice(n, label.array > 0))
    if len(annotated) > 1 and np.all(np.diff(annotated) == 1):
        volume, segmentation = import_stack(back)
        # Every imported voxel sits at the RAS position of the source pixel it came from.
        k, j, i = len(annotated) - 1, 3, 5
        assert np.allclose(volume.kji_to_ras([k, j, i]), view.pixel_to_ras(annotated[-1], j, i), atol=1e-4)
        assert segmentation.segment("lesion").name == "lesion"
        assert segmentation.mask("lesion").sum() == (label.array > 0).sum()


def test_lung2_axial_panoptic_and_semantic(lung2, tmp_path):
    image, label = lung2
    data = export_slices(image, _segmentation(image, label), "axial", range(15, 26))
    assert data.samples[0].name.endswith(".tif")  # signed CT values need TIFF
    write_images(data, tmp_path / "img")
    pixels, _ = read_image(tmp_path / "img" / data.samples[3].name)
    assert pixels.dtype == image.array.dtype and np.array_equal(pixels, data.samples[3].image)
    write_coco_panoptic(data, tmp_path / "pan.json")
    pan = read_coco_panoptic(tmp_path / "pan.json")
    volume, seg = import_stack(pan)
    view = PlaneView(image, "axial")
    assert np.array_equal(seg.mask("lesion")[4], view.slice(19, label.array > 0))
    assert np.allclose(volume.ijk_to_ras, data.samples[0].metadata["ijk_to_ras"], atol=1e-6)
    write_semantic(data, tmp_path / "sem")
    sem = read_semantic(tmp_path / "sem")
    assert sem.ontology.names == ["lesion"]
    assert sem.ontology[0].color == (230, 51, 26)
    assert np.array_equal(sem.samples[4].regions[0].mask, view.slice(19, label.array > 0))


def test_stack_of_pngs_imports_with_default_geometry(stardist_dir, tmp_path):
    import tifffile

    labels = tifffile.imread(stardist_dir / "mask2d.tif")
    from SegAssistLib.formats.datasets2d import dataset_from_instance_labels
    from SegAssistLib.formats.ontology import Ontology, OntologyClass

    onto = Ontology([OntologyClass("nucleus", (255, 0, 0), "thing", 1)])
    a = dataset_from_instance_labels(labels, onto, "nucleus", name="a.png")
    b = dataset_from_instance_labels(labels[::-1], onto, "nucleus", name="b.png")
    a.samples += b.samples
    volume, seg = import_stack(a, spacing=(0.5, 0.5, 2.0))
    assert volume.shape == (2, 512, 512)
    assert np.allclose(volume.spacing, [0.5, 0.5, 2.0])
    assert len(seg) == 250  # every thing region its own segment
    assert seg.segment(seg.segment_ids[0]).attributes["SegAssist.Kind"] == "thing"


def test_bad_inputs(brain1, stardist_dir, tmp_path):
    image, label = brain1
    seg = _segmentation(image, label)
    data = export_slices(image, seg, "axial", [11, 13, 14])
    with pytest.raises(GeometryError, match="equally spaced"):
        import_stack(data)
    with pytest.raises(IndexError):
        export_slices(image, seg, "axial", [99])
    with pytest.raises(FormatError, match="JPEG holds 8-bit"):
        write_image(np.zeros((4, 4), np.int16), tmp_path / "x.jpg")
    assert not list(tmp_path.iterdir())
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(FormatError, match="broken.png"):
        read_image(tmp_path / "broken.png")


def test_single_frame_dicom_and_jpeg(stardist_dir, tmp_path):
    from pydicom.data import get_testdata_file

    pixels, meta = read_image(get_testdata_file("CT_small.dcm"))
    assert pixels.shape == (128, 128) and meta["pixel_spacing"][0] > 0 and pixels.min() < 0  # rescaled HU
    rgb, _ = read_image(stardist_dir / "histo.jpg")
    assert rgb.shape[2] == 3
    write_image(rgb, tmp_path / "h.png")
    assert np.array_equal(read_image(tmp_path / "h.png")[0], rgb)


def test_semantic_png_unknown_class_is_named(stardist_dir, tmp_path):
    import json

    import tifffile

    from SegAssistLib.formats.datasets2d import dataset_from_instance_labels
    from SegAssistLib.formats.ontology import Ontology, OntologyClass

    labels = tifffile.imread(stardist_dir / "mask2d.tif")
    onto = Ontology([OntologyClass("background", (0, 0, 0), "stuff", 1),
                     OntologyClass("nucleus", (255, 0, 0), "thing", 2)])
    write_semantic(dataset_from_instance_labels(labels, onto, "nucleus", "background", "n.png"), tmp_path)
    back = read_semantic(tmp_path)
    assert [r.class_id for r in back.samples[0].regions] == [1, 2]
    assert np.array_equal(back.samples[0].regions[1].mask, labels > 0)
    classes = json.loads((tmp_path / "classes.json").read_text())
    classes["categories"] = classes["categories"][:1]
    (tmp_path / "classes.json").write_text(json.dumps(classes))
    with pytest.raises(FormatError, match=r"n\.png: pixel value 2: Unknown category id 2"):
        read_semantic(tmp_path)
