"""pytest plugin: Slicer's real MRML scene, headless, through slicer-core (loaded by conftest.py).

Fixtures
--------
``mrml`` (session)     an :class:`MRMLContext`: ``.scene``, ``.app_logic``, the module logics (``.colors``,
                       ``.volumes``, ``.segmentations``; also ``.logics[name]``) and helpers
                       to add nodes from SegAssist objects. Skips when slicer-core is not installed.
``mrml_scene`` (function)  the same context with the scene cleared and undo switched off before and
                       after each test, so tests do not see each other's nodes.

Built as docs/DESIGN.md describes: a ``vtkMRMLScene`` and a ``vtkSlicerApplicationLogic`` with the Colors,
Volumes and Segmentations logics registered (the Terminologies logic is left out: its JSON files are not
part of slicer-core, and it logs errors without them) (``SetMRMLScene``, ``SetMRMLApplicationLogic``,
``SetModuleLogic``) and kept referenced here (the application logic holds them weakly). It also sets
``slicer.mrmlScene`` and a minimal ``slicer.modules.<name>.logic()`` so that ``slicer.util`` helpers such as
``arrayFromSegmentBinaryLabelmap`` and ``updateSegmentBinaryLabelmapFromArray`` work as inside Slicer.
"""

from __future__ import annotations

import types
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
    try:
        import slicer
    except ImportError:
        pytest.skip("slicer-core is not installed (pip install segassist[slicer]); Slicer MRML tests skipped")
    if not hasattr(slicer, "vtkMRMLScene"):
        pytest.skip("the 'slicer' module found is not slicer-core (the unrelated PyPI 'slicer' package?)")
    scene = slicer.vtkMRMLScene()
    app_logic = slicer.vtkSlicerApplicationLogic()
    app_logic.SetMRMLScene(scene)
    logics: dict[str, Any] = {}
    for name, cls in (
        ("colors", slicer.vtkSlicerColorLogic),
        ("volumes", slicer.vtkSlicerVolumesLogic),
        ("segmentations", slicer.vtkSlicerSegmentationsModuleLogic),
    ):
        logic = cls()
        logic.SetMRMLApplicationLogic(app_logic)
        logic.SetMRMLScene(scene)
        app_logic.SetModuleLogic(name.capitalize(), logic)
        logics[name] = logic
    # What slicer.util reads inside the application: slicer.mrmlScene and slicer.modules.<name>.logic().
    slicer.mrmlScene = scene
    slicer.app_logic = app_logic
    slicer.modules = types.SimpleNamespace(
        **{name: types.SimpleNamespace(logic=(lambda logic=logic: logic), name=name) for name, logic in logics.items()}
    )
    return MRMLContext(scene, app_logic, logics)


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
