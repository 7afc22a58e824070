"""The SAM 2 backend (:mod:`.backend`: model, device, precision, building the predictor) and its helpers.

- :mod:`.session` — one plane view as a video: prompts, propagation with a bounded memory window, clearing;
- :mod:`.checkpoints` — the SAM 2.1 model table, the checkpoint cache and a resumable, checksummed download
  (no torch needed);
- :mod:`.frames` — the lazy in-memory frame source that feeds plane-view slices to the video predictor;
- :mod:`.predictor` — a thin subclass of sam2's ``SAM2VideoPredictor`` that starts a session on that frame
  source (no JPEG folder) and keeps a small LRU of slice embeddings;
- :mod:`.quiet` — deliberate handling of sam2's console noise (tqdm bars, the missing ``_C`` extension).

Only :mod:`.checkpoints` is importable without torch; the others are imported by the backend when it is used.
"""
