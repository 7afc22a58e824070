"""Slices of a plane view as SAM 2 video frames, made on demand in memory (no JPEG, no temporary files).

sam2's own loader reads a JPEG folder and keeps every frame as a 3 x S x S float tensor (12 MiB at
S = 1024) for the whole session. :class:`SliceFrames` is a drop-in for its ``inference_state["images"]``
(it supports ``len`` and ``[index]``): frame ``n`` is built when the predictor asks for it and only the
``cache_size`` most recently used frames are kept.

Frame ``n`` is made exactly as sam2 treats an image, minus the 8-bit round trip:

1. ``PlaneView.model_slice(n)`` — the display-oriented slice resampled to square pixels;
2. the intensity window → float32 in [0, 1] (:mod:`SegAssistLib.core.windowing`);
3. resized to ``image_size`` x ``image_size`` (bilinear, antialiased, like sam2's own resizing of masks);
4. repeated to 3 channels and normalised with ImageNet mean/std (sam2's ``img_mean`` / ``img_std``).

The "video" size sam2 sees is the model shape of the view, so the masks it returns are at
``view.model_shape`` and go back to slice pixels through ``PlaneView.mask_from_model``.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F

from SegAssistLib.core.planes import PlaneView
from SegAssistLib.core.windowing import Window

#: sam2's normalisation (``load_video_frames`` defaults): ImageNet mean and std of RGB in [0, 1].
IMG_MEAN = (0.485, 0.456, 0.406)
IMG_STD = (0.229, 0.224, 0.225)


class SliceFrames:
    """Lazy, bounded-cache sequence of normalised ``(3, image_size, image_size)`` float32 frame tensors."""

    def __init__(
        self,
        view: PlaneView,
        window: Window,
        image_size: int,
        device: torch.device | str = "cpu",
        cache_size: int = 4,
    ):
        self.view = view
        self.window = window
        self.image_size = int(image_size)
        self.device = torch.device(device)
        self.cache_size = max(1, int(cache_size))
        self._cache: OrderedDict[int, torch.Tensor] = OrderedDict()
        self._mean = torch.tensor(IMG_MEAN, dtype=torch.float32, device=self.device)[:, None, None]
        self._std = torch.tensor(IMG_STD, dtype=torch.float32, device=self.device)[:, None, None]
        #: Frames built so far (cache misses); lets tests and benchmarks see the cache work.
        self.built = 0

    def __len__(self) -> int:
        return self.view.n_slices

    @property
    def video_height(self) -> int:
        """Rows of the model-resolution slice (what sam2 calls the video height)."""
        return self.view.model_shape[0]

    @property
    def video_width(self) -> int:
        """Columns of the model-resolution slice (what sam2 calls the video width)."""
        return self.view.model_shape[1]

    def model_image(self, n: int) -> np.ndarray:
        """Slice ``n`` at square pixels, windowed to float32 [0, 1], shape ``view.model_shape``."""
        return self.window.to_float(self.view.model_slice(n))

    def to_tensor(self, image01: np.ndarray) -> torch.Tensor:
        """The normalised 3 x S x S tensor sam2 expects, from a 2D [0, 1] image of any size."""
        img = torch.from_numpy(np.ascontiguousarray(image01, dtype=np.float32)).to(self.device)[None, None]
        if tuple(img.shape[-2:]) != (self.image_size, self.image_size):
            img = F.interpolate(img, size=(self.image_size, self.image_size), mode="bilinear",
                                align_corners=False, antialias=True)
        rgb = img[0].expand(3, -1, -1)
        return ((rgb - self._mean) / self._std).contiguous()

    def __getitem__(self, n: int) -> torch.Tensor:
        n = int(n)
        if n < 0:
            n += len(self)
        frame = self._cache.get(n)
        if frame is not None:
            self._cache.move_to_end(n)
            return frame
        if not 0 <= n < len(self):
            raise IndexError(f"frame {n} outside 0..{len(self) - 1}")
        with torch.inference_mode():
            frame = self.to_tensor(self.model_image(n))
        self.built += 1
        self._cache[n] = frame
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return frame

    def clear(self) -> None:
        """Drop the cached frames."""
        self._cache.clear()
