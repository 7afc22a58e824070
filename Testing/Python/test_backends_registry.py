"""Backends registered under the ``segassist.backends`` entry point are found on every supported Python.

``importlib.metadata.entry_points(group=...)`` is Python 3.10+; on Python 3.9 (Slicer 5.8) it raised
``TypeError`` and every segmentation failed. ``scripts/test_pythons.sh`` runs this file on 3.9 and 3.12.
The entry point is a real installed distribution: a ``.dist-info`` folder on ``sys.path``, as pip writes it.
"""

from __future__ import annotations


import pytest

from SegAssistLib.backends.registry import available_backends, get_backend, registered_entry_points
from SegAssistLib.errors import BackendError


@pytest.fixture
def plugin_distribution(tmp_path, monkeypatch):
    """A distribution 'segassist-plugin-demo' whose entry point registers the classical backend as 'demo'."""
    info = tmp_path / "segassist_plugin_demo-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: segassist-plugin-demo\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[segassist.backends]\ndemo = SegAssistLib.backends.classical.backend:ClassicalBackend\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return info


def test_registered_backend_is_listed_and_built(plugin_distribution):
    assert "demo" in [ep.name for ep in registered_entry_points()]
    assert {"classical", "sam2", "demo"} <= set(available_backends())
    backend = get_backend("demo")
    assert type(backend).__name__ == "ClassicalBackend"


def test_unknown_backend_names_the_available_ones():
    with pytest.raises(BackendError, match="available: .*classical"):
        get_backend("nope")
