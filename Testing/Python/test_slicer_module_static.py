"""Static checks of the Slicer module and extension packaging (no Slicer application needed).

SegAssist.py compiles; every widget the Widget uses exists in the .ui file and every parameter-node binding
names a real parameter; the Logic has no Qt; the .s4ext has every field Slicer's extension index reads and
agrees with CMakeLists.txt; CMakeLists lists every Python file and resource of the module and installs
SegAssistLib beside it; the icon is a 128x128 PNG.
"""

from __future__ import annotations

import ast
import fnmatch
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULE_DIR = ROOT / "SegAssist"
MODULE_PY = MODULE_DIR / "SegAssist.py"
UI_FILE = MODULE_DIR / "Resources" / "UI" / "SegAssist.ui"
S4EXT = ROOT / "SegAssist.s4ext"

#: Fields the extension index reads from a .s4ext file (Slicer's ExtensionsIndex / extension wizard template).
S4EXT_FIELDS = ["scm", "scmurl", "scmrevision", "depends", "build_subdirectory", "homepage", "contributors",
                "category", "iconurl", "status", "description", "screenshoturls", "enabled"]


@pytest.fixture(scope="module")
def module_ast() -> ast.Module:
    return ast.parse(MODULE_PY.read_text(encoding="utf-8"), str(MODULE_PY))


@pytest.fixture(scope="module")
def ui_tree() -> ET.Element:
    return ET.parse(UI_FILE).getroot()


def _class(tree: ast.Module, name: str) -> ast.ClassDef:
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == name:
            return node
    raise AssertionError(f"class {name} not found in {MODULE_PY.name}")


def _attribute_uses(node: ast.AST, owner: str) -> set[str]:
    """Names X in ``self.<owner>.X`` (owner "ui", "logic") or ``<owner>.X`` (owner "p")."""
    out = set()
    for n in ast.walk(node):
        if not isinstance(n, ast.Attribute):
            continue
        v = n.value
        if isinstance(v, ast.Attribute) and v.attr == owner and isinstance(v.value, ast.Name) and v.value.id == "self":
            out.add(n.attr)
        elif isinstance(v, ast.Name) and v.id == owner:
            out.add(n.attr)
    return out


def _ui_widgets(ui: ET.Element) -> dict[str, ET.Element]:
    return {w.get("name"): w for w in ui.iter("widget")}


# ---- SegAssist.py -----------------------------------------------------------------------------------------
def test_module_compiles_and_has_the_four_scripted_module_classes(module_ast):
    compile(MODULE_PY.read_text(encoding="utf-8"), str(MODULE_PY), "exec")
    bases = {c.name: [ast.unparse(b) for b in c.bases] for c in module_ast.body if isinstance(c, ast.ClassDef)}
    assert bases["SegAssist"] == ["ScriptedLoadableModule"]
    assert "ScriptedLoadableModuleWidget" in bases["SegAssistWidget"]
    assert bases["SegAssistLogic"] == ["ScriptedLoadableModuleLogic"]  # holds a workflow, does not inherit one
    assert bases["SegAssistTest"] == ["ScriptedLoadableModuleTest"]
    module_init = next(f for f in _class(module_ast, "SegAssist").body if isinstance(f, ast.FunctionDef))
    assigned = {ast.unparse(t) for n in ast.walk(module_init) if isinstance(n, ast.Assign) for t in n.targets}
    for field in ("title", "categories", "dependencies", "contributors", "helpText", "acknowledgementText"):
        assert f"self.parent.{field}" in assigned, f"Module does not set parent.{field}"
    categories = next(n.value for n in ast.walk(module_init) if isinstance(n, ast.Assign)
                      and ast.unparse(n.targets[0]) == "self.parent.categories")
    assert ast.literal_eval(categories) == [_s4ext()["category"]]  # the module shows up where the index says


def test_every_widget_the_widget_uses_exists_in_the_ui_file(module_ast, ui_tree):
    used = _attribute_uses(_class(module_ast, "SegAssistWidget"), "ui")
    widgets = _ui_widgets(ui_tree)
    assert len(used) > 20
    missing = sorted(used - set(widgets))
    assert not missing, f"SegAssist.py uses widgets missing from {UI_FILE.name}: {missing}"


