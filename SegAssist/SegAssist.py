"""SegAssist: AI-assisted segmentation in 3D Slicer (SAM 2 or a classical, weight-free backend).

Slicer's scripted-module pattern: :class:`SegAssist` (module metadata), :class:`SegAssistWidget` (the Qt
panel, loaded from Resources/UI/SegAssist.ui, kept thin), :class:`SegAssistLogic` (no Qt: the parameter node
and a :class:`SegAssistLib.slicer.workflow.SegAssistWorkflow`, ``logic.workflow``, the Python-console
scripting API) and :class:`SegAssistTest` (the self-test, the same workflow on sample data).

Lists (backends, SAM 2 models, planes, interpolation methods), geometry, prompts, undo and dependency rules
come from the library; this file only wires widgets to them. Heavy packages (torch, sam2, highdicom,
slicerio, scikit-image) are imported only when used and installed only when the user presses
"Install dependencies" (or the self-test needs them), never at start-up.
"""

import logging
import os
import pathlib
from typing import Annotated, Optional

import qt
import vtk

import slicer
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

from slicer.parameterNodeWrapper import Choice, parameterNodeWrapper  # Slicer >= 5.4; SegAssist needs 5.8

from slicer import vtkMRMLMarkupsFiducialNode, vtkMRMLMarkupsROINode, vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode

def _ensure_lib_importable():
    """SegAssistLib is installed beside the module; in a source checkout it is one folder up."""
    here = os.path.dirname(os.path.abspath(__file__))
    for candidate in (here, os.path.dirname(here)):
        if os.path.isdir(os.path.join(candidate, "SegAssistLib")):
            import sys

            if candidate not in sys.path:
                sys.path.insert(0, candidate)
            return


_ensure_lib_importable()
from SegAssistLib.backends.sam2.checkpoints import MODELS  # noqa: E402
from SegAssistLib.core.planes import PLANES  # noqa: E402
from SegAssistLib.errors import SegAssistError  # noqa: E402
from SegAssistLib.interpolation import METHODS  # noqa: E402
from SegAssistLib.slicer import dependencies, exchange  # noqa: E402
from SegAssistLib.slicer.prompts import has_placed_prompt  # noqa: E402
from SegAssistLib.slicer.remote import SERVER_MODES, describe, server_capabilities  # noqa: E402
from SegAssistLib.slicer.workflow import SegAssistWorkflow  # noqa: E402

#: "view": the plane of the slice view the last point was placed in.
PLANE_CHOICES = ["view", *PLANES]


#
# SegAssist
#
class SegAssist(ScriptedLoadableModule):
    """Module metadata shown in Slicer's module list and help panel."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "SegAssist"
        self.parent.categories = ["Segmentation"]
        self.parent.dependencies = ["Segmentations", "Markups"]
        self.parent.contributors = ["SegAssist developers"]
        self.parent.helpText = """
AI-assisted segmentation: place positive/negative points or an ROI box on any axial, coronal or sagittal
slice, apply on that slice, then propagate through the volume (SAM 2 or the classical backend) or
interpolate slices you drew. Results land in an ordinary segmentation node (names, colours, terminology,
undo). Import and export .seg.nrrd, DICOM SEG, label ontologies and 2D (COCO) datasets.
The scripting API is <code>slicer.util.getModuleLogic("SegAssist").workflow</code>.
"""
        self.parent.acknowledgementText = """
