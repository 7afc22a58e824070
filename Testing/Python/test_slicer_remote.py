"""The Slicer workflow with its engine on a SegAssist server (issue 16, deliverable 3: the panel's "Server").

Real MRML nodes (slicer-core, ``headless_workflow()``), a real ``segassist`` server (Starlette on uvicorn)
on 127.0.0.1 with an API key, the real brain1 MR case. A click and a propagation through the server give
the same segment voxels as in-process; a wrong key is a clear error and writes nothing; the key is never
saved with the scene; "Test connection" reports the server's version, backend and auth.
"""

from __future__ import annotations

import numpy as np
import pytest

from SegAssistLib.core.planes import PlaneView
from SegAssistLib.errors import RemoteError, SegAssistError
from SegAssistLib.evaluation.simulated_user import first_click, largest_slice
from SegAssistLib.server.client import RemoteEngine
from SegAssistLib.server.runner import ServerThread, build
from SegAssistLib.slicer.remote import describe, server_capabilities
from SegAssistLib.slicer.scene import headless_workflow

KEY = "slicer-panel-key-7f3a"


@pytest.fixture(scope="module")
def server():
    app, manager, _ = build(idle_s=600, api_key=KEY)
    with ServerThread(app) as srv:
        yield srv.url, manager


def _segment_and_propagate(wf, case_path, brain1):
    """Load brain1 into the workflow's scene, click once inside the tumour on its largest axial slice, apply,
    propagate. Returns (volume node, segmentation node, segment id, slice index, 2D mask)."""
    image, label = brain1
    volume_node = wf.load_volume(case_path("brain1", "image"))
    seg_node = wf.create_segmentation(volume_node)
    tumor = wf.add_segment(seg_node, "Tumor")
    view = PlaneView(image, "axial")
    gt = label.array > 0
    n = largest_slice(view, gt)
    points = wf.create_prompt_node("Tumor")
    points.AddControlPoint(*view.pixel_to_ras(n, *first_click(view.slice(n, gt))))
    k, mask = wf.segment_slice(volume_node, seg_node, tumor, [points], "axial")
    assert k == n
    return volume_node, seg_node, tumor, k, mask


def test_remote_click_and_propagation_give_the_local_voxels(server, case_path, brain1):
    url, manager = server
    local = headless_workflow()
    l_vol, l_seg, l_tumor, l_k, l_mask = _segment_and_propagate(local, case_path, brain1)
    l_slice = local.segment_mask(l_seg, l_tumor, l_vol).copy()
    local.propagate(l_vol, l_seg, l_tumor)
    l_full = local.segment_mask(l_seg, l_tumor, l_vol)

    remote = headless_workflow(server=url, api_key=KEY)
    sessions_before = manager.info()["sessions"]
    r_vol, r_seg, r_tumor, r_k, r_mask = _segment_and_propagate(remote, case_path, brain1)
    engine = remote.engine(r_vol)
    assert isinstance(engine, RemoteEngine) and engine.stats["uploads"] == 1
    assert manager.info()["sessions"] == sessions_before + 1
    assert r_k == l_k and r_mask.sum() > 20 and np.array_equal(r_mask, l_mask)
    assert np.array_equal(remote.segment_mask(r_seg, r_tumor, r_vol), l_slice)
    progress = []
    result = remote.propagate(r_vol, r_seg, r_tumor, progress=lambda d, t: progress.append((d, t)))
    r_full = remote.segment_mask(r_seg, r_tumor, r_vol)
    # extrapolate=True (the panel's default) travels with the request: voxels beyond the keyframe, as locally.
    assert (r_full.sum(axis=(1, 2)) > 0).sum() > 1
    assert np.array_equal(r_full, l_full) and np.array_equal(result.mask, l_full)
    assert progress == [(1, 1)] and remote.slices_to_review() == local.slices_to_review()
    # Undo works on the scene's nodes as locally; the keyframe note is kept on the segment.
    assert remote.undo() and np.array_equal(remote.segment_mask(r_seg, r_tumor, r_vol), l_slice)
    assert engine.stats["uploads"] == 1  # one upload for the click and the propagation
    # Closing the scene (reset) ends the remote session.
    remote.reset()
    assert manager.info()["sessions"] == sessions_before
    # Back to local: the next engine is in-process.
    remote.set_server("")
    assert not isinstance(remote.engine(r_vol), RemoteEngine)
    local.reset()
    remote.reset()