def test_ui_parameter_bindings_match_the_parameter_node(module_ast, ui_tree):
    params = _class(module_ast, "SegAssistParameterNode")
    fields = {n.target.id for n in params.body if isinstance(n, ast.AnnAssign)}
    bound = {}
    for w in ui_tree.iter("widget"):
        for prop in w.findall("property"):
            if prop.get("name") == "SlicerParameterName":
                bound[w.get("name")] = prop.find("string").text
    assert {"inputVolume", "segmentation", "backend", "plane"} <= set(bound.values())
    assert set(bound.values()) <= fields, f"unknown parameters bound in the .ui: {set(bound.values()) - fields}"
    # Parameters the Widget reads (p.<name>) exist too.
    used = _attribute_uses(_class(module_ast, "SegAssistWidget"), "p") | _attribute_uses(
        _class(module_ast, "SegAssistWidget"), "_parameterNode")
    used -= {"connectGui", "connectParametersToGui", "disconnectGui"}
    assert used and used <= fields, f"Widget reads parameters the node lacks: {used - fields}"


def test_ui_file_declares_its_custom_widgets_and_lists_no_combo_items(ui_tree):
    declared = {c.findtext("class") for c in ui_tree.iter("customwidget")}
    qt_builtin = {"QWidget", "QLabel", "QPushButton", "QComboBox", "QLineEdit", "QProgressBar"}
    used = {w.get("class") for w in ui_tree.iter("widget")}
    assert used - qt_builtin <= declared, f"undeclared custom widgets: {used - qt_builtin - declared}"
    # The combo boxes bound to Choice parameters are filled by Slicer's QComboBoxToStringableConnector from the
    # Choice list (guiConnectors.py v5.8.1 L372-379: clear(), then addItem per choice); the .ui lists none,
    # so the library's lists (registry, checkpoint table, planes, methods) are the only source.
    for w in ui_tree.iter("widget"):
        if w.get("class") == "QComboBox":
            assert not w.findall("item"), f"{w.get('name')} lists its own items in the .ui file"


def test_logic_is_qt_free_and_offers_every_call_the_widget_makes(module_ast):
    from SegAssistLib.slicer.workflow import SegAssistWorkflow

    logic = _class(module_ast, "SegAssistLogic")
    source = ast.unparse(logic)
    assert "qt." not in source and "self.ui" not in source and "ctk." not in source
    for path in (ROOT / "SegAssistLib" / "slicer").glob("*.py"):
        imported = {a.name.split(".")[0] for n in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                    if isinstance(n, (ast.Import, ast.ImportFrom))
                    for a in (n.names if isinstance(n, ast.Import) else [ast.alias(n.module or "")])}
        assert not imported & {"qt", "ctk", "PythonQt"}, path.name
    calls = _attribute_uses(_class(module_ast, "SegAssistWidget"), "workflow")
    assert len(calls) > 10
    instance_attributes = ("backend_name", "backend_options", "history", "server")
    missing = {c for c in calls if not hasattr(SegAssistWorkflow, c) and c not in instance_attributes}
    assert not missing, f"the Widget calls workflow methods that do not exist: {missing}"


def test_widget_holds_no_geometry_and_no_copies_of_library_lists(module_ast):
    """Geometry (slice-to-RAS matrices, view names) and the backend/model/plane lists come from the library."""
    widget = ast.unparse(_class(module_ast, "SegAssistWidget"))
    for geometry in ("GetSliceToRAS", "ras_to_pixel", "sliceWidget(", "GetElement("):
        assert geometry not in widget
    literals = [set(ast.literal_eval(n)) for n in ast.walk(module_ast) if isinstance(n, (ast.List, ast.Tuple))
                and n.elts and all(isinstance(e, ast.Constant) for e in n.elts)]
    for copy in ({"classical", "sam2"}, {"tiny", "small", "base_plus", "large"}, {"axial", "coronal", "sagittal"}):
        assert not any(copy <= x for x in literals), f"SegAssist.py copies the library list {copy}"


# ---- packaging ----------------------------------------------------------------------------------------------
def _s4ext() -> dict[str, str]:
    out = {}
    for line in S4EXT.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition(" ")
        out[key] = value.strip()
    return out


