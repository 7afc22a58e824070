"""SegAssist: AI-assisted segmentation in 3D Slicer (SAM 2 or a classical, weight-free backend).

Slicer's scripted-module pattern: :class:`SegAssist` (module metadata), :class:`SegAssistWidget` (the Qt
panel, loaded from Resources/UI/SegAssist.ui, kept thin), :class:`SegAssistLogic` (no Qt: a subclass of
:class:`SegAssistLib.slicer.workflow.SegAssistWorkflow`, the Python-console scripting API) and
:class:`SegAssistTest` (the self-test, the same workflow on sample data).

Heavy packages (torch, sam2, highdicom, slicerio, scikit-image) are imported only when used and installed
only when the user presses "Install dependencies", never at start-up.
"""

import logging
import os
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

try:  # Slicer >= 5.4
    from slicer.parameterNodeWrapper import Choice, parameterNodeWrapper
except ImportError:  # pragma: no cover - older Slicer: plain scripted-module-node parameters
    parameterNodeWrapper = None

from slicer import vtkMRMLMarkupsFiducialNode, vtkMRMLMarkupsROINode, vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode

#: Python packages SegAssist needs besides what Slicer ships (numpy, SimpleITK, pydicom, vtk are there).
#: sam2 is installed without dependencies (its own build would pull a CUDA torch), after torch.
PIP_REQUIREMENTS = ["scipy", "scikit-image", "highdicom", "slicerio", "pycocotools", "tqdm", "pillow", "tifffile"]
SAM2_REQUIREMENTS = ["hydra-core>=1.3.2", "iopath>=0.1.10", "omegaconf==2.3.0"]
SAM2_PACKAGE = "sam2==1.1.0"
BACKENDS = ["classical", "sam2"]
MODELS = ["tiny", "small", "base_plus", "large"]
PLANES = ["view", "axial", "coronal", "sagittal"]


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
from SegAssistLib.slicer.workflow import SegAssistWorkflow  # noqa: E402


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
The Logic (<code>slicer.util.getModuleLogic("SegAssist")</code>) is the Python scripting API.
"""
        self.parent.acknowledgementText = """
