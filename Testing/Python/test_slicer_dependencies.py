"""Dependency installation (issue 20 items 4-6): what is installed, in which order, with which torch rule.

``slicer.util.pip_install`` and the PyTorch extension's ``PyTorchUtilsLogic`` exist only inside the Slicer
application, so they are replaced here by recorders (the only stand-ins in this file); the rules under test
(which packages, the ``torchVersionRequirement``, the installed-torch check, refusing SAM 2 below Python
3.10) are SegAssist's real code in ``SegAssistLib/slicer/dependencies.py``. The call signature
``installTorch(askConfirmation=..., torchVersionRequirement=...)`` is the one lassoan/SlicerTotalSegmentator
uses with the PyTorch extension.
"""

from __future__ import annotations

import sys
import types

import pytest

from SegAssistLib.errors import SegAssistError
from SegAssistLib.slicer import dependencies


class TorchLogicRecorder:
    """Stands in for PyTorchUtils.PyTorchUtilsLogic (the PyTorch extension; not installable outside Slicer)."""

    def __init__(self, installed_version: str | None):
        self.installed_version = installed_version
        self.calls: list[dict] = []

    def torchInstalled(self) -> bool:
        return self.installed_version is not None

    @property
    def torch(self):
        return types.SimpleNamespace(__version__=self.installed_version)

    def installTorch(self, **kwargs):
        self.calls.append(kwargs)
        return types.SimpleNamespace(__version__="2.6.0")


@pytest.fixture
def all_missing(monkeypatch):
    """Pretend nothing SegAssist needs is importable (importlib's real answer for this venv is 'all there')."""
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a, **k: None)


def test_missing_packages_names_every_requirement_with_versions(all_missing):
    missing = dependencies.missing_packages()
    assert "defusedxml>=0.7" in missing and "scikit-image>=0.21" in missing and "slicerio>=1.1" in missing
    with_sam2 = dependencies.missing_packages(with_sam2=True)
    assert f"torch>={dependencies.MINIMUM_TORCH}" in with_sam2 and dependencies.SAM2_PACKAGE in with_sam2


def test_install_asks_pytorch_utils_for_the_minimum_torch_then_sam2_without_deps(all_missing):
    pip_calls: list = []
    logic = TorchLogicRecorder(installed_version=None)
    installed = dependencies.install(True, pip_calls.append, lambda: logic)
    assert logic.calls == [{"askConfirmation": True, "torchVersionRequirement": ">=2.5.1"}]
    assert pip_calls[0] == list(dependencies.REQUIREMENTS.values())
    assert pip_calls[-1] == ["--no-build-isolation", "--no-deps", dependencies.SAM2_PACKAGE]
    assert dependencies.SAM2_PACKAGE in installed


def test_an_installed_torch_that_is_too_old_is_refused_with_what_to_do(all_missing):
    pip_calls: list = []
    logic = TorchLogicRecorder(installed_version="2.4.1+cu121")
    with pytest.raises(SegAssistError, match="torch 2.5.1 or newer; torch 2.4.1"):
        dependencies.install(True, pip_calls.append, lambda: logic)
    assert logic.calls == []  # never reinstalled behind the user's back
    assert not any(dependencies.SAM2_PACKAGE in " ".join(c) for c in pip_calls)


def test_without_the_pytorch_extension_sam2_says_how_to_get_it(all_missing):
    with pytest.raises(SegAssistError, match="PyTorch|Slicer 5.10"):
        dependencies.install(True, lambda reqs: None, None)


def test_sam2_is_refused_on_slicer_58_python(monkeypatch, all_missing):
    monkeypatch.setattr(sys, "version_info", (3, 9, 10, "final", 0))
    pip_calls: list = []
    with pytest.raises(SegAssistError, match="Slicer 5.10 or later; this Slicer runs Python 3.9"):
        dependencies.install(True, pip_calls.append, lambda: TorchLogicRecorder(None))
    assert pip_calls == [list(dependencies.REQUIREMENTS.values())]  # the classical backend's packages still come
    assert "sam2" not in dependencies.backend_choices()