def _cmake_set(text: str, var: str) -> str:
    m = re.search(r'set\(\s*%s\s+"([^"]*)"\s*\)' % re.escape(var), text)
    assert m, f"CMakeLists.txt does not set {var}"
    return m.group(1)


def test_s4ext_has_every_field_the_extension_index_requires():
    meta = _s4ext()
    missing = [f for f in S4EXT_FIELDS if f not in meta]
    assert not missing, f"{S4EXT.name} lacks {missing}"
    empty = [f for f in S4EXT_FIELDS if not meta[f]]
    assert not empty, f"{S4EXT.name} has empty fields {empty}"
    assert meta["scm"] == "git" and meta["scmurl"].startswith("https://") and meta["scmurl"].endswith(".git")
    assert meta["category"] == "Segmentation"
    assert "PyTorch" in meta["depends"].split()
    assert meta["iconurl"].startswith("https://") and meta["iconurl"].endswith(".png")
    assert all(u.startswith("https://") for u in meta["screenshoturls"].split())
    assert meta["enabled"] in ("0", "1")
    assert meta["build_subdirectory"] == "."


def test_s4ext_agrees_with_the_extension_cmakelists():
    meta = _s4ext()
    top = (ROOT / "CMakeLists.txt").read_text(encoding="utf-8")
    assert re.search(r"project\(\s*SegAssist\s*\)", top)
    assert _cmake_set(top, "EXTENSION_CATEGORY") == meta["category"]
    assert _cmake_set(top, "EXTENSION_DEPENDS") == meta["depends"]
    assert _cmake_set(top, "EXTENSION_ICONURL") == meta["iconurl"]
    assert _cmake_set(top, "EXTENSION_DESCRIPTION") == meta["description"]
    assert _cmake_set(top, "EXTENSION_HOMEPAGE") == meta["homepage"]
    assert _cmake_set(top, "EXTENSION_SCREENSHOTURLS") == meta["screenshoturls"]
    for needed in ("find_package(Slicer REQUIRED)", "include(${Slicer_USE_FILE})", "add_subdirectory(SegAssist)",
                   "include(${Slicer_EXTENSION_GENERATE_CONFIG})", "include(${Slicer_EXTENSION_CPACK})"):
        assert needed in top


def _cmake_list(text: str, var: str) -> list[str]:
    m = re.search(r"set\(\s*%s\s+(.*?)\)" % re.escape(var), text, re.S)
    assert m, f"{var} not set"
    return [x.replace("${MODULE_NAME}", "SegAssist") for x in m.group(1).split()]


def test_module_cmakelists_lists_every_python_file_and_resource():
    text = (MODULE_DIR / "CMakeLists.txt").read_text(encoding="utf-8")
    assert "set(MODULE_NAME SegAssist)" in text
    scripts = _cmake_list(text, "MODULE_PYTHON_SCRIPTS")
    resources = _cmake_list(text, "MODULE_PYTHON_RESOURCES")
    on_disk = sorted(str(p.relative_to(MODULE_DIR)) for p in MODULE_DIR.rglob("*.py")
                     if "__pycache__" not in p.parts and "Testing" not in p.parts)
    assert sorted(scripts) == on_disk
    res_on_disk = sorted(str(p.relative_to(MODULE_DIR)) for p in (MODULE_DIR / "Resources").rglob("*") if p.is_file())
    assert sorted(resources) == res_on_disk
    assert "slicerMacroBuildScriptedModule" in text and "slicer_add_python_unittest(SCRIPT ${MODULE_NAME}.py)" in text