Built on SAM 2 (Meta AI, Apache-2.0), SimpleITK, scikit-image, highdicom, slicerio and pycocotools.
Test data: pyradiomics sample cases (BSD-3).
"""


#
# Parameter node
#
if parameterNodeWrapper is not None:

    @parameterNodeWrapper
    class SegAssistParameterNode:
        """Panel state stored in the scene, so a saved scene restores it."""

        inputVolume: vtkMRMLScalarVolumeNode
        segmentation: vtkMRMLSegmentationNode
        segmentID: str = ""
        positivePoints: vtkMRMLMarkupsFiducialNode
        negativePoints: vtkMRMLMarkupsFiducialNode
        boxRoi: vtkMRMLMarkupsROINode
        backend: Annotated[str, Choice(BACKENDS)] = "classical"
        model: Annotated[str, Choice(MODELS)] = "tiny"
        checkpoint: str = ""
        plane: Annotated[str, Choice(PLANES)] = "view"
        interpolationMethod: Annotated[str, Choice(["sdf", "sdf-basic", "itk-mci"])] = "sdf"


#
# SegAssistWidget
#
class SegAssistWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """The panel: Qt only. Every action calls one Logic method."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._cancelRequested = False
        self._busy = False

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/SegAssist.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)

        self.logic = SegAssistLogic()

        # Combo-box items (backends, models, planes, methods) are listed in the .ui file.
        self.ui.propagateProgressBar.setVisible(False)
        self.ui.cancelButton.setEnabled(False)

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

        self.initializeParameterNode()
        self.updateDependencyStatus()

    def cleanup(self) -> None:
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        if self._parameterNode and self._parameterNodeGuiTag is not None:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateButtons)

    def onSceneStartClose(self, caller, event) -> None:
        self.setParameterNode(None)
        self.logic.reset()

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
        if self._parameterNode and self._parameterNodeGuiTag is not None:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateButtons)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            # connectGui binds widgets that carry a SlicerParameterName property in the .ui file.
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateButtons)
            self.onSegmentationChanged(self._parameterNode.segmentation)
            self.updateButtons()

    def updateButtons(self, caller=None, event=None) -> None:
        p = self._parameterNode
        ready = bool(p and p.inputVolume and p.segmentation and p.segmentID) and not self._busy
        hasPrompts = bool(p and (p.positivePoints or p.boxRoi))
        self.ui.applySliceButton.enabled = ready and hasPrompts
        self.ui.lockSliceButton.enabled = ready
        self.ui.propagateButton.enabled = ready
        self.ui.interpolateButton.enabled = ready
        self.ui.exportSegmentationButton.enabled = bool(p and p.segmentation) and not self._busy
        self.ui.export2DButton.enabled = bool(p and p.segmentation and p.inputVolume) and not self._busy
        self.ui.modelComboBox.enabled = bool(p and p.backend == "sam2")
        self.ui.checkpointPathLineEdit.enabled = bool(p and p.backend == "sam2")

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
                p.segmentation = self.logic.create_segmentation(p.inputVolume)
            name = self.ui.segmentNameLineEdit.text.strip() or f"Segment {p.segmentation.GetSegmentation().GetNumberOfSegments() + 1}"
            p.segmentID = self.logic.add_segment(p.segmentation, name, volume_node=p.inputVolume)
            self.ui.segmentsTableView.setSelectedSegmentIDs([p.segmentID])
            # Terminology, name and colour are edited in the segments table (double-click), as in Segment Editor.

    def onNewPrompts(self) -> None:
        p = self._parameterNode
        name = self._currentSegmentName()
        p.positivePoints = self.logic.create_prompt_node(name)
        p.negativePoints = self.logic.create_prompt_node(name, negative=True)
        p.boxRoi = self.logic.create_box_node(name)
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
                return self.logic.plane_at_point(pos)
        return "axial"

    def _backend(self) -> None:
        p = self._parameterNode
        options = {}
        if p.backend == "sam2":
            options = {"model": p.model}
            if p.checkpoint:
                options["checkpoint"] = p.checkpoint
        if (p.backend, options) != (self.logic.backend_name, self.logic.backend_options):
            self.logic.set_backend(p.backend, **options)

    # ---- actions ---------------------------------------------------------------------------------------
    def onBackendChanged(self, name) -> None:
        self.updateDependencyStatus()

    def onApplySlice(self) -> None:
        p = self._parameterNode
        with slicer.util.tryWithErrorDisplay("Segmentation of this slice failed.", waitCursor=True):
            self._backend()
            nodes = [n for n in (p.positivePoints, p.negativePoints, p.boxRoi) if n]
            k, mask = self.logic.segment_slice(p.inputVolume, p.segmentation, p.segmentID, nodes, self._plane())
            self.ui.statusLabel.text = f"{self._plane()} slice {k}: {int(mask.sum())} pixels segmented."

    def onLockSlice(self) -> None:
        p = self._parameterNode
        with slicer.util.tryWithErrorDisplay("Could not use the drawn slice as a keyframe.", waitCursor=True):
            self._backend()
            plane = self._plane()
            sliceNode = slicer.app.layoutManager().sliceWidget("Red" if plane == "axial" else "Green" if plane == "coronal" else "Yellow").mrmlSliceNode()
            m = sliceNode.GetSliceToRAS()
            center = [m.GetElement(r, 3) for r in range(3)]
            k = int(self.logic.engine(p.inputVolume).view(plane).ras_to_pixel(center)[0].round())
            self.logic.lock_slice(p.inputVolume, p.segmentation, p.segmentID, plane, k)
            self.ui.statusLabel.text = f"{plane} slice {k} locked as a hand-drawn keyframe."

    def onPropagate(self) -> None:
        """Propagate with a progress bar; UI events are processed between slices so Cancel works."""
        from SegAssistLib.engine.segmentation_engine import Cancelled

        p = self._parameterNode
        self._cancelRequested = False
        self._setBusy(True)
        try:
            self._backend()

            def progress(done, total):
                self.ui.propagateProgressBar.maximum = total
                self.ui.propagateProgressBar.value = done
                slicer.app.processEvents()

            result = self.logic.propagate(p.inputVolume, p.segmentation, p.segmentID, progress=progress,
                                          should_stop=lambda: self._cancelRequested)
            low = [f"{pl} {n}" for pl, scores in result.confidence.items() for n, s in scores.items() if s < 0.5]
            self.ui.statusLabel.text = "Propagated." + (f" Check low-confidence slices: {', '.join(low[:8])}" if low else "")
        except Cancelled:
            self.ui.statusLabel.text = "Propagation cancelled; the segmentation was left as it was."
        except Exception as exc:  # shown to the user, logged with traceback
            logging.exception("SegAssist propagation failed")
            slicer.util.errorDisplay(f"Propagation failed: {exc}")
        finally:
            self._setBusy(False)

    def onCancel(self) -> None:
        self._cancelRequested = True
        self.ui.statusLabel.text = "Cancelling..."

    def _setBusy(self, busy: bool) -> None:
        self._busy = busy
        self.ui.propagateProgressBar.setVisible(busy)
        self.ui.propagateProgressBar.value = 0
        self.ui.cancelButton.setEnabled(busy)
        self.updateButtons()

    def onInterpolate(self) -> None:
        p = self._parameterNode
        with slicer.util.tryWithErrorDisplay("Interpolation failed.", waitCursor=True):
            plane = "auto" if p.plane == "view" else p.plane
            keys = self.logic.interpolate(p.inputVolume, p.segmentation, p.segmentID, plane, p.interpolationMethod)
            self.ui.statusLabel.text = f"Interpolated between {len(keys)} keyframes."

    def onUndo(self) -> None:
        if not self.logic.undo():
            self.ui.statusLabel.text = "Nothing to undo."

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
                p.segmentation = self.logic.import_segmentation(path, p.inputVolume, p.segmentation)

    def onExportSegmentation(self) -> None:
        path = self._saveFile("Export segmentation", "Slicer segmentation (*.seg.nrrd);;DICOM SEG (*.dcm);;Labelmap (*.nii.gz *.nrrd)")
        if path:
            with slicer.util.tryWithErrorDisplay("Export failed.", waitCursor=True):
                written = self.logic.export_segmentation(self._parameterNode.segmentation, path, self._parameterNode.inputVolume)
                self.ui.statusLabel.text = "Wrote " + ", ".join(str(w) for w in written)

    def onImportOntology(self) -> None:
        path = self._openFile("Import ontology", "Ontologies (*.ctbl *.txt *.csv *.json *.xml)")
        if path:
            with slicer.util.tryWithErrorDisplay("Ontology import failed.", waitCursor=True):
                p = self._parameterNode
                if not p.segmentation:
                    p.segmentation = self.logic.create_segmentation(p.inputVolume)
                added = self.logic.import_ontology(path, p.segmentation)
                self.ui.statusLabel.text = f"Ontology applied; {len(added)} segments added."

    def onExportOntology(self) -> None:
        path = self._saveFile("Export ontology", "Ontologies (*.ctbl *.csv *.json *.xml)")
        if path:
            with slicer.util.tryWithErrorDisplay("Ontology export failed.", waitCursor=True):
                self.logic.export_ontology(self._parameterNode.segmentation, path)

    def onImport2D(self) -> None:
        path = self._openFile("Import 2D dataset (COCO)", "COCO JSON (*.json)")
        if path:
            with slicer.util.tryWithErrorDisplay("2D dataset import failed.", waitCursor=True):
                volume, segmentation = self.logic.import_2d_dataset(path)
                self._parameterNode.inputVolume = volume
                self._parameterNode.segmentation = segmentation

    def onExport2D(self) -> None:
        path = self._saveFile("Export slices as a 2D dataset (COCO)", "COCO JSON (*.json)")
        if path:
            with slicer.util.tryWithErrorDisplay("2D dataset export failed.", waitCursor=True):
                p = self._parameterNode
                plane = "axial" if p.plane == "view" else p.plane
                self.logic.export_2d_dataset(p.inputVolume, p.segmentation, path, plane)

    # ---- dependencies ----------------------------------------------------------------------------------
    def updateDependencyStatus(self) -> None:
        missing = self.logic.missing_packages(self.ui.backendComboBox.currentText == "sam2")
        self.ui.dependencyStatusLabel.text = ("Missing: " + ", ".join(missing)) if missing else "All dependencies installed."
        self.ui.installDependenciesButton.enabled = bool(missing)

    def onInstallDependencies(self) -> None:
        """Ask first; torch through PyTorch Utils when present; the rest with pip. Never runs at start-up."""
        withSam2 = self.ui.backendComboBox.currentText == "sam2"
        missing = self.logic.missing_packages(withSam2)
        if not missing:
            return
        if not slicer.util.confirmOkCancelDisplay(
            "SegAssist will install these Python packages into Slicer's Python:\n  " + "\n  ".join(missing)
            + "\n\nThis downloads from the internet and can take several minutes. Continue?",
            windowTitle="Install SegAssist dependencies",
        ):
            return
        with slicer.util.tryWithErrorDisplay("Installing dependencies failed.", waitCursor=True):
            self.logic.install_dependencies(withSam2)
        self.updateDependencyStatus()


