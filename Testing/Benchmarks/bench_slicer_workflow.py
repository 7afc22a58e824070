"""What the Slicer Logic adds on top of the engine: one prompt and one propagation on real CT (lung2).

For each step the same engine work runs three ways, in one process on Slicer's real MRML (slicer-core):

* ``engine``   : SegAssistLib's engine alone (no nodes) - the floor;
* ``workflow`` : ``SegAssistWorkflow`` (what the panel and the console call): read the segment from the node,
                 run the engine, write back only the changed region as one step of SegAssist's own undo
                 (the old voxels of that region are kept; the scene's undo is not used);
* ``peer``     : what a typical scripted module does with Slicer's own helpers: the engine, then
                 ``slicer.util.updateSegmentBinaryLabelmapFromArray`` with the whole mask, after
                 ``scene.SaveStateForUndo()``.

The table prints the median seconds and the ratios workflow/engine and workflow/peer.

Usage: python Testing/Benchmarks/bench_slicer_workflow.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from benchlib import REPO, DATA, median_seconds

DATA = DATA / "pyradiomics"
sys.path.insert(0, str(REPO / "Testing" / "Python"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import slicer
    from slicer_scene import _build

    from SegAssistLib.engine.segmentation_engine import SegmentationEngine
    from SegAssistLib.io.volumes import read_volume
    from SegAssistLib.core.planes import PlaneView
    from SegAssistLib.evaluation.simulated_user import first_click, largest_slice
    from SegAssistLib.slicer.workflow import SegAssistWorkflow

    ctx = _build()
    image = read_volume(DATA / "lung2_image.nrrd")
    gt = read_volume(DATA / "lung2_label.nrrd").array > 0
    view = PlaneView(image, "axial")
    n = largest_slice(view, gt)
    point = view.pixel_to_ras(n, *first_click(view.slice(n, gt)))
    volume_node = ctx.add_volume(image, "lung2")
    rows = []

    # -- one prompt on one slice ---------------------------------------------------------------------
    def engine_prompt():
        eng = SegmentationEngine(image, "classical")
        eng.add_points("s", [point], [1], "axial")
        return eng

    def workflow_prompt():
        wf = SegAssistWorkflow(ctx.scene)
        seg = wf.create_segmentation(volume_node)
        sid = wf.add_segment(seg, "Tumor")
        wf.segment_slice_ras(volume_node, seg, sid, [point], [1], plane="axial")
        return wf, seg, sid

    def peer_prompt():
        eng = SegmentationEngine(image, "classical")
        k, mask2d = eng.add_points("s", [point], [1], "axial")
        seg = ctx.scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
        seg.SetReferenceImageGeometryParameterFromVolumeNode(volume_node)
        sid = seg.GetSegmentation().AddEmptySegment("Tumor")
        mask = np.zeros(image.shape, dtype=np.uint8)
        view.write_slice(mask, k, mask2d)
        ctx.scene.SaveStateForUndo()
        slicer.util.updateSegmentBinaryLabelmapFromArray(mask, seg, sid, volume_node)
        return eng, seg, sid

    ctx.scene.SetUndoOn()
    rows.append(("prompt on one slice", median_seconds(engine_prompt, args.repeats), median_seconds(workflow_prompt, args.repeats),
                 median_seconds(peer_prompt, args.repeats)))

    # -- propagation through the volume -------------------------------------------------------------------
    eng = engine_prompt()
    wf, seg, sid = workflow_prompt()
    peer_eng, peer_seg, peer_sid = peer_prompt()
    eng.run("s")  # fill the engine's gap caches so every column times the same (cached) propagation
    wf.propagate(volume_node, seg, sid)
    peer_eng.run("s")

    def peer_propagate():
        result = peer_eng.run("s")
        ctx.scene.SaveStateForUndo()
        slicer.util.updateSegmentBinaryLabelmapFromArray(result.mask.astype(np.uint8), peer_seg, peer_sid, volume_node)

    rows.append(("propagation (cached) + write", median_seconds(lambda: eng.run("s"), args.repeats),
                 median_seconds(lambda: wf.propagate(volume_node, seg, sid), args.repeats), median_seconds(peer_propagate, args.repeats)))

    print(f"lung2 CT {image.size_ijk}, classical backend, median of {args.repeats}; seconds")
    print(f"{'step':<30} {'engine':>8} {'workflow':>9} {'peer':>8} {'wf/engine':>10} {'wf/peer':>8}")
    for name, e, w, p in rows:
        print(f"{name:<30} {e:8.3f} {w:9.3f} {p:8.3f} {w / e:10.2f} {w / p:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
