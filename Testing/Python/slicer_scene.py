"""pytest plugin: Slicer's real MRML scene, headless, through slicer-core (loaded by conftest.py).

Fixtures
--------
``mrml`` (session)     an :class:`MRMLContext`: ``.scene``, ``.app_logic``, the module logics (``.colors``,
                       ``.volumes``, ``.segmentations``; also ``.logics[name]``) and helpers
                       to add nodes from SegAssist objects. Skips when slicer-core is not installed.
``mrml_scene`` (function)  the same context with the scene cleared and undo switched off before and
                       after each test, so tests do not see each other's nodes.

The scene is the library's headless scene (:func:`SegAssistLib.slicer.scene.headless_scene`): a
``vtkMRMLScene`` and a ``vtkSlicerApplicationLogic`` with the Colors, Volumes and Segmentations logics
registered, ``slicer.mrmlScene`` and a minimal ``slicer.modules.<name>.logic()`` set so that ``slicer.util``
helpers such as ``arrayFromSegmentBinaryLabelmap`` work as inside Slicer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest


@dataclass
class MRMLContext:
    """A headless Slicer scene with its application logic and module logics."""

    scene: Any
    app_logic: Any
    logics: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        logics = self.__dict__.get("logics", {})
        if name in logics:
            return logics[name]
        raise AttributeError(name)

    # ---- helpers other tests reuse ---------------------------------------------------------------------
    def add_volume(self, volume: Any, name: str = "Volume") -> Any:
        """A ``vtkMRMLScalarVolumeNode`` holding ``volume`` (a SegAssist Volume)."""
        from SegAssistLib.slicer.nodes import volume_node_from_volume

        return volume_node_from_volume(self.scene, volume, name)

    def add_segmentation_node(self, volume_node: Any = None, name: str = "Segmentation") -> Any:
        """An empty ``vtkMRMLSegmentationNode`` (with display node), aligned with ``volume_node`` if given."""
        node = self.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", name)
        node.CreateDefaultDisplayNodes()
        if volume_node is not None:
            node.SetReferenceImageGeometryParameterFromVolumeNode(volume_node)
        return node

    def clear(self) -> None:
        """Remove every node, switch undo off and empty the undo stack."""
        self.scene.SetUndoOff()
        self.scene.ClearUndoStack()
        self.scene.Clear(False)


def _build() -> MRMLContext:
    """The library's headless scene (:func:`SegAssistLib.slicer.scene.headless_scene`) with its logics."""
    try:
        import slicer
    except ImportError:
        pytest.skip("slicer-core is not installed (pip install segassist[slicer]); Slicer MRML tests skipped")
    if not hasattr(slicer, "vtkMRMLScene"):
        pytest.skip("the 'slicer' module found is not slicer-core (the unrelated PyPI 'slicer' package?)")
    from SegAssistLib.slicer.scene import MODULE_LOGICS, application_logic, headless_scene, module_logic

    scene = headless_scene()
    logics = {name.lower(): module_logic(scene, name) for name in MODULE_LOGICS}
    return MRMLContext(scene, application_logic(scene), logics)


@pytest.fixture(scope="session")
def mrml() -> MRMLContext:
    """Slicer's real MRML scene and module logics, headless (one per test session)."""
    return _build()


@pytest.fixture
def mrml_scene(mrml: MRMLContext) -> MRMLContext:
    """:func:`mrml` with an empty scene and undo off before and after the test."""
    mrml.clear()
    yield mrml
    mrml.clear()
