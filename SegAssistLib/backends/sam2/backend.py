"""SAM 2 backend: clicks, boxes and masks on any plane, propagated through the volume by sam2's video predictor.

A plane view of a volume is treated as a video whose frames are the slices (:mod:`.sam2.frames` makes them
on demand in memory). A prompt on slice ``n`` is a prompt on frame ``n`` of ``SAM2VideoPredictor``; the
answer comes back at once with an object-presence score; :meth:`.session.Sam2Session.propagate` runs sam2's
``propagate_in_video`` forwards and backwards from the prompted slices and yields one
:class:`~SegAssistLib.backends.base.SliceResult` per slice and object, stopping when the object has been
absent for a few slices, at a limit, or on cancel.

torch and sam2 are imported only when a backend is constructed, so the rest of SegAssist runs without them.
Model sizes are SAM 2.1 tiny / small / base_plus / large, built from the configs inside the ``sam2``
package; the checkpoint is a path or the official file, downloaded once (:mod:`.sam2.checkpoints`).

Usage::

    from SegAssistLib.backends import get_backend
    backend = get_backend("sam2", model="tiny")            # or checkpoint="/path/sam2.1_hiera_tiny.pt"
    with backend.open_session(PlaneView(volume, "axial")) as session:
        first = session.add_prompt(30, SlicePrompt(points=[[200, 240]], labels=[1]))
        for result in session.propagate():
            ...
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from SegAssistLib.backends.base import Backend
from SegAssistLib.errors import BackendError
from SegAssistLib.core.planes import PlaneView

if TYPE_CHECKING:  # pragma: no cover
    from SegAssistLib.backends.sam2.session import Sam2Session

log = logging.getLogger(__name__)

_INSTALL_HINT = (
    "Install the SAM 2 extra: on CPU `pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu`, "
    "on a CUDA machine `pip install torch` (the CUDA build), then "
    "`pip install --no-build-isolation --no-deps sam2==1.1.0 && pip install 'segassist[sam2]'` (see README)."
)
_PRECISIONS = {"fp32": None, "float32": None, "bf16": "bfloat16", "bfloat16": "bfloat16", "fp16": "float16",
               "float16": "float16"}


def sam2_available() -> tuple[bool, str]:
    """(True, "") when torch and sam2 can be imported, else (False, why) — for skips and messages."""
    for module in ("torch", "sam2", "hydra"):
        if importlib.util.find_spec(module) is None:
            return False, f"the Python package {module!r} is not installed. {_INSTALL_HINT}"
    return True, ""


def choose_device(device: str = "auto") -> str:
    """``auto`` picks CUDA, then Apple MPS, then CPU; an explicit device must be available."""
    import torch

    wanted = str(device or "auto").lower()
    if wanted == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"
    kind = wanted.split(":")[0]
    if kind == "cuda" and not torch.cuda.is_available():
        raise BackendError(f"Device {device!r} was asked for but torch sees no CUDA GPU; use device='auto' or 'cpu'.")
    if kind == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise BackendError(f"Device {device!r} was asked for but Apple MPS is not available; use 'auto' or 'cpu'.")
    if kind not in ("cuda", "mps", "cpu"):
        raise BackendError(f"Unknown device {device!r}: use auto, cuda, cuda:N, mps or cpu.")
    return wanted


def choose_precision(precision: str, device: str) -> str | None:
    """The autocast dtype name (or None for float32). ``auto``: bf16 on CUDA GPUs that have it (else fp16)
    and on CPU (measured 20-35 % faster here), float32 on MPS."""
    import torch

    p = str(precision or "auto").lower()
    if p != "auto":
        if p not in _PRECISIONS:
            raise BackendError(f"Unknown precision {precision!r}: use auto, fp32, bf16 or fp16.")
        return _PRECISIONS[p]
    kind = device.split(":")[0]
    if kind == "cuda":
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    if kind == "cpu":
        return "bfloat16"
    return None


@contextlib.contextmanager
def _sam2_hydra() -> Iterator[None]:
    """Compose sam2's configs even when another library initialised Hydra first; restore its state after."""
    import sam2  # noqa: F401  (initialises Hydra on sam2's configs if nobody did)
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from hydra.initialize import get_gh_backup, restore_gh_from_backup

    backup = get_gh_backup()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module("sam2", version_base="1.2"):
            yield
    finally:
        restore_gh_from_backup(backup)


