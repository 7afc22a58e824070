"""Dependency installation (issue 20 items 4-6): what is installed, in which order, with which torch rule.

``slicer.util.pip_install`` and the PyTorch extension's ``PyTorchUtilsLogic`` exist only inside the Slicer
application, so they are replaced here by recorders (the only stand-ins in this file); the rules under test
(which packages, the ``torchVersionRequirement``, the installed-torch check, refusing SAM 2 below Python
3.10) are SegAssist's real code in ``SegAssistLib/slicer/dependencies.py``. The call signature
``installTorch(askConfirmation=..., torchVersionRequirement=...)`` is the one lassoan/SlicerTotalSegmentator
uses with the PyTorch extension.
"""

from __future__ import annotations

import importlib.util
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
    assert logic.calls == [{"askConfirmation": True, "torchVersionRequirement": ">=2.6"}]
    assert pip_calls[0] == list(dependencies.REQUIREMENTS.values())
    assert pip_calls[-1] == ["--no-build-isolation", "--no-deps", dependencies.SAM2_PACKAGE]
    assert dependencies.SAM2_PACKAGE in installed


def test_an_installed_torch_that_is_too_old_is_refused_with_what_to_do(all_missing):
    pip_calls: list = []
    logic = TorchLogicRecorder(installed_version="2.4.1+cu121")
    with pytest.raises(SegAssistError, match="torch 2.6 or newer; torch 2.4.1"):
        dependencies.install(True, pip_calls.append, lambda: logic)
    assert logic.calls == []  # never reinstalled behind the user's back
    assert not any(dependencies.SAM2_PACKAGE in " ".join(c) for c in pip_calls)


def test_without_the_pytorch_extension_sam2_says_how_to_get_it(all_missing):
    with pytest.raises(SegAssistError, match="PyTorch|Slicer 5.10"):
        dependencies.install(True, lambda reqs: None, None)


@pytest.mark.parametrize("model", ["litemedsam", "mobilesam"])
def test_a_pretrained_backend_installs_torch_then_its_model_code_without_deps(all_missing, model):
    """Choosing LiteMedSAM/MobileSAM in the panel installs torch (PyTorch Utils) and the model's code package
    with --no-deps (its declared timm/torchvision would pull another torch); no sam2."""
    module, code = dependencies.PRETRAINED_CODE[model]
    missing = dependencies.missing_packages(pretrained=model)
    assert code in missing and f"torch>={dependencies.MINIMUM_TORCH}" in missing and dependencies.SAM2_PACKAGE not in missing
    pip_calls: list = []
    logic = TorchLogicRecorder(installed_version=None)
    installed = dependencies.install(False, pip_calls.append, lambda: logic, pretrained=model)
    assert logic.calls == [{"askConfirmation": True, "torchVersionRequirement": ">=2.6"}]
    assert pip_calls == [list(dependencies.REQUIREMENTS.values()), ["--no-deps", code]]
    assert code in installed
    with pytest.raises(SegAssistError, match=f"{model} needs PyTorch"):
        dependencies.install(False, lambda reqs: None, None, pretrained=model)


def test_pretrained_code_packages_match_the_weights_table():
    """The panel installs the same code packages the backends import and the README/pyproject name."""
    from SegAssistLib.backends.sam1.weights import MODELS

    for model, (module, code) in dependencies.PRETRAINED_CODE.items():
        assert MODELS[model].code == code
        assert importlib.util.find_spec(module) is not None  # installed by the README's test command


def test_sam2_is_refused_on_slicer_58_python(monkeypatch, all_missing):
    monkeypatch.setattr(sys, "version_info", (3, 9, 10, "final", 0))
    pip_calls: list = []
    with pytest.raises(SegAssistError, match="Slicer 5.10 or later; this Slicer runs Python 3.9"):
        dependencies.install(True, pip_calls.append, lambda: TorchLogicRecorder(None))
    assert pip_calls == [list(dependencies.REQUIREMENTS.values())]  # the classical backend's packages still come
    assert "sam2" not in dependencies.backend_choices()


