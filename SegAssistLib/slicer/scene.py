"""A ready MRML scene outside the Slicer application (slicer-core), for scripting and tests.

A bare ``slicer.vtkMRMLScene()`` cannot hold segmentations: ``vtkSegmentation::AddSegment`` fails with
"Unable to construct empty representation type 'Binary labelmap'" because the representation converters
are registered by the Segmentations module logic, and Slicer's volume/colour helpers need theirs. Inside
the application ``slicer.mrmlScene`` already has them. :func:`headless_scene` builds the same set-up:
a scene, a ``vtkSlicerApplicationLogic`` and the Colors, Volumes and Segmentations module logics (the
Terminologies logic is left out: its JSON files are not part of slicer-core and it logs errors without
them), kept alive by a reference from here because the application logic holds module logics weakly.

    from SegAssistLib.slicer.scene import headless_workflow
    wf = headless_workflow()          # scene + logics + SegAssistWorkflow, classical backend
"""

from __future__ import annotations

import types
from typing import Any

#: Module logics registered on a headless scene: the name Slicer's application logic knows each by, and its class.
MODULE_LOGICS = {"Colors": "vtkSlicerColorLogic", "Volumes": "vtkSlicerVolumesLogic",
                 "Segmentations": "vtkSlicerSegmentationsModuleLogic"}

_KEEP_ALIVE: list[Any] = []


def in_slicer_application() -> bool:
    """True inside the Slicer application (``slicer.app`` exists), False on slicer-core."""
    from SegAssistLib.slicer.nodes import slicer_modules

    return hasattr(slicer_modules()[0], "app")


def headless_scene(make_current: bool = True) -> Any:
    """A new ``vtkMRMLScene`` with its application logic and module logics registered.

    With ``make_current`` (outside the application only) ``slicer.mrmlScene`` and
    ``slicer.modules.<name>.logic()`` point at it, so ``slicer.util`` helpers work as inside Slicer.
    :func:`application_logic` and :func:`module_logic` return the logics of the scene.
    """
    from SegAssistLib.slicer.nodes import slicer_modules

    slicer, _ = slicer_modules()
    scene = slicer.vtkMRMLScene()
    app_logic = slicer.vtkSlicerApplicationLogic()
    app_logic.SetMRMLScene(scene)
    logics = {}
    for name, cls in MODULE_LOGICS.items():
        logic = getattr(slicer, cls)()
        logic.SetMRMLApplicationLogic(app_logic)
        logic.SetMRMLScene(scene)
        app_logic.SetModuleLogic(name, logic)
        logics[name] = logic
    _KEEP_ALIVE.append((scene, app_logic, logics))
    if make_current and not in_slicer_application():
        slicer.mrmlScene = scene
        slicer.app_logic = app_logic
        slicer.modules = types.SimpleNamespace(
            **{n.lower(): types.SimpleNamespace(logic=(lambda lg=lg: lg), name=n.lower()) for n, lg in logics.items()}
        )
    return scene


def module_logic(scene: Any, name: str) -> Any:
    """The module logic ``name`` ("Colors", "Volumes", "Segmentations") registered for a headless scene."""
    for held_scene, _, logics in _KEEP_ALIVE:
        if held_scene is scene:
            return logics[name]
    raise KeyError(f"{name!r}: the scene was not made by headless_scene()")


def application_logic(scene: Any) -> Any:
    """The ``vtkSlicerApplicationLogic`` of a headless scene."""
    for held_scene, app_logic, _ in _KEEP_ALIVE:
        if held_scene is scene:
            return app_logic
    raise KeyError("the scene was not made by headless_scene()")


def headless_workflow(backend: str = "classical", **options: Any) -> Any:
    """A :class:`~SegAssistLib.slicer.workflow.SegAssistWorkflow` on a new :func:`headless_scene`
    (``workflow.scene``); ``options`` go to the workflow (e.g. ``backend_options={"model": "tiny"}``)."""
    from SegAssistLib.slicer.workflow import SegAssistWorkflow

    return SegAssistWorkflow(headless_scene(), backend=backend, **options)
