"""The SAM 2 backend against sam2's own SAM2VideoPredictor, on a crop of the real lung2 CT, random weights.

Random weights test the plumbing (frames, prompts, propagation, object bookkeeping), never mask quality.
The reference route is sam2 used directly: its ``init_state``, ``add_new_points_or_box`` / ``add_new_mask``
and ``propagate_in_video``. For masks to be comparable *exactly*, both routes must see identical input
tensors: sam2's ``init_state`` can only load a JPEG/MP4 file, whose 8-bit lossy compression would change
the pixels, so the reference gets the very same normalised frame tensors by replacing sam2's
``load_video_frames`` with a function returning them (everything after loading is sam2's unmodified code).
The reference model is built by sam2's builder from a checkpoint saved from a random model; our backend
loads the same checkpoint through sam2's real loader.
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (SAM 2 extra; see README)")
pytest.importorskip("sam2", reason="sam2 is not installed (SAM 2 extra; see README)")

from SegAssistLib.backends import get_backend  # noqa: E402
from SegAssistLib.backends.sam2.backend import Sam2Backend  # noqa: E402
from SegAssistLib.errors import BackendError, PromptError  # noqa: E402
from SegAssistLib.core.planes import PlaneView  # noqa: E402
from SegAssistLib.core.prompts import SlicePrompt  # noqa: E402
from SegAssistLib.core.volume import Volume  # noqa: E402

CONFIG = "configs/sam2.1/sam2.1_hiera_t.yaml"
IMAGE_SIZE = 128  # small input keeps the real model fast on CPU
K0, K1 = 16, 22  # six axial slices through the lung2 tumour (mask on k 15-25)


def _crop(vol: Volume, k0: int, k1: int, j0: int, j1: int, i0: int, i1: int) -> Volume:
    m = vol.ijk_to_ras.copy()
    m[:3, 3] = vol.ijk_to_ras_points(np.array([i0, j0, k0], dtype=float))
    return Volume(np.ascontiguousarray(vol.array[k0:k1, j0:j1, i0:i1]), m, dict(vol.metadata))


@pytest.fixture(scope="module")
def crop(lung2):
    """(image, label) crops of lung2: 6 slices x 128 x 128 voxels centred on the tumour."""
    image, label = lung2
    k, j, i = np.nonzero(label.array)
    jc, ic = int(j.mean()), int(i.mean())
    box = (K0, K1, jc - 64, jc + 64, ic - 64, ic + 64)
    return _crop(image, *box), _crop(label, *box)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A SAM 2.1 tiny checkpoint of random weights, saved the way Meta's files are ({"model": state_dict})."""
    from sam2.build_sam import build_sam2_video_predictor

    torch.manual_seed(0)
    model = build_sam2_video_predictor(CONFIG, ckpt_path=None, device="cpu",
                                       hydra_overrides_extra=[f"++model.image_size={IMAGE_SIZE}"])
    path = tmp_path_factory.mktemp("sam2") / "random_tiny.pt"
    torch.save({"model": model.state_dict()}, path)
    return path


@pytest.fixture(scope="module")
def backend(checkpoint):
    b = Sam2Backend("tiny", checkpoint=checkpoint, image_size=IMAGE_SIZE, precision="fp32", device="cpu")
    b.predictor  # load now
    return b


@pytest.fixture(scope="module")
def reference(checkpoint):
    """sam2's plain SAM2VideoPredictor, loaded from the same checkpoint by sam2's own builder."""
    from sam2.build_sam import build_sam2_video_predictor
    from sam2.sam2_video_predictor import SAM2VideoPredictor

    ref = build_sam2_video_predictor(CONFIG, ckpt_path=str(checkpoint), device="cpu",
                                     hydra_overrides_extra=[f"++model.image_size={IMAGE_SIZE}"])
    assert type(ref) is SAM2VideoPredictor
    # Our backend turns corrections into keyframes; give the reference the same (documented) setting.
    ref.add_all_frames_to_correct_as_cond = True
    return ref


def _reference_state(reference, frames, monkeypatch):
    """sam2's own init_state, fed the same tensors as our lazy frames instead of decoded JPEGs."""
    import sam2.sam2_video_predictor as svp

    stack = torch.stack([frames.to_tensor(frames.model_image(n)) for n in range(len(frames))])
    monkeypatch.setattr(svp, "load_video_frames",
                        lambda **kw: (stack.clone(), frames.video_height, frames.video_width))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sam2's per-frame "_C missing" warning on the reference route
        return reference.init_state(video_path="<in memory>")


def _ref_masks(view, video_res_masks):
    return [view.mask_from_model(video_res_masks[i, 0].float().numpy(), threshold=0.0)
            for i in range(video_res_masks.shape[0])]


