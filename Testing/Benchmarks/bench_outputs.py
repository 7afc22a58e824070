"""Segmentation outputs: SegAssist's writers/readers against their peers, in the same process, on lung2.

Rows (each the median of --repeats runs, seconds, and the ratio ours / peer):

* .seg.nrrd write / read: ``write_seg_nrrd`` / ``read_seg_nrrd`` against Slicer's own
  ``vtkMRMLSegmentationStorageNode`` (slicer-core) writing / reading the same segments, and against bare
  slicerio on a prepared dict (what our writer wraps: layer packing and kji<->ijk add the difference);
* labelmap write: ``write_labelmap`` (image + colour table, atomic) against ``SimpleITK.WriteImage`` alone;
* DICOM SEG write: ``write_dicom_seg`` (reads the reference series headers, builds, saves atomically)
  against highdicom building and saving from already-loaded datasets;
* MRML update of one edited slice: ``write_segmentation_to_node`` (region-only) against
  ``slicer.util.updateSegmentBinaryLabelmapFromArray`` rewriting the whole segment.

Usage: python Testing/Benchmarks/bench_outputs.py [--repeats 3]
Segments: the real lung2 lesion and a dilated rim that overlaps it (so .seg.nrrd holds two layers).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from benchlib import REPO, DATA, median_seconds

DATA = DATA / "pyradiomics"
sys.path.insert(0, str(REPO / "Testing" / "Python"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if not (DATA / "lung2_label.nrrd").exists():
        print(f"real data not found at {DATA}", file=sys.stderr)
        return 1

    from scipy import ndimage

    from SegAssistLib.io.dicom_seg import write_dicom_seg
    from SegAssistLib.io.labelmap import write_labelmap
    from SegAssistLib.io.seg_nrrd import read_seg_nrrd, to_slicerio, write_seg_nrrd
    from SegAssistLib.io.volumes import read_volume, write_dicom_series
    from SegAssistLib.core.segmentation import Segment, Segmentation
    from SegAssistLib.core.volume import Volume

    image, label = read_volume(DATA / "lung2_image.nrrd"), read_volume(DATA / "lung2_label.nrrd")
    lesion = label.array > 0
    seg = Segmentation.like(image)
    seg.add_segment(Segment("lesion", "Lesion", (1.0, 0.0, 0.0)), lesion)
    seg.add_segment(Segment("rim", "Rim", (0.0, 0.0, 1.0)),
                    ndimage.binary_dilation(lesion, structure=np.ones((1, 3, 3), bool), iterations=3))
    disjoint = Segmentation.like(image)
    disjoint.add_segment(Segment("lesion", "Lesion", (1.0, 0.0, 0.0)), lesion)
    rows: list[tuple[str, float, str, float]] = []
    tmp = Path(tempfile.mkdtemp(prefix="bench_outputs_"))

    # ---- .seg.nrrd ----------------------------------------------------------------------------------------
    import slicerio.segmentation as sio

    ours_w = median_seconds(lambda: write_seg_nrrd(seg, tmp / "ours.seg.nrrd"), args.repeats)
    data = to_slicerio(seg)
    sio_w = median_seconds(lambda: sio.write_segmentation(str(tmp / "sio.seg.nrrd"), data, compression_level=6), args.repeats)
    rows.append((".seg.nrrd write (2 layers)", ours_w, "slicerio, prepared dict", sio_w))
    ours_r = median_seconds(lambda: read_seg_nrrd(tmp / "ours.seg.nrrd"), args.repeats)
    sio_r = median_seconds(lambda: sio.read_segmentation(str(tmp / "ours.seg.nrrd")), args.repeats)
    rows.append((".seg.nrrd read", ours_r, "slicerio read", sio_r))

    import slicer_scene

    from SegAssistLib.slicer.nodes import write_segmentation_to_node

    ctx = slicer_scene._build()
    import slicer

    volume_node = ctx.add_volume(image, "lung2")
    node = ctx.add_segmentation_node(volume_node)
    write_segmentation_to_node(seg, node, volume_node)
    storage = slicer.vtkMRMLSegmentationStorageNode()
    ctx.scene.AddNode(storage)
    storage.SetFileName(str(tmp / "slicer.seg.nrrd"))
    sl_w = median_seconds(lambda: storage.WriteData(node), args.repeats)
    rows.append((".seg.nrrd write (2 layers)", ours_w, "Slicer storage node", sl_w))

    def slicer_read():
        n = ctx.scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
        storage.ReadData(n)
        ctx.scene.RemoveNode(n)

    sl_r = median_seconds(slicer_read, args.repeats)
    rows.append((".seg.nrrd read", ours_r, "Slicer storage node", sl_r))

    # ---- labelmap -----------------------------------------------------------------------------------------
    import SimpleITK as sitk

    ours_l = median_seconds(lambda: write_labelmap(disjoint, tmp / "labels.nii.gz"), args.repeats)
    labels = Volume(disjoint.to_labelmap()[0], image.ijk_to_ras).to_sitk()
    itk_l = median_seconds(lambda: sitk.WriteImage(labels, str(tmp / "itk.nii.gz"), True), args.repeats)
    rows.append(("labelmap .nii.gz + .csv write", ours_l, "SimpleITK WriteImage", itk_l))

    # ---- DICOM SEG ----------------------------------------------------------------------------------------
    import highdicom as hd
    import pydicom
    from pydicom.uid import generate_uid

    folder = tmp / "dicom"
    write_dicom_series(image, folder)
    source = read_volume(folder)
    dseg = Segmentation.like(source)
    dseg.add_segment(Segment("lesion", "Lesion", (1.0, 0.0, 0.0)), lesion)
    dseg.add_segment(Segment("rim", "Rim", (0.0, 0.0, 1.0)), seg.mask("rim"))
    ours_d = median_seconds(lambda: write_dicom_seg(dseg, tmp / "ours.dcm", folder), args.repeats)
    datasets = [pydicom.dcmread(f, stop_before_pixels=True) for f in source.metadata["files"]]
    pixels = np.stack([dseg.mask("lesion"), dseg.mask("rim")], axis=-1).astype(np.uint8)
    from SegAssistLib.io.dicom_seg import _description

    descs = [_description(1, dseg.segment("lesion")), _description(2, dseg.segment("rim"))]

    def highdicom_only():
        hd.seg.Segmentation(
            source_images=datasets, pixel_array=pixels, segmentation_type="BINARY", segment_descriptions=descs,
            series_instance_uid=generate_uid(), series_number=1, sop_instance_uid=generate_uid(), instance_number=1,
            manufacturer="x", manufacturer_model_name="x", software_versions="x", device_serial_number="0",
        ).save_as(str(tmp / "hd.dcm"))

    hd_d = median_seconds(highdicom_only, args.repeats)
    rows.append(("DICOM SEG write (61 slices)", ours_d, "highdicom, datasets loaded", hd_d))

    # ---- MRML: one edited slice --------------------------------------------------------------------------
    k = int(np.flatnonzero(lesion.any(axis=(1, 2)))[5])

    def edit_ours():
        m = seg.mask("lesion").copy()
        m[k] = ndimage.binary_dilation(m[k])
        seg.set_mask("lesion", m)
        write_segmentation_to_node(seg, node, volume_node, undo=False)

    def edit_util():
        m = seg.mask("lesion").copy()
        m[k] = ndimage.binary_dilation(m[k])
        seg.set_mask("lesion", m)
        slicer.util.updateSegmentBinaryLabelmapFromArray(m.astype(np.uint8), node, "lesion", volume_node)

    ours_m = median_seconds(edit_ours, args.repeats)
    util_m = median_seconds(edit_util, args.repeats)
    rows.append(("MRML: write one edited slice", ours_m, "slicer.util whole segment", util_m))

    print(f"lung2 {image.size_ijk}, median of {args.repeats} runs, same process\n")
    print(f"| {'operation':<30} | {'SegAssist s':>11} | {'peer':<26} | {'peer s':>8} | {'ours/peer':>9} |")
    print(f"|{'-' * 32}|{'-' * 13}|{'-' * 28}|{'-' * 10}|{'-' * 11}|")
    for op, ours, peer, theirs in rows:
        print(f"| {op:<30} | {ours:>11.3f} | {peer:<26} | {theirs:>8.3f} | {ours / theirs:>9.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
