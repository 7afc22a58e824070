"""``SAM2VideoPredictor`` fed from memory: a session on any frame sequence, and an LRU of slice embeddings.

Three small additions to sam2 1.1.0's video predictor, nothing else changed (clicks, masks, memory,
propagation are sam2's own code):

- :meth:`SegAssistVideoPredictor.init_state_from_frames` builds the same ``inference_state`` dict as
  ``init_state`` but around a frame sequence the caller gives (:class:`~.frames.SliceFrames`), instead of
  loading a JPEG folder; it also skips ``init_state``'s warm-up embedding of frame 0 (the user may click
  anywhere; the first click embeds its own slice).
- a forward pre-hook on ``memory_attention`` fixes a dtype clash of sam2 in float32 (see
  :func:`_memory_like_features`);
- ``_get_image_feature`` keeps the ``feature_cache_size`` most recently used slice embeddings instead of
  only the last one, so going back to a slice clicked a moment ago costs only the decoder. The body is
  sam2's, with the one-entry dict replaced by an LRU.

The class is instantiated by sam2's own hydra builder (``++model._target_=...``), so weights, configs and
checkpoint loading are exactly sam2's.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import torch
from sam2.sam2_video_predictor import SAM2VideoPredictor

#: The hydra ``_target_`` that makes sam2's builder create this class.
TARGET = f"{__name__}.SegAssistVideoPredictor"


def _memory_like_features(module, args, kwargs):
    """Forward pre-hook of ``memory_attention``: give the memory the dtype of the current frame's features.

    sam2 stores memory features as bfloat16 and normally concatenates them with float32 object pointers,
    which promotes the memory to float32. When a frame has no object pointer yet (an object whose only
    prompt lies ahead of the propagation), the memory stays bfloat16 and, outside autocast, the attention's
    float32 weights reject it. Casting here gives exactly the promoted values of the normal case.
    """
    curr, memory, memory_pos = kwargs.get("curr"), kwargs.get("memory"), kwargs.get("memory_pos")
    if curr is None or memory is None:
        return None
    dtype = (curr[0] if isinstance(curr, (list, tuple)) else curr).dtype
    if memory.dtype == dtype and (memory_pos is None or memory_pos.dtype == dtype):
        return None
    kwargs = dict(kwargs, memory=memory.to(dtype))
    if memory_pos is not None:
        kwargs["memory_pos"] = memory_pos.to(dtype)
    return args, kwargs


class SegAssistVideoPredictor(SAM2VideoPredictor):
    """sam2's video predictor with an in-memory frame source and an LRU of image features."""

    #: How many slice embeddings a session keeps (sam2 keeps 1). Set per instance by the backend.
    feature_cache_size: int = 2

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.memory_attention.register_forward_pre_hook(_memory_like_features, with_kwargs=True)

    @torch.inference_mode()
    def init_state_from_frames(
        self,
        frames: Sequence[torch.Tensor],
        video_height: int,
        video_width: int,
        offload_state_to_cpu: bool = False,
    ) -> dict:
        """An ``inference_state`` like ``init_state``'s, whose ``images`` are ``frames`` (indexable, sized)."""
        compute_device = self.device
        state: dict = {
            "images": frames,
            "num_frames": len(frames),
            "offload_video_to_cpu": False,
            "offload_state_to_cpu": offload_state_to_cpu,
            "video_height": int(video_height),
            "video_width": int(video_width),
            "device": compute_device,
            "storage_device": torch.device("cpu") if offload_state_to_cpu else compute_device,
            "point_inputs_per_obj": {},
            "mask_inputs_per_obj": {},
            "cached_features": OrderedDict(),
            "constants": {},
            "obj_id_to_idx": OrderedDict(),
            "obj_idx_to_id": OrderedDict(),
            "obj_ids": [],
            "output_dict_per_obj": {},
            "temp_output_dict_per_obj": {},
            "frames_tracked_per_obj": {},
        }
        return state

    def _get_image_feature(self, inference_state, frame_idx, batch_size):
        """sam2's ``_get_image_feature`` with an LRU of ``feature_cache_size`` frames."""
        cache = inference_state["cached_features"]
        if not isinstance(cache, OrderedDict):  # a state made by sam2's init_state
            cache = inference_state["cached_features"] = OrderedDict(cache)
        image, backbone_out = cache.get(frame_idx, (None, None))
        if backbone_out is None:
            device = inference_state["device"]
            image = inference_state["images"][frame_idx].to(device).float().unsqueeze(0)
            backbone_out = self.forward_image(image)
            cache[frame_idx] = (image, backbone_out)
            while len(cache) > max(1, int(self.feature_cache_size)):
                cache.popitem(last=False)
        else:
            cache.move_to_end(frame_idx)

        expanded_image = image.expand(batch_size, -1, -1, -1)
        expanded_backbone_out = {
            "backbone_fpn": backbone_out["backbone_fpn"].copy(),
            "vision_pos_enc": backbone_out["vision_pos_enc"].copy(),
        }
        for i, feat in enumerate(expanded_backbone_out["backbone_fpn"]):
            expanded_backbone_out["backbone_fpn"][i] = feat.expand(batch_size, -1, -1, -1)
        for i, pos in enumerate(expanded_backbone_out["vision_pos_enc"]):
            expanded_backbone_out["vision_pos_enc"][i] = pos.expand(batch_size, -1, -1, -1)

        features = self._prepare_backbone_features(expanded_backbone_out)
        return (expanded_image,) + features