def test_segassistlib_is_installed_beside_the_module():
    """The SegAssistLib glob in SegAssist/CMakeLists.txt must pick up every library .py file."""
    text = (MODULE_DIR / "CMakeLists.txt").read_text(encoding="utf-8")
    assert "ctkMacroCompilePythonScript" in text and "Slicer_QTSCRIPTEDMODULES_LIB_DIR" in text
    m = re.search(r"file\(GLOB_RECURSE SEGASSISTLIB_PYTHON_SCRIPTS.*?\$\{SEGASSISTLIB_SOURCE_DIR\}/(\S+)\s*\)", text, re.S)
    assert m, "no GLOB_RECURSE for SegAssistLib's Python files"
    source_dir = re.search(r"set\(SEGASSISTLIB_SOURCE_DIR \$\{CMAKE_CURRENT_SOURCE_DIR\}/(\S*)\)", text).group(1)
    base = (MODULE_DIR / source_dir).resolve()
    assert base == ROOT
    pattern = m.group(1)  # SegAssistLib/*.py; GLOB_RECURSE's "*" also descends into folders
    lib_files = [str(p.relative_to(ROOT)) for p in (ROOT / "SegAssistLib").rglob("*.py") if "__pycache__" not in p.parts]
    assert lib_files and all(fnmatch.fnmatch(f, pattern) for f in lib_files)
    assert "SegAssistLib/slicer/workflow.py" in lib_files


def test_icon_is_a_128_pixel_png():
    from PIL import Image

    with Image.open(MODULE_DIR / "Resources" / "Icons" / "SegAssist.png") as im:
        assert im.format == "PNG"
        assert im.size == (128, 128)


# ---- parameter-node bindings against Slicer's GUI connectors ----------------------------------------------
#: Which annotation a bound widget accepts, from the ``canRepresent`` methods in Slicer's
#: Base/Python/slicer/parameterNodeWrapper/guiConnectors.py (lines at tags v5.8.1 / main 583e9b3):
#: qMRMLNodeComboBox: an MRML node class (v5.8.1 L677-680, main L745-748);
#: QComboBox: int/float/str/bool with a Choice annotation (v5.8.1 L355-368, main L418-431);
#: QLineEdit: str (v5.8.1 L452-455, main L515-518);
#: ctkPathLineEdit: pathlib.Path/PurePath types only (v5.8.1 L605-610, main L673-679).
GUI_CONNECTORS = {
    "qMRMLNodeComboBox": lambda ann: ann.startswith("vtkMRML"),
    "QComboBox": lambda ann: ann.startswith("Annotated[") and "Choice(" in ann
    and ann.split("[", 1)[1].split(",")[0] in ("int", "float", "str", "bool"),
    "QLineEdit": lambda ann: ann == "str",
    "ctkPathLineEdit": lambda ann: ann in ("pathlib.Path", "pathlib.PurePath", "Path"),
}


def test_every_bound_parameter_has_a_type_its_widget_connector_accepts(module_ast, ui_tree):
    params = _class(module_ast, "SegAssistParameterNode")
    annotations = {n.target.id: ast.unparse(n.annotation) for n in params.body if isinstance(n, ast.AnnAssign)}
    bound = {}
    for w in ui_tree.iter("widget"):
        for prop in w.findall("property"):
            if prop.get("name") == "SlicerParameterName":
                bound[prop.find("string").text] = w.get("class")
    assert len(bound) == 12
    for name, widget_class in bound.items():
        assert widget_class in GUI_CONNECTORS, f"{name}: no GUI connector for {widget_class}"
        assert GUI_CONNECTORS[widget_class](annotations[name]), (
            f"{name}: {annotations[name]} cannot bind to a {widget_class} (Slicer raises RuntimeError in "
            "createGuiConnector, and no widget of the panel is bound)")
    # The defect of issue 20: a str checkpoint on a ctkPathLineEdit is refused by Slicer's table.
    assert not GUI_CONNECTORS["ctkPathLineEdit"]("str")


def test_dependency_lists_cover_the_self_test_and_formats():
    from SegAssistLib.slicer import dependencies

    pips = " ".join(dependencies.REQUIREMENTS.values())
    for needed in ("scikit-image", "slicerio", "defusedxml", "highdicom", "pycocotools"):
        assert needed in pips
    assert dependencies.missing_packages() == []  # this venv has them all: the lists name importable modules
    reason = dependencies.sam2_unavailable_reason((3, 9))
    assert reason and "Slicer 5.10" in reason and dependencies.sam2_unavailable_reason((3, 12)) is None
    assert "sam2" not in dependencies.backend_choices((3, 9)) and "sam2" in dependencies.backend_choices((3, 12))
    assert dependencies.torch_too_old("2.4.1+cu121") and dependencies.torch_too_old("2.5.1") and not dependencies.torch_too_old("2.6.0+cpu")