def _centroid_prompt(view, label, n):
    rows, cols = np.nonzero(view.slice(n, label.array))
    return float(rows.mean()), float(cols.mean()), (rows.min(), cols.min(), rows.max(), cols.max())


def test_masks_equal_sam2_video_predictor(crop, backend, reference, monkeypatch):
    """Clicks, a refinement click, a second object and propagation both ways: object 1's masks and scores
    are exactly those of sam2's predictor driven directly (objects are tracked independently by sam2)."""
    image, label = crop
    view = PlaneView(image, "axial")
    session = backend.open_session(view)
    state = _reference_state(reference, session.frames, monkeypatch)
    n = 2
    r, c, (r0, c0, r1, c1) = _centroid_prompt(view, label, n)

    ours1 = session.add_prompt(n, SlicePrompt(points=[[r, c]], labels=[1]))
    xy = session._to_model_xy(np.array([r]), np.array([c]))
    _, _, ref1 = reference.add_new_points_or_box(state, n, 1, points=xy, labels=[1])
    assert ours1.mask.shape == view.slice_shape
    assert np.array_equal(ours1.mask, _ref_masks(view, ref1)[0])

    # refinement: a negative click accumulates with the first (sam2: clear_old_points=False)
    ours2 = session.add_prompt(n, SlicePrompt(points=[[r0, c0]], labels=[0]))
    xy0 = session._to_model_xy(np.array([r0]), np.array([c0]))
    _, _, ref2 = reference.add_new_points_or_box(state, n, 1, points=xy0, labels=[0], clear_old_points=False)
    assert np.array_equal(ours2.mask, _ref_masks(view, ref2)[0])

    # a second object in the same session (ours only): a box elsewhere on another slice
    other = session.add_prompt(4, SlicePrompt(box=(5, 5, 40, 50)), object_id=2)
    assert other.object_id == 2 and other.mask.shape == view.slice_shape

    ours = {}
    for res in session.propagate():
        ours.setdefault(res.object_id, []).append((res.slice_index, res.mask, res.score))
    ref = []
    seen = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for reverse in (False, True):
            for frame, _, masks in reference.propagate_in_video(state, reverse=reverse):
                if frame not in seen:
                    seen.add(frame)
                    logit = reference._get_obj_num(state) and state["output_dict_per_obj"][0]
                    out = logit["cond_frame_outputs"].get(frame) or logit["non_cond_frame_outputs"].get(frame)
                    ref.append((frame, _ref_masks(view, masks)[0], float(torch.sigmoid(out["object_score_logits"]))))
    assert sorted(ours) == [1, 2]
    assert [f for f, _, _ in ours[1]] == [f for f, _, _ in ref] == [2, 3, 4, 5, 1, 0]
    for (f, m, s), (_, rm, rs) in zip(ours[1], ref):
        assert np.array_equal(m, rm), f"slice {f} differs"
        assert s == pytest.approx(rs, abs=1e-6)
    assert [f for f, _, _ in ours[2]] == [2, 3, 4, 5, 1, 0]
    # the frame source stayed bounded: never more than its cache size of frames held at once
    assert len(session.frames._cache) <= backend.frame_cache_size

    session.clear_object(2)
    assert session.state["obj_ids"] == [1]
    again = list(session.propagate(direction="forward", start=2, max_slices=1))
    assert [(x.slice_index, x.object_id) for x in again] == [(2, 1), (3, 1)]
    session.close()
    with pytest.raises(BackendError, match="closed"):
        session.add_prompt(0, SlicePrompt(points=[[5, 5]], labels=[1]))


@pytest.mark.parametrize("plane", ["coronal"])
def test_box_and_mask_prompts_equal_sam2_on_resampled_planes(crop, backend, reference, monkeypatch, plane):
    """Coronal (and sagittal) slices of lung2 have 5 mm rows: frames are resampled to square pixels and masks
    mapped back. A box + point and a mask prompt give sam2's own answers exactly."""
    image, label = crop
    view = PlaneView(image, plane)
    assert view.model_shape != view.slice_shape  # the resampling path is exercised
    session = backend.open_session(view)
    state = _reference_state(reference, session.frames, monkeypatch)
    n = view.n_slices // 2
    r, c, (r0, c0, r1, c1) = _centroid_prompt(view, label, n)
    box = (r0 - 1, c0 - 1, r1 + 1, c1 + 1)
    ours = session.add_prompt(n, SlicePrompt(points=[[r, c]], labels=[1], box=box))
    xy = session._to_model_xy(np.array([r]), np.array([c]))
    (bx0, by0), (bx1, by1) = session._to_model_xy(np.array([box[0], box[2]]), np.array([box[1], box[3]]))
    _, _, ref = reference.add_new_points_or_box(state, n, 1, points=xy, labels=[1], box=[bx0, by0, bx1, by1])
    assert np.array_equal(ours.mask, _ref_masks(view, ref)[0])

    mask = view.slice(n, label.array) > 0
    ours_m = session.add_prompt(n + 1, SlicePrompt(mask=mask), object_id=3)
    _, _, ref_m = reference.add_new_mask(state, n + 1, 3, mask)
    assert np.array_equal(ours_m.mask, _ref_masks(view, ref_m)[1])
    session.close()