def test_a_wrong_key_is_a_clear_error_and_writes_nothing(server, case_path, brain1):
    url, manager = server
    wf = headless_workflow(server=url, api_key="not-the-key")
    image, label = brain1
    volume_node = wf.load_volume(case_path("brain1", "image"))
    seg_node = wf.create_segmentation(volume_node)
    tumor = wf.add_segment(seg_node, "Tumor")
    levels = wf.undo_levels
    sessions = manager.info()["sessions"]
    view = PlaneView(image, "axial")
    n = largest_slice(view, label.array > 0)
    points = wf.create_prompt_node("Tumor")
    points.AddControlPoint(*view.pixel_to_ras(n, *first_click(view.slice(n, label.array > 0))))
    with pytest.raises(RemoteError, match="refused the API key.*Server section") as err:
        wf.segment_slice(volume_node, seg_node, tumor, [points], "axial")
    assert err.value.status == 401 and "not-the-key" not in str(err.value)
    assert not wf.segment_mask(seg_node, tumor, volume_node).any()
    assert wf.undo_levels == levels and manager.info()["sessions"] == sessions
    wf.reset()


def test_the_key_is_kept_in_memory_and_never_saved_with_the_scene(server, case_path, brain1, tmp_path):
    url, _ = server
    wf = headless_workflow(server=url, api_key=KEY)
    _segment_and_propagate(wf, case_path, brain1)
    assert KEY not in repr(wf.server) and wf.server.url == url
    # Everything SegAssist put into the scene (nodes, attributes, parameter nodes), as Slicer saves it.
    path = tmp_path / "scene.mrml"
    wf.scene.SetURL(str(path))
    assert wf.scene.Commit()
    text = path.read_text(encoding="utf-8", errors="replace")
    assert "Tumor" in text  # the scene was saved with SegAssist's nodes
    assert KEY not in text
    wf.reset()


def test_test_connection_reports_version_backend_and_auth(server):
    from SegAssistLib import __version__

    url, _ = server
    caps = server_capabilities(url.replace("http://", ""), KEY)  # the scheme may be left out in the panel
    line = describe(caps)
    assert __version__ in line and "backend classical" in line and "key required" in line
    with pytest.raises(RemoteError, match="refused the API key"):
        server_capabilities(url, "wrong")
    with pytest.raises(RemoteError, match="refused the API key"):
        server_capabilities(url, None)
    port = int(url.rsplit(":", 1)[1])
    with pytest.raises(SegAssistError, match="Cannot reach the SegAssist server.*segassist serve"):
        server_capabilities(f"http://127.0.0.1:{port + 1 if port < 65535 else port - 1}", KEY, timeout=2)
    with pytest.raises(SegAssistError, match="must look like http://HOST:PORT"):
        headless_workflow(server="ftp://x")


def test_a_locked_hand_drawn_slice_propagates_remotely_as_locally(server, case_path, brain1):
    """Lock (the drawn slice becomes a keyframe, sent cropped) and Propagate through the server."""
    url, _ = server
    image, label = brain1
    gt = label.array > 0
    view = PlaneView(image, "axial")
    n = largest_slice(view, gt)
    out = []
    for wf in (headless_workflow(), headless_workflow(server=url, api_key=KEY)):
        volume_node = wf.load_volume(case_path("brain1", "image"))
        seg_node = wf.create_segmentation(volume_node)
        tumor = wf.add_segment(seg_node, "Tumor")
        seg = wf.read_segmentation(seg_node, volume_node)
        drawn = np.zeros(gt.shape, bool)
        view.write_slice(drawn, n, view.slice(n, gt))  # what the user drew with the Segment Editor
        seg.set_mask(tumor, drawn)
        wf.write_segmentation(seg, seg_node, volume_node, [tumor], "Draw")
        locked = wf.lock_slice(volume_node, seg_node, tumor, "axial", n)
        assert locked.sum() == view.slice(n, gt).sum() > 0
        assert [(k.plane, k.slice_index, k.locked) for k in wf.engine(volume_node).keyframes(tumor)] == [("axial", n, True)]
        wf.propagate(volume_node, seg_node, tumor)
        out.append(wf.segment_mask(seg_node, tumor, volume_node))
        wf.reset()
    local, remote = out
    assert (remote.sum(axis=(1, 2)) > 0).sum() > 1 and np.array_equal(remote, local)