Built on SAM 2 (Meta AI, Apache-2.0), SimpleITK, scikit-image, highdicom, slicerio and pycocotools.
Test data: pyradiomics sample cases (BSD-3).
"""


#
# Parameter node
#
@parameterNodeWrapper
class SegAssistParameterNode:
    """Panel state stored in the scene, so a saved scene restores it."""

    inputVolume: vtkMRMLScalarVolumeNode
    segmentation: vtkMRMLSegmentationNode
    segmentID: str = ""
    positivePoints: vtkMRMLMarkupsFiducialNode
    negativePoints: vtkMRMLMarkupsFiducialNode
    boxRoi: vtkMRMLMarkupsROINode
    backend: Annotated[str, Choice(dependencies.backend_choices())] = "classical"
    model: Annotated[str, Choice(list(MODELS))] = "tiny"
    # ctkPathLineEdit binds only to pathlib types (guiConnectors.py, ctkPathLineEditToPathConnector);
    # an empty line edit reads as Path("."), which means "download the official checkpoint".
    checkpoint: pathlib.Path
    plane: Annotated[str, Choice(PLANE_CHOICES)] = "view"
    interpolationMethod: Annotated[str, Choice(list(METHODS))] = "sdf"
    # Where the engine runs: "local" or a SegAssist server at serverUrl. The API key is deliberately NOT a
    # parameter (a saved scene would carry it in plain text): it stays in the panel's password field.
    serverMode: Annotated[str, Choice(SERVER_MODES)] = "local"
    serverUrl: str = ""


#
# SegAssistWidget
#
def parameter_widgets(ui) -> dict:
    """{parameter name: widget} of the widgets that carry a ``SlicerParameterName`` property in the .ui file
    (what ``connectGui`` collects, wrapper.py ``_connectGui``)."""
    out = {}
    for widget in ui.__dict__.values():
        name = widget.property("SlicerParameterName") if hasattr(widget, "property") else None
        if name:
            out[str(name)] = widget
    return out


class SegAssistWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """The panel: Qt only. Every action calls one workflow method of the Logic."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._cancelRequested = False
        self._review = []

    @property
    def workflow(self) -> SegAssistWorkflow:
        return self.logic.workflow

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/SegAssist.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)

        self.logic = SegAssistLogic()

        # Combo-box items (backends, models, planes, methods) come from the parameter node's Choice lists,
        # which come from the library; the .ui file lists none.
        self.ui.propagateProgressBar.setVisible(False)
        self.ui.cancelButton.setEnabled(False)
        reason = dependencies.sam2_unavailable_reason()
        if reason:
            self.ui.backendComboBox.toolTip = reason

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)

        self.ui.segmentationSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.onSegmentationChanged)
        self.ui.segmentsTableView.connect("selectionChanged(QItemSelection,QItemSelection)", self.onSegmentSelected)
        self.ui.positivePointsSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.ui.positivePlaceWidget.setCurrentNode)
        self.ui.negativePointsSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.ui.negativePlaceWidget.setCurrentNode)
        self.ui.boxRoiSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.ui.boxPlaceWidget.setCurrentNode)
        self.ui.addSegmentButton.connect("clicked(bool)", self.onAddSegment)
        self.ui.newPromptsButton.connect("clicked(bool)", self.onNewPrompts)
        self.ui.installDependenciesButton.connect("clicked(bool)", self.onInstallDependencies)
        self.ui.testConnectionButton.connect("clicked(bool)", self.onTestConnection)
        self.ui.backendComboBox.connect("currentTextChanged(QString)", self.onBackendChanged)
        self.ui.applySliceButton.connect("clicked(bool)", self.onApplySlice)
        self.ui.lockSliceButton.connect("clicked(bool)", self.onLockSlice)
        self.ui.propagateButton.connect("clicked(bool)", self.onPropagate)
        self.ui.cancelButton.connect("clicked(bool)", self.onCancel)
        self.ui.interpolateButton.connect("clicked(bool)", self.onInterpolate)
        self.ui.undoButton.connect("clicked(bool)", self.onUndo)
        self.ui.importSegmentationButton.connect("clicked(bool)", self.onImportSegmentation)
        self.ui.exportSegmentationButton.connect("clicked(bool)", self.onExportSegmentation)
        self.ui.importOntologyButton.connect("clicked(bool)", self.onImportOntology)
        self.ui.exportOntologyButton.connect("clicked(bool)", self.onExportOntology)
        self.ui.import2DButton.connect("clicked(bool)", self.onImport2D)
        self.ui.export2DButton.connect("clicked(bool)", self.onExport2D)
        self.ui.reviewComboBox.connect("activated(int)", self.onReviewSlice)

        self.initializeParameterNode()
        self.updateDependencyStatus()

    def cleanup(self) -> None:
        self.removeObservers()
        self.setParameterNode(None)

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        self.setParameterNode(None)

    def onSceneStartClose(self, caller, event) -> None:
        self.setParameterNode(None)
        # A running propagation is cancelled at its next slice and the engines are closed after it stops.
        self._cancelRequested = True
        self.workflow.reset()
        self._review = []
        self.ui.reviewComboBox.clear()

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    # ---- parameter node ------------------------------------------------------------------------------
    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())
        if not self._parameterNode.inputVolume:
            first = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
            if first:
                self._parameterNode.inputVolume = first

    def setParameterNode(self, inputParameterNode) -> None:
        if self._parameterNode is inputParameterNode and self._parameterNodeGuiTag is not None:
            return  # already bound (enter() after setup())
        if self._parameterNode and self._parameterNodeGuiTag is not None:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateButtons)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            # connectParametersToGui returns the tag on every Slicer >= 5.4; connectGui returns None on 5.8
            # (wrapper.py v5.8.1 line 253 drops _connectParametersToGui's tag), so its bindings could never be
            # disconnected and would pile up on every enter().
            self._parameterNodeGuiTag = self._parameterNode.connectParametersToGui(parameter_widgets(self.ui))
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateButtons)
            self.onSegmentationChanged(self._parameterNode.segmentation)
            self.updateButtons()

    def updateButtons(self, caller=None, event=None) -> None:
        p = self._parameterNode
        idle = not self.workflow.busy
        ready = bool(p and p.inputVolume and p.segmentation and p.segmentID) and idle
        self.ui.applySliceButton.enabled = ready and has_placed_prompt([p.positivePoints, p.negativePoints, p.boxRoi])
        self.ui.lockSliceButton.enabled = ready
        self.ui.propagateButton.enabled = ready
        self.ui.interpolateButton.enabled = ready
        for button in (self.ui.undoButton, self.ui.addSegmentButton, self.ui.newPromptsButton,
                       self.ui.importSegmentationButton, self.ui.importOntologyButton, self.ui.import2DButton,
                       self.ui.backendComboBox, self.ui.reviewComboBox):
            button.enabled = idle
        self.ui.exportSegmentationButton.enabled = bool(p and p.segmentation) and idle
        self.ui.exportOntologyButton.enabled = bool(p and p.segmentation) and idle
        self.ui.export2DButton.enabled = bool(p and p.segmentation and p.inputVolume) and idle
        remote = bool(p and p.serverMode == "remote")
        # Remotely the server's backend runs: the local backend choice does not apply.
        self.ui.backendComboBox.enabled = idle and not remote
        self.ui.modelComboBox.enabled = bool(p and p.backend == "sam2") and idle and not remote
        self.ui.checkpointPathLineEdit.enabled = bool(p and p.backend == "sam2") and idle and not remote
        self.ui.serverModeComboBox.enabled = idle
        for widget in (self.ui.serverUrlLineEdit, self.ui.serverKeyLineEdit, self.ui.testConnectionButton):
            widget.enabled = remote and idle

    # ---- segments and prompts ------------------------------------------------------------------------
    def onSegmentationChanged(self, node) -> None:
        self.ui.segmentsTableView.setSegmentationNode(node)

    def onSegmentSelected(self, *args) -> None:
        ids = self.ui.segmentsTableView.selectedSegmentIDs()
        if self._parameterNode is not None:
            self._parameterNode.segmentID = ids[0] if ids else ""

    def _currentSegmentName(self) -> str:
        p = self._parameterNode
        segment = p.segmentation.GetSegmentation().GetSegment(p.segmentID) if p and p.segmentation else None
        return segment.GetName() if segment else "Segment"

    def onAddSegment(self) -> None:
        p = self._parameterNode
        with slicer.util.tryWithErrorDisplay("Could not add the segment.", waitCursor=True):
            if not p.segmentation:
                p.segmentation = self.workflow.create_segmentation(p.inputVolume)
            name = self.ui.segmentNameLineEdit.text.strip() or f"Segment {p.segmentation.GetSegmentation().GetNumberOfSegments() + 1}"
            p.segmentID = self.workflow.add_segment(p.segmentation, name, volume_node=p.inputVolume)
            self.ui.segmentsTableView.setSelectedSegmentIDs([p.segmentID])
            # Terminology, name and colour are edited in the segments table (double-click), as in Segment Editor.

    def onNewPrompts(self) -> None:
        p = self._parameterNode
        name = self._currentSegmentName()
        p.positivePoints = self.workflow.create_prompt_node(name)
        p.negativePoints = self.workflow.create_prompt_node(name, negative=True)
        p.boxRoi = self.workflow.create_box_node(name)  # not a prompt until it is placed
        self.ui.positivePlaceWidget.setPlaceModeEnabled(True)

    def _plane(self) -> str:
        """The chosen plane, or for "view" the plane of the slice view the last point was placed in."""
        p = self._parameterNode
        if p.plane != "view":
            return p.plane
        for node in (p.positivePoints, p.negativePoints):
            if node and node.GetNumberOfControlPoints():
                pos = [0.0, 0.0, 0.0]
                node.GetNthControlPointPositionWorld(node.GetNumberOfControlPoints() - 1, pos)
                return self.workflow.plane_at_point(pos)
        return "axial"

    def _serverUrl(self) -> str:
        """The server URL when the panel is set to remote ("" for local); an empty URL is an error then."""
        p = self._parameterNode
        if p.serverMode != "remote":
            return ""
        if not p.serverUrl.strip():
            raise SegAssistError("Remote is chosen but no server URL is given: enter it in the Server section.")
        return p.serverUrl

    def _backend(self) -> None:
        p = self._parameterNode
        # The key is read from the password field each time (memory only, never the parameter node).
        self.workflow.set_server(self._serverUrl(), self.ui.serverKeyLineEdit.text or None)
        options = {}
        if p.backend == "sam2":
            options = {"model": p.model}
            if p.checkpoint and str(p.checkpoint) not in ("", "."):
                options["checkpoint"] = str(p.checkpoint)
        if (p.backend, options) != (self.workflow.backend_name, self.workflow.backend_options):
            self.workflow.set_backend(p.backend, **options)

    # ---- actions ---------------------------------------------------------------------------------------
    def onBackendChanged(self, name) -> None:
        self.updateDependencyStatus()

    def onTestConnection(self) -> None:
        """The server's capabilities route: version, backend, whether it requires a key."""
        self.ui.serverStatusLabel.text = ""
        with slicer.util.tryWithErrorDisplay("Could not connect to the SegAssist server.", waitCursor=True):
            caps = server_capabilities(self._serverUrl(), self.ui.serverKeyLineEdit.text or None)
            self.ui.serverStatusLabel.text = describe(caps)

    def onApplySlice(self) -> None:
        p = self._parameterNode
        with slicer.util.tryWithErrorDisplay("Segmentation of this slice failed.", waitCursor=True):
            self._backend()
            plane = self._plane()
            k, mask = self.workflow.segment_slice(p.inputVolume, p.segmentation, p.segmentID,
                                                  [p.positivePoints, p.negativePoints, p.boxRoi], plane)
            self.ui.statusLabel.text = f"{plane} slice {k}: {int(mask.sum())} pixels segmented."

    def onLockSlice(self) -> None:
        p = self._parameterNode
        with slicer.util.tryWithErrorDisplay("Could not use the drawn slice as a keyframe.", waitCursor=True):
            self._backend()
            plane = "axial" if p.plane == "view" else p.plane
            k = self.workflow.lock_slice_in_view(p.inputVolume, p.segmentation, p.segmentID, plane)
            self.ui.statusLabel.text = f"{plane} slice {k} locked as a hand-drawn keyframe."

    def onPropagate(self) -> None:
        """Propagate with a progress bar; UI events are processed between slices so Cancel works. Every other
        button is disabled meanwhile (the workflow is busy); closing the scene cancels the run safely."""
        from SegAssistLib.engine.segmentation_engine import Cancelled

        p = self._parameterNode
        volume, segmentation, segmentID = p.inputVolume, p.segmentation, p.segmentID
        self._cancelRequested = False
        try:
            self._backend()

            def progress(done, total):
                self.ui.propagateProgressBar.maximum = total
                self.ui.propagateProgressBar.value = done
                slicer.app.processEvents()

            self._showProgress(True)
            self.workflow.propagate(volume, segmentation, segmentID, progress=progress,
                                    should_stop=lambda: self._cancelRequested)
            self._review = self.workflow.slices_to_review()
            self.ui.reviewComboBox.clear()
            for plane, n, why in self._review:
                self.ui.reviewComboBox.addItem(f"{plane} {n}: {why}")
            self.ui.statusLabel.text = "Propagated." + (f" {len(self._review)} slices to review." if self._review else "")
        except Cancelled:
            self.ui.statusLabel.text = "Propagation cancelled; the segmentation was left as it was."
        except Exception as exc:  # shown to the user, logged with traceback
            logging.exception("SegAssist propagation failed")
            slicer.util.errorDisplay(f"Propagation failed: {exc}")
        finally:
            self._showProgress(False)

    def onReviewSlice(self, index) -> None:
        if 0 <= index < len(self._review):
            plane, n, _ = self._review[index]
            if not self.workflow.show_slice(self._parameterNode.inputVolume, plane, n):
                self.ui.statusLabel.text = f"No slice view shows the {plane} plane in this layout."

    def onCancel(self) -> None:
        self._cancelRequested = True
        self.ui.statusLabel.text = "Cancelling..."

    def _showProgress(self, running: bool) -> None:
        self.ui.propagateProgressBar.setVisible(running)
        self.ui.propagateProgressBar.value = 0
        # A remote propagation cannot be cancelled: the server answers when it is done.
        self.ui.cancelButton.setEnabled(running and self.workflow.server.url == "")
        if self._parameterNode is not None:
            self.updateButtons()
            if running:  # the workflow is busy only inside propagate(): disable the rest now
                for name in ("applySliceButton", "lockSliceButton", "propagateButton", "interpolateButton",
                             "undoButton", "addSegmentButton", "newPromptsButton", "importSegmentationButton",
                             "importOntologyButton", "import2DButton", "backendComboBox",
                             "installDependenciesButton", "exportSegmentationButton", "exportOntologyButton",
                             "export2DButton", "modelComboBox", "checkpointPathLineEdit", "planeComboBox",
                             "interpolationMethodComboBox", "reviewComboBox", "serverModeComboBox",
                             "serverUrlLineEdit", "serverKeyLineEdit", "testConnectionButton"):
                    getattr(self.ui, name).enabled = False
        if not running:
            self.updateDependencyStatus()

    def onInterpolate(self) -> None:
        p = self._parameterNode
        with slicer.util.tryWithErrorDisplay("Interpolation failed.", waitCursor=True):
            plane = "auto" if p.plane == "view" else p.plane
            keys = self.workflow.interpolate(p.inputVolume, p.segmentation, p.segmentID, plane, p.interpolationMethod)
            self.ui.statusLabel.text = f"Interpolated between {len(keys)} keyframes."

    def onUndo(self) -> None:
        label = self.workflow.history.undo()
        self.ui.statusLabel.text = f"Undone: {label}." if label else "Nothing to undo."

    # ---- import / export -------------------------------------------------------------------------------
    def _openFile(self, title, filters):
        return qt.QFileDialog.getOpenFileName(self.parent, title, "", filters)

    def _saveFile(self, title, filters):
        return qt.QFileDialog.getSaveFileName(self.parent, title, "", filters)

    def onImportSegmentation(self) -> None:
        path = self._openFile("Import segmentation", "Segmentations (*.seg.nrrd *.nrrd *.nii *.nii.gz *.dcm)")
        if path:
            with slicer.util.tryWithErrorDisplay("Import failed.", waitCursor=True):
                p = self._parameterNode
                p.segmentation = self.workflow.import_segmentation(path, p.inputVolume, p.segmentation)

    def onExportSegmentation(self) -> None:
        path = self._saveFile("Export segmentation", "Slicer segmentation (*.seg.nrrd);;DICOM SEG (*.dcm);;Labelmap (*.nii.gz *.nrrd)")
        if path:
            with slicer.util.tryWithErrorDisplay("Export failed.", waitCursor=True):
                written = self.workflow.export_segmentation(self._parameterNode.segmentation, path, self._parameterNode.inputVolume)
                self.ui.statusLabel.text = "Wrote " + ", ".join(str(w) for w in written)

    def onImportOntology(self) -> None:
        path = self._openFile("Import ontology", "Ontologies (*.ctbl *.txt *.csv *.json *.xml)")
        if path:
            with slicer.util.tryWithErrorDisplay("Ontology import failed.", waitCursor=True):
                p = self._parameterNode
                if not p.segmentation:
                    p.segmentation = self.workflow.create_segmentation(p.inputVolume)
                added = self.workflow.import_ontology(path, p.segmentation)
                self.ui.statusLabel.text = f"Ontology applied; {len(added)} segments added."

    def onExportOntology(self) -> None:
        path = self._saveFile("Export ontology", "Ontologies (*.ctbl *.csv *.json *.xml)")
        if path:
            with slicer.util.tryWithErrorDisplay("Ontology export failed.", waitCursor=True):
                self.workflow.export_ontology(self._parameterNode.segmentation, path)

    def onImport2D(self) -> None:
        path = self._openFile("Import 2D dataset", exchange.DATASET2D_IMPORT_FILTER)
        if path:
            with slicer.util.tryWithErrorDisplay("2D dataset import failed.", waitCursor=True):
                volume, segmentation = self.workflow.import_2d_dataset(path)
                self._parameterNode.inputVolume = volume
                self._parameterNode.segmentation = segmentation

    def onExport2D(self) -> None:
        path = self._saveFile("Export slices as a 2D dataset", exchange.DATASET2D_EXPORT_FILTER)
        if path:
            with slicer.util.tryWithErrorDisplay("2D dataset export failed.", waitCursor=True):
                p = self._parameterNode
                plane = "axial" if p.plane == "view" else p.plane
                written = self.workflow.export_2d_dataset(p.inputVolume, p.segmentation, path, plane)
                self.ui.statusLabel.text = f"Wrote {len(written)} files."

    # ---- dependencies ----------------------------------------------------------------------------------
    def _backendNeeds(self) -> tuple:
        """(SAM 2?, pretrained model name or None) for the chosen backend."""
        backend = self.ui.backendComboBox.currentText
        return backend == "sam2", (backend if backend in dependencies.PRETRAINED_CODE else None)

    def updateDependencyStatus(self) -> None:
        withSam2, pretrained = self._backendNeeds()
        missing = dependencies.missing_packages(withSam2, pretrained)
        self.ui.dependencyStatusLabel.text = ("Missing: " + ", ".join(missing)) if missing else "All dependencies installed."
        self.ui.installDependenciesButton.enabled = bool(missing) and not self.workflow.busy

    def onInstallDependencies(self) -> None:
        """Ask first; torch through PyTorch Utils (with SAM 2's minimum version); the rest with pip."""
        withSam2, pretrained = self._backendNeeds()
        missing = dependencies.missing_packages(withSam2, pretrained)
        if not missing:
            return
        if not slicer.util.confirmOkCancelDisplay(
            "SegAssist will install these Python packages into Slicer's Python:\n  " + "\n  ".join(missing)
            + "\n\nThis downloads from the internet and can take several minutes. Continue?",
            windowTitle="Install SegAssist dependencies",
        ):
            return
        with slicer.util.tryWithErrorDisplay("Installing dependencies failed.", waitCursor=True):
            self.logic.install_dependencies(withSam2, pretrained)
        self.updateDependencyStatus()