def test_second_click_on_a_slice_reuses_its_embedding(crop, backend, monkeypatch):
    image, label = crop
    session = backend.open_session(PlaneView(image, "axial"))
    calls = []
    original = backend.predictor.forward_image
    monkeypatch.setattr(backend.predictor, "forward_image", lambda img: calls.append(1) or original(img))
    p = SlicePrompt(points=[[60, 60]], labels=[1])
    session.add_prompt(1, p)
    assert len(calls) == 1 and session.frames.built == 1
    session.add_prompt(1, SlicePrompt(points=[[70, 64]], labels=[0]))
    assert len(calls) == 1  # decoder only
    session.add_prompt(3, p, object_id=2)
    session.add_prompt(1, SlicePrompt(points=[[50, 50]], labels=[1]))
    assert len(calls) == 2  # slice 1 still in the LRU of two embeddings
    assert session.frames.built == 2
    session.close()


def test_propagation_stops_when_object_gone_at_limit_and_on_cancel(crop, checkpoint):
    """Random weights give presence scores near 0.5; a threshold of 1.0 makes every slice 'absent', so the
    stop rule is exercised deterministically: it stops after stop_after slices, but never before a
    prompted slice that lies ahead."""
    image, _ = crop
    b = Sam2Backend("tiny", checkpoint=checkpoint, image_size=IMAGE_SIZE, precision="fp32", device="cpu",
                    object_score_threshold=1.0, stop_after=2)
    s = b.open_session(PlaneView(image, "axial"))
    s.add_prompt(1, SlicePrompt(points=[[60, 60]], labels=[1]))
    assert [r.slice_index for r in s.propagate(direction="forward")] == [1, 2]
    s.add_prompt(4, SlicePrompt(points=[[60, 60]], labels=[1]))
    assert [r.slice_index for r in s.propagate(direction="forward")] == [1, 2, 3, 4]
    assert [r.slice_index for r in s.propagate(direction="backward", start=2)] == [2, 1]
    assert [r.slice_index for r in s.propagate(direction="forward", start=1, max_slices=1)] == [1, 2]
    seen = []
    for r in s.propagate(should_stop=lambda: len(seen) >= 1):
        seen.append(r.slice_index)
    assert seen == [1]
    with pytest.raises(PromptError, match="no prompts"):
        list(s.propagate(object_ids=[9]))


def test_quiet_no_warnings_or_bars(crop, backend, capfd):
    """sam2 on CPU would warn on every frame (no _C) and draw a tqdm bar: neither reaches the console."""
    image, _ = crop
    s = backend.open_session(PlaneView(image, "axial"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s.add_prompt(0, SlicePrompt(points=[[60, 60]], labels=[1]))
        results = list(s.propagate(max_slices=1))
    assert [r.slice_index for r in results] == [0, 1]
    out, err = capfd.readouterr()
    assert "propagate in video" not in err and "_C" not in err and err == ""


def test_errors_are_clear(crop, backend, tmp_path, checkpoint):
    image, _ = crop
    s = backend.open_session(PlaneView(image, "axial"))
    with pytest.raises(PromptError, match="add a prompt"):
        list(s.propagate())
    with pytest.raises(PromptError, match="outside"):
        s.add_prompt(99, SlicePrompt(points=[[1, 1]], labels=[1]))
    with pytest.raises(PromptError, match="outside"):
        s.add_prompt(0, SlicePrompt(points=[[500, 1]], labels=[1]))
    with pytest.raises(PromptError, match="empty"):
        s.add_prompt(0, SlicePrompt())
    with pytest.raises(BackendError, match="Unknown SAM 2.1 model"):
        Sam2Backend("gigantic")
    missing = tmp_path / "nope.pt"
    with pytest.raises(BackendError, match="does not exist"):
        Sam2Backend(checkpoint=missing).predictor

    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"this is not a checkpoint" * 100)
    with pytest.raises(BackendError, match="cannot be read by torch") as info:
        Sam2Backend(checkpoint=garbage, device="cpu", image_size=IMAGE_SIZE).predictor
    assert str(garbage) in str(info.value)

    sd = torch.load(checkpoint, map_location="cpu", weights_only=True)["model"]
    wrong_key = tmp_path / "wrong_key.pt"
    torch.save({"state_dict": sd}, wrong_key)
    with pytest.raises(BackendError, match="not a SAM 2 checkpoint"):
        Sam2Backend(checkpoint=wrong_key, device="cpu", image_size=IMAGE_SIZE).predictor
    partial = tmp_path / "partial.pt"
    torch.save({"model": {k: v for k, v in list(sd.items())[:-3]}}, partial)
    with pytest.raises(BackendError, match="does not fit SAM 2.1 tiny"):
        Sam2Backend(checkpoint=partial, device="cpu", image_size=IMAGE_SIZE).predictor
    with pytest.raises(BackendError, match="multiple of 16"):
        Sam2Backend(image_size=100)


def test_checkpoint_loads_through_real_loader_and_registry(checkpoint):
    """get_backend('sam2', checkpoint=...) builds sam2's predictor with exactly the saved weights."""
    b = get_backend("sam2", checkpoint=str(checkpoint), image_size=IMAGE_SIZE, device="auto", precision="fp32")
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)["model"]
    loaded = b.predictor.state_dict()
    assert set(saved) == set(loaded)
    assert all(torch.equal(saved[k], loaded[k].cpu()) for k in saved)
    assert b.device == ("cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu")
    assert b.predictor.image_size == IMAGE_SIZE


