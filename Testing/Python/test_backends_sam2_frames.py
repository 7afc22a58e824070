"""The lazy frame source: slices of a real volume become sam2-normalised tensors on demand, in a bounded
cache, with the same normalisation sam2's own image loader applies."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (SAM 2 extra; see README)")
pytest.importorskip("sam2", reason="sam2 is not installed (SAM 2 extra; see README)")

from SegAssistLib.backends.sam2.frames import SliceFrames  # noqa: E402
from SegAssistLib.core.planes import PlaneView  # noqa: E402
from SegAssistLib.core.volume import Volume  # noqa: E402
from SegAssistLib.core.windowing import CT_PRESETS, Window  # noqa: E402


@pytest.fixture(scope="module")
def breast(case_path):
    from SegAssistLib.io.volumes import read_volume

    return read_volume(case_path("breast1", "image"))


def test_frames_are_lazy_bounded_and_shaped(breast):
    view = PlaneView(breast, "sagittal")  # 2.1 mm rows against 0.66 mm columns: resampled
    frames = SliceFrames(view, Window(float(breast.array.min()), float(breast.array.max())), 64, cache_size=3)
    assert len(frames) == view.n_slices and frames.built == 0  # nothing made up front
    assert (frames.video_height, frames.video_width) == view.model_shape
    for n in range(len(frames)):
        f = frames[n]
        assert f.shape == (3, 64, 64) and f.dtype == torch.float32
        assert len(frames._cache) <= 3
    assert frames.built == len(frames)
    frames[len(frames) - 1]
    assert frames.built == len(frames)  # cached: not rebuilt
    assert torch.equal(frames[-1], frames[len(frames) - 1])
    with pytest.raises(IndexError):
        frames[len(frames)]
    img = frames.model_image(3)
    assert img.shape == view.model_shape and 0.0 <= img.min() and img.max() <= 1.0


def test_normalisation_matches_sam2_image_loader(lung2, tmp_path):
    """sam2 reads an image file to [0, 1] RGB, then subtracts its mean and divides by its std. Fed the same
    8-bit slice (as a lossless PNG, at the model size so no resizing happens), both give the same tensor."""
    from PIL import Image
    from sam2.utils.misc import _load_img_as_tensor

    image, _ = lung2
    m = image.ijk_to_ras.copy()
    m[:3, 3] = image.ijk_to_ras_points(np.array([200.0, 200.0, 20.0]))
    crop = Volume(np.ascontiguousarray(image.array[20:22, 200:328, 200:328]), m)
    view = PlaneView(crop, "axial")
    window = CT_PRESETS["lung"]
    frames = SliceFrames(view, window, image_size=128)
    u8 = window.to_uint8(view.model_slice(0))
    Image.fromarray(u8).save(tmp_path / "0.png")
    theirs, h, w = _load_img_as_tensor(str(tmp_path / "0.png"), 128)
    mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
    std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    theirs = (theirs.float() - mean) / std
    ours = frames.to_tensor(u8.astype(np.float32) / 255.0)
    assert (h, w) == view.model_shape
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)
    assert float(ours.std()) > 0.1  # a real slice, not a constant