#
# SegAssistLogic
#
class SegAssistLogic(ScriptedLoadableModuleLogic):
    """The parameter node, dependency installation and :attr:`workflow`, the scripting API: everything the
    panel does, on MRML nodes, without Qt (:class:`SegAssistLib.slicer.workflow.SegAssistWorkflow`).
    ``logic.workflow.set_server(URL, KEY)`` runs the engine on a SegAssist server; "" runs it here."""

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        self.workflow = SegAssistWorkflow()  # scene: slicer.mrmlScene

    def getParameterNode(self):
        return SegAssistParameterNode(super().getParameterNode())

    @staticmethod
    def install_dependencies(with_sam2: bool = False, pretrained: Optional[str] = None) -> list:
        """Install what is missing (see :mod:`SegAssistLib.slicer.dependencies`); returns what was installed."""

        def torch_logic():
            import PyTorchUtils

            return PyTorchUtils.PyTorchUtilsLogic()

        return dependencies.install(with_sam2, slicer.util.pip_install,
                                    torch_logic if hasattr(slicer.modules, "pytorchutils") else None, pretrained)


#
# SegAssistTest
#
class SegAssistTest(ScriptedLoadableModuleTest):
    """Self-test ("Reload and Test"): the Logic's workflow on Slicer's CTChest sample."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_SegAssistWorkflow()

    def installRequirements(self):
        """A stock Slicer lacks scikit-image, slicerio and others the workflow uses: install them first
        (pip only; SAM 2 is not needed, the test runs the classical backend)."""
        missing = dependencies.missing_packages(with_sam2=False)
        if missing:
            self.delayDisplay("Installing " + ", ".join(missing))
            dependencies.install(False, slicer.util.pip_install, None)
        self.assertEqual(dependencies.missing_packages(with_sam2=False), [])

    def test_SegAssistWorkflow(self):
        """Load a CT, prompt a blob of high intensity, segment, propagate, interpolate, export, undo."""
        import tempfile

        import numpy as np
        import SampleData

        self.installRequirements()
        self.delayDisplay("Loading sample data")
        volumeNode = SampleData.downloadSample("CTChest")
        logic = SegAssistLogic().workflow
        volume = logic.volume(volumeNode)
        # A synthetic bright sphere makes a target whose truth is known, on real CT noise and geometry.
        k, j, i = (np.array(volume.shape) // 2).tolist()
        zz, yy, xx = np.ogrid[: volume.shape[0], : volume.shape[1], : volume.shape[2]]
        spacing = volume.spacing
        truth = ((xx - i) * spacing[0]) ** 2 + ((yy - j) * spacing[1]) ** 2 + ((zz - k) * spacing[2]) ** 2 < 20.0**2
        array = slicer.util.arrayFromVolume(volumeNode)
        array[truth] = 900
        slicer.util.arrayFromVolumeModified(volumeNode)

        segmentationNode = logic.create_segmentation(volumeNode)
        segmentId = logic.add_segment(segmentationNode, "Blob", (0.9, 0.3, 0.2))
        points = logic.create_prompt_node("Blob")
        points.AddControlPoint(*volume.kji_to_ras(np.array([k, j, i])))

        self.delayDisplay("Segmenting one slice")
        sliceIndex, mask = logic.segment_slice(volumeNode, segmentationNode, segmentId, [points], "axial")
        self.assertGreater(int(mask.sum()), 0)

        self.delayDisplay("Propagating")
        result = logic.propagate(volumeNode, segmentationNode, segmentId, progress=lambda d, t: slicer.app.processEvents())
        dice = 2 * (result.mask & truth).sum() / (result.mask.sum() + truth.sum())
        self.assertGreater(dice, 0.5)

        self.delayDisplay("Interpolating")
        logic.interpolate(volumeNode, segmentationNode, segmentId, "axial")

        self.delayDisplay("Exporting")
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "blob.seg.nrrd")
            logic.export_segmentation(segmentationNode, path, volumeNode)
            loaded = slicer.util.loadSegmentation(path)
            self.assertEqual(loaded.GetSegmentation().GetNthSegment(0).GetName(), "Blob")

        self.delayDisplay("Undo")
        self.assertTrue(logic.undo())
        self.delayDisplay("Test passed")