def test_core_does_not_import_torch():
    code = ("import sys, SegAssistLib, SegAssistLib.backends, SegAssistLib.backends.sam2.backend, "
            "SegAssistLib.backends.sam2.checkpoints, SegAssistLib.core.planes, SegAssistLib.core.prompts; "
            "assert 'torch' not in sys.modules and 'sam2' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.slow
def test_memory_pruning_keeps_sam2_results(lung2, checkpoint, monkeypatch):
    """Over 20 slices, slices that fell out of sam2's memory window are dropped from the session state
    (flat memory), and the propagated masks are still exactly sam2's, which keeps everything. The model's
    object-pointer window is shortened (same override on both sides) so 20 slices suffice to prune."""
    from sam2.build_sam import build_sam2_video_predictor

    image, label = lung2
    k, j, i = np.nonzero(label.array)
    jc, ic = int(j.mean()), int(i.mean())
    vol = _crop(image, 10, 30, jc - 32, jc + 32, ic - 32, ic + 32)
    override = "++model.max_obj_ptrs_in_encoder=4"
    b = Sam2Backend("tiny", checkpoint=checkpoint, image_size=IMAGE_SIZE, precision="fp32", device="cpu",
                    hydra_overrides=[override])
    ref = build_sam2_video_predictor(CONFIG, ckpt_path=str(checkpoint), device="cpu",
                                     hydra_overrides_extra=[f"++model.image_size={IMAGE_SIZE}", override])
    view = PlaneView(vol, "axial")
    s = b.open_session(view)
    window = s._memory_window()
    assert window == 8
    state = _reference_state(ref, s.frames, monkeypatch)
    s.add_prompt(0, SlicePrompt(points=[[32, 32]], labels=[1]))
    xy = s._to_model_xy(np.array([32.0]), np.array([32.0]))
    ref.add_new_points_or_box(state, 0, 1, points=xy, labels=[1])
    ours = [(r.slice_index, r.mask) for r in s.propagate(direction="forward")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = [(f, _ref_masks(view, m)[0]) for f, _, m in ref.propagate_in_video(state)]
    assert [f for f, _ in ours] == [f for f, _ in theirs] == list(range(20))
    for (f, m), (_, rm) in zip(ours, theirs):
        assert np.array_equal(m, rm), f"slice {f} differs"
    kept = sorted(s.state["output_dict_per_obj"][0]["non_cond_frame_outputs"])
    assert len(state["output_dict_per_obj"][0]["non_cond_frame_outputs"]) == 19  # sam2 keeps all
    assert kept == list(range(1, window + 1)) + list(range(20 - window, 20))  # near the prompt + the last ones


def test_bf16_autocast_session_runs(crop, checkpoint):
    """The CPU default (bf16 autocast, measured faster here) runs clicks and propagation end to end."""
    image, label = crop
    b = Sam2Backend("tiny", checkpoint=checkpoint, image_size=IMAGE_SIZE, precision="auto", device="cpu")
    b.predictor
    assert b.autocast_dtype == "bfloat16"
    s = b.open_session(PlaneView(image, "axial"))
    first = s.add_prompt(2, SlicePrompt(points=[[64, 64]], labels=[1]))
    assert first.mask.dtype == bool and first.mask.shape == (128, 128) and 0.0 <= first.score <= 1.0
    got = [(r.slice_index, r.mask.shape) for r in s.propagate(max_slices=1)]
    assert got == [(2, (128, 128)), (3, (128, 128)), (1, (128, 128))]