def test_extension_index_json_agrees_with_s4ext_and_cmake():
    """SegAssist.json follows Slicer's Schemas/slicer-extension-catalog-entry-schema-v1.0.2.json (required:
    $schema, category, scm_url; scm_type git|local; build_dependencies array; enabled boolean; tier 1..5)."""
    import json

    entry = json.loads((ROOT / "SegAssist.json").read_text(encoding="utf-8"))
    meta = _s4ext()
    top = (ROOT / "CMakeLists.txt").read_text(encoding="utf-8")
    assert entry["$schema"].endswith("slicer-extension-catalog-entry-schema-v1.0.2.json#")
    assert entry["scm_type"] == meta["scm"] == "git"
    assert entry["scm_url"] == meta["scmurl"]
    assert entry["scm_revision"] == meta["scmrevision"]
    assert entry["category"] == meta["category"] == _cmake_set(top, "EXTENSION_CATEGORY")
    assert entry["build_dependencies"] == meta["depends"].split() == _cmake_set(top, "EXTENSION_DEPENDS").split()
    assert entry["build_subdirectory"] == meta["build_subdirectory"]
    assert entry["enabled"] is (meta["enabled"] == "1")
    assert isinstance(entry["tier"], int) and 1 <= entry["tier"] <= 5


def test_every_action_widget_is_disabled_while_propagating(module_ast, ui_tree):
    """During propagation UI events are processed (progress bar, Cancel), so every other button and choice must
    be off: Undo, Import, Add segment, New prompts... (issue 20, item 6)."""
    show = next(f for f in _class(module_ast, "SegAssistWidget").body
                if isinstance(f, ast.FunctionDef) and f.name == "_showProgress")
    disabled = {e.value for n in ast.walk(show) if isinstance(n, ast.Tuple) for e in n.elts
                if isinstance(e, ast.Constant) and isinstance(e.value, str)}
    actions = {w.get("name") for w in ui_tree.iter("widget")
               if w.get("class") in ("QPushButton", "QComboBox", "ctkPathLineEdit")}
    assert "undoButton" in actions and "import2DButton" in actions
    assert actions - {"cancelButton"} <= disabled, f"left enabled while propagating: {actions - {'cancelButton'} - disabled}"


def test_server_section_binds_mode_and_url_but_never_the_key(module_ast, ui_tree):
    """Issue 16: Local/Remote and the URL are scene parameters; the API key is a password field bound to no
    parameter, so a saved scene never carries it (test_slicer_remote checks the saved scene itself)."""
    params = _class(module_ast, "SegAssistParameterNode")
    annotations = {n.target.id: ast.unparse(n.annotation) for n in params.body if isinstance(n, ast.AnnAssign)}
    assert annotations["serverMode"] == "Annotated[str, Choice(SERVER_MODES)]" and annotations["serverUrl"] == "str"
    assert not [name for name in annotations if "key" in name.lower() or "token" in name.lower()]
    widgets = _ui_widgets(ui_tree)
    key = widgets["serverKeyLineEdit"]
    assert key.get("class") == "QLineEdit"
    assert key.find("property[@name='echoMode']/enum").text == "QLineEdit::Password"
    assert key.find("property[@name='SlicerParameterName']") is None
    assert widgets["serverModeComboBox"].find("property[@name='SlicerParameterName']/string").text == "serverMode"
    assert widgets["serverUrlLineEdit"].find("property[@name='SlicerParameterName']/string").text == "serverUrl"
    from SegAssistLib.slicer.remote import SERVER_MODES

    assert SERVER_MODES[0] == "local"  # the parameter's default is the first choice
    # The Widget reads the key from the field and hands it to the workflow (memory), never to the node.
    widget = ast.unparse(_class(module_ast, "SegAssistWidget"))
    assert "serverKeyLineEdit.text" in widget and "set_server(" in widget
    assert not re.search(r"(_parameterNode|\bp)\.\w*[kK]ey\b", widget)
    # Cancel is off during a remote propagation (the server answers when done).
    show = next(f for f in _class(module_ast, "SegAssistWidget").body
                if isinstance(f, ast.FunctionDef) and f.name == "_showProgress")
    assert "self.workflow.server.url" in ast.unparse(show)