#
# SegAssistLogic
#
class SegAssistLogic(ScriptedLoadableModuleLogic, SegAssistWorkflow):
    """The scripting API: everything the panel does, on MRML nodes, without Qt.

    All methods come from :class:`SegAssistLib.slicer.workflow.SegAssistWorkflow` (load_volume,
    create_segmentation, add_segment, create_prompt_node, segment_slice, lock_slice, propagate, interpolate,
    export_segmentation, import_segmentation, import_ontology, export_ontology, export_2d_dataset,
    import_2d_dataset, undo); this class adds the parameter node and dependency installation.
    """

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        SegAssistWorkflow.__init__(self)  # scene: slicer.mrmlScene

    def getParameterNode(self):
        node = super().getParameterNode()
        return SegAssistParameterNode(node) if parameterNodeWrapper is not None else node

    @staticmethod
    def missing_packages(with_sam2: bool = False) -> list:
        """Python packages (pip names) that are not importable yet."""
        import importlib.util

        modules = {"scipy": "scipy", "skimage": "scikit-image", "highdicom": "highdicom", "slicerio": "slicerio",
                   "pycocotools": "pycocotools", "tqdm": "tqdm", "PIL": "pillow", "tifffile": "tifffile"}
        if with_sam2:
            modules.update({"torch": "torch", "hydra": "hydra-core", "iopath": "iopath", "sam2": SAM2_PACKAGE})
        return [pip for module, pip in modules.items() if importlib.util.find_spec(module) is None]

    def install_dependencies(self, with_sam2: bool = False) -> None:
        """Install what is missing. torch comes from Slicer's PyTorch Utils module (the PyTorch extension),
        which picks the right CPU/CUDA build; without it the user is told how to get it."""
        import importlib.util

        missing = self.missing_packages(with_sam2)
        plain = [p for p in missing if p not in ("torch", SAM2_PACKAGE) and p not in SAM2_REQUIREMENTS]
        if plain:
            slicer.util.pip_install(plain)
        if not with_sam2:
            return
        if importlib.util.find_spec("torch") is None:
            if not hasattr(slicer.modules, "pytorchutils"):
                raise RuntimeError(
                    "SAM 2 needs PyTorch. Install the 'PyTorch' extension from the Extensions Manager, restart "
                    "Slicer, then press 'Install dependencies' again (or choose the classical backend)."
                )
            import PyTorchUtils

            torch = PyTorchUtils.PyTorchUtilsLogic().installTorch(askConfirmation=True)
            if torch is None:
                raise RuntimeError("PyTorch was not installed (cancelled or failed); SAM 2 is not available.")
        slicer.util.pip_install(SAM2_REQUIREMENTS)
        # sam2's isolated build would pull another torch: build it against the installed one, no dependencies.
        slicer.util.pip_install(["--no-build-isolation", "--no-deps", SAM2_PACKAGE])


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

    def test_SegAssistWorkflow(self):
        """Load a CT, prompt a blob of high intensity, segment, propagate, interpolate, export, undo."""
        import tempfile

        import numpy as np
        import SampleData

        self.delayDisplay("Loading sample data")
        volumeNode = SampleData.downloadSample("CTChest")
        logic = SegAssistLogic()
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