#: Python packages a stock Slicer ships (Slicer's SuperBuild, tag v5.8.1: External_python-numpy.cmake,
#: External_python-scipy.cmake, External_python-dicom-requirements.cmake (pydicom, pillow, six, retrying,
#: dicomweb-client), External_python-pythonqt-requirements.cmake (packaging, pyparsing), External_SimpleITK.cmake,
#: VTK) plus slicer itself. Everything else the workflow imports must be installable by SegAssist.
SLICER_BUNDLED = {"numpy", "scipy", "pydicom", "PIL", "six", "retrying", "dicomweb_client", "packaging", "pyparsing",
                  "SimpleITK", "vtk", "vtkmodules", "slicer", "slicer_core", "SegAssistLib"}


def test_the_self_test_workflow_imports_only_what_slicer_bundles_or_segassist_installs():
    """Run the README's headless workflow (segment, propagate, export .seg.nrrd: the self-test's path) in a
    fresh interpreter, list the third-party modules it imported, and check each one is bundled with Slicer,
    in :data:`dependencies.REQUIREMENTS`, or a dependency pip brings with one of those."""
    import json
    import re
    import subprocess
    from importlib.metadata import PackageNotFoundError, packages_distributions, requires
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    script = (
        "import json, re, sys, os, tempfile\n"
        "text = open('README.md', encoding='utf-8').read()\n"
        "example = next(b for b in re.findall(r'```python\\n(.*?)```', text, re.S) if 'headless_workflow' in b)\n"
        "here = os.getcwd(); os.chdir(tempfile.mkdtemp())\n"
        "exec(compile(example, 'README.md', 'exec'), {})\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    env = {**__import__("os").environ, "PYTHONPATH": str(root)}
    out = subprocess.run([sys.executable, "-c", script], cwd=root, env=env, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-2000:]
    imported = set(json.loads(out.stdout.strip().splitlines()[-1]))
    third_party = {m for m in imported if m not in sys.stdlib_module_names and not m.startswith("_")}
    third_party -= {"cython_runtime", "swig_runtime_data4", "swig_runtime_data5"}  # extension-module internals

    # The distributions pip installs for REQUIREMENTS, with their own requirements (transitively).
    dists_of = packages_distributions()
    wanted = [re.split(r"[<>=!; ]", r)[0].lower() for r in dependencies.REQUIREMENTS.values()]
    closure: set[str] = set()
    while wanted:
        name = wanted.pop().lower().replace("_", "-")
        if name in closure:
            continue
        closure.add(name)
        try:
            reqs = requires(name) or []
        except PackageNotFoundError:  # a platform-only dependency (e.g. colorama on Windows), not installed here
            continue
        for req in reqs:
            if "extra ==" not in req:
                wanted.append(re.split(r"[<>=!;\[ (]", req)[0])
    unexplained = sorted(m for m in third_party - SLICER_BUNDLED - set(dependencies.REQUIREMENTS)
                         if not {d.lower().replace("_", "-") for d in dists_of.get(m, [])} & closure)
    assert {"skimage", "slicerio"} <= third_party  # the self-test's path does need them
    assert not unexplained, f"imported but neither bundled with Slicer nor installed by SegAssist: {unexplained}"


def test_the_module_loads_on_a_stock_slicer_before_anything_is_installed():
    """Slicer imports SegAssist.py at start-up, before the user can press "Install dependencies": the library
    imports it makes (read from SegAssist.py) must pull in nothing a stock Slicer lacks."""
    import ast
    import json
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    tree = ast.parse((root / "SegAssist" / "SegAssist.py").read_text(encoding="utf-8"))
    imports = [ast.unparse(n) for n in tree.body if isinstance(n, ast.ImportFrom) and (n.module or "").startswith("SegAssistLib")]
    assert len(imports) >= 5
    script = "\n".join(imports) + "\nimport json, sys\nprint(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    env = {**__import__("os").environ, "PYTHONPATH": str(root)}
    out = subprocess.run([sys.executable, "-c", script], cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    imported = set(json.loads(out.stdout.strip().splitlines()[-1]))
    third_party = {m for m in imported if m not in sys.stdlib_module_names and not m.startswith("_")}
    assert not third_party - SLICER_BUNDLED - {"cython_runtime"}, third_party - SLICER_BUNDLED