class _CaptureSam2LoadErrors(logging.Filter):
    """Swallows the raw key lists sam2's checkpoint loader logs at ERROR level, keeping them for our message."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if record.module == "build_sam" and record.levelno >= logging.ERROR:
            self.messages.append(record.getMessage())
            return False
        return True


class Sam2Backend(Backend):
    """SAM 2.1 through sam2's ``SAM2VideoPredictor``. Cheap to construct; the model loads on first use.

    Parameters (all keyword-friendly; ``get_backend("sam2", **options)`` passes them through):

    model: tiny, small, base_plus (base+) or large.
    checkpoint: path of a checkpoint; None downloads the official one into ``cache_dir`` (once).
    random_weights: build the model without any checkpoint (tests and benchmarks only: masks are noise).
    device: auto (CUDA > MPS > CPU), cuda, cuda:N, mps, cpu.
    precision: auto, fp32, bf16, fp16 (autocast dtype).
    image_size: the model's input size (default the config's 1024; tests use 256 for speed).
    window: intensity window for the frames: None (CT soft tissue, percentiles otherwise), "auto", a CT
        preset name (lung, bone, ...), (low, high) or a :class:`~SegAssistLib.core.windowing.Window`.
    object_score_threshold, stop_after: propagation stops after ``stop_after`` consecutive slices whose
        object-presence score is below the threshold (for every object), unless a prompted slice lies ahead.
    frame_cache_size, feature_cache_size: how many normalised frames / slice embeddings a session keeps.
    keep_all_memory: keep sam2's per-slice memory for every propagated slice; by default slices further than
        the model's memory window from the current and the prompted slices are dropped, so memory stays flat.
    corrections_as_keyframes: a click on an already propagated slice makes it a conditioning frame
        (sam2's ``add_all_frames_to_correct_as_cond``), so re-propagating keeps the correction.
    cache_dir, download, sha256, url, progress, trust_unverified: checkpoint download and verification
        (see :mod:`.sam2.checkpoints`; without a known SHA-256, ``trust_unverified`` must be given).
    hydra_overrides: extra ``++model.x=y`` overrides for sam2's config.
    """

    name = "sam2"

    def __init__(
        self,
        model: str = "tiny",
        checkpoint: str | os.PathLike | None = None,
        *,
        random_weights: bool = False,
        device: str = "auto",
        precision: str = "auto",
        image_size: int | None = None,
        window: Any = None,
        object_score_threshold: float = 0.5,
        stop_after: int = 3,
        frame_cache_size: int = 4,
        feature_cache_size: int = 2,
        keep_all_memory: bool = False,
        corrections_as_keyframes: bool = True,
        offload_state_to_cpu: bool = False,
        cache_dir: str | os.PathLike | None = None,
        download: bool = True,
        sha256: str | None = None,
        url: str | None = None,
        progress: Any = True,
        hydra_overrides: Sequence[str] = (),
        trust_unverified: bool = False,
    ):
        from SegAssistLib.backends.sam2.checkpoints import get_model

        ok, why = sam2_available()
        if not ok:
            raise BackendError(f"The SAM 2 backend needs torch and sam2: {why}")
        self.model_info = get_model(model)
        if image_size is not None and (int(image_size) < 64 or int(image_size) % 16):
            raise BackendError(f"image_size {image_size} must be a multiple of 16 (at least 64); SAM 2 uses 1024.")
        if not 0.0 <= float(object_score_threshold) <= 1.0:
            raise BackendError(f"object_score_threshold {object_score_threshold} must lie in [0, 1].")
        self.checkpoint = checkpoint
        self.random_weights = bool(random_weights)
        self.device_request = device
        self.precision_request = precision
        self.image_size = None if image_size is None else int(image_size)
        self.window = window
        self.object_score_threshold = float(object_score_threshold)
        self.stop_after = max(1, int(stop_after))
        self.frame_cache_size = int(frame_cache_size)
        self.feature_cache_size = int(feature_cache_size)
        self.keep_all_memory = bool(keep_all_memory)
        self.corrections_as_keyframes = bool(corrections_as_keyframes)
        self.offload_state_to_cpu = bool(offload_state_to_cpu)
        self.cache_dir = cache_dir
        self.download = bool(download)
        self.sha256 = sha256
        self.url = url
        self.progress = progress
        self.trust_unverified = bool(trust_unverified)
        self.hydra_overrides = list(hydra_overrides)
        self._predictor = None
        self.device: str | None = None
        self.autocast_dtype: str | None = None
        self.checkpoint_path: Path | None = None

    # ---- model ---------------------------------------------------------------------------------
    @property
    def predictor(self):
        """The loaded ``SegAssistVideoPredictor`` (a ``SAM2VideoPredictor``), built on first access."""
        if self._predictor is None:
            self._predictor = self._build()
        return self._predictor

    def _overrides(self) -> list[str]:
        from SegAssistLib.backends.sam2.predictor import TARGET
        overrides = [f"++model._target_={TARGET}"]
        if self.image_size is not None:
            overrides.append(f"++model.image_size={self.image_size}")
        return overrides + self.hydra_overrides

    def _build(self):
        from SegAssistLib.backends.sam2.checkpoints import resolve_checkpoint
        from SegAssistLib.backends.sam2.quiet import has_c_extension

        self.device = choose_device(self.device_request)
        self.autocast_dtype = choose_precision(self.precision_request, self.device)
        ckpt = None
        if not self.random_weights:
            ckpt = resolve_checkpoint(self.model_info.name, self.checkpoint, cache_dir=self.cache_dir,
                                      download_missing=self.download, sha256=self.sha256, url=self.url,
                                      progress=self.progress, trust_unverified=self.trust_unverified)
        self.checkpoint_path = ckpt
        predictor = build_predictor(self.model_info.config, ckpt, self.device, self._overrides(),
                                    model_name=self.model_info.name)
        predictor.feature_cache_size = self.feature_cache_size
        if not has_c_extension():
            # Without _C sam2 warns on every frame and returns the scores unchanged: same masks, no noise.
            # (Set after building: sam2's builder appends its own fill_hole_area override last.)
            predictor.fill_hole_area = 0
        predictor.add_all_frames_to_correct_as_cond = self.corrections_as_keyframes
        log.debug("SAM 2.1 %s on %s (autocast %s, image size %d, checkpoint %s)", self.model_info.name,
                  self.device, self.autocast_dtype or "off", predictor.image_size, ckpt or "random weights")
        return predictor

    def autocast(self):
        """The autocast context for model calls (a no-op in float32)."""
        import torch

        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=torch.device(self.device).type, dtype=getattr(torch, self.autocast_dtype))

    def open_session(self, view: PlaneView) -> "Sam2Session":
        from SegAssistLib.backends.sam2.session import Sam2Session

        return Sam2Session(self, view)


def build_predictor(config: str, checkpoint: Path | None, device: str, overrides: Sequence[str],
                    model_name: str = "") -> Any:
    """sam2's ``build_sam2_video_predictor`` with its errors turned into BackendErrors that say what to do.

    Where the failure happened decides the message: inside ``torch.load`` the file is unreadable; a missing
    ``'model'`` entry means another kind of file; ``load_state_dict`` (or sam2's bare RuntimeError after it
    logs missing/unexpected keys) means weights of another model size or version.
    """
    import traceback

    from sam2.build_sam import build_sam2_video_predictor

    capture = _CaptureSam2LoadErrors()
    root = logging.getLogger()
    root.addFilter(capture)
    what = f"SAM 2 checkpoint {checkpoint}"
    try:
        with _sam2_hydra():
            return build_sam2_video_predictor(config, ckpt_path=None if checkpoint is None else str(checkpoint),
                                              device=device, hydra_overrides_extra=list(overrides))
    except Exception as exc:
        frames = traceback.extract_tb(exc.__traceback__)
        places = {(Path(f.filename).name, f.name) for f in frames}
        first_line = (str(exc).splitlines() or [repr(exc)])[0][:300]
        if checkpoint is not None and any(name == "_load_checkpoint" for _, name in places):
            if any(file in ("serialization.py", "_weights_only_unpickler.py") for file, _ in places):
                raise BackendError(f"{what} cannot be read by torch ({type(exc).__name__}: {first_line}); it is "
                                   "damaged, incomplete or not a PyTorch file: delete it and download it again.") from None
            if isinstance(exc, KeyError):
                raise BackendError(f"{what} holds no {exc} entry: it is not a SAM 2 checkpoint (a SAM 2 .pt file "
                                   "stores its weights under 'model').") from None
            detail = "; ".join(m[:300] for m in capture.messages) or first_line or "weights do not match the model"
            raise BackendError(
                f"{what} does not fit SAM 2.1 {model_name} ({detail}). Pass the checkpoint of the same model size "
                "(tiny, small, base_plus, large) and a SAM 2.1 file (sam2.1_hiera_*.pt)."
            ) from None
        if type(exc).__module__.startswith(("hydra", "omegaconf")):
            raise BackendError(f"SAM 2 config {config!r} could not be composed ({first_line}); check the hydra "
                               f"overrides {list(overrides)} and that sam2==1.1.0 is installed.") from None
        raise BackendError(f"SAM 2.1 {model_name} could not be built on {device} ({type(exc).__name__}: "
                           f"{first_line}).") from None
    finally:
        root.removeFilter(capture)
