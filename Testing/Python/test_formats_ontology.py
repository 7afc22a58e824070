"""Ontology formats: every format round-trips names, colours, kind, ids and codes; Slicer's own colour-table
storage node and Terminologies logic read what SegAssist writes; malformed input gets a clear error."""

from __future__ import annotations

import json

import pytest

from SegAssistLib.errors import FormatError
from SegAssistLib.formats.ontology import (
    FORMATS, Ontology, OntologyClass, class_to_segment, ontology_from_segmentation, read_ontology,
    segment_to_class, write_ontology,
)
from SegAssistLib.core.segmentation import Code, Segmentation, Terminology

SUFFIX = {"slicer-ctbl": "ctbl", "slicer-csv": "csv", "slicer-terminology": "json", "coco": "json",
          "label-studio": "xml", "encord": "json", "cvat": "json"}

NUCLEUS = Terminology(Code("SCT", "91723000", "Anatomical Structure"), Code("SCT", "84640000", "Nucleus"),
                      Code("SCT", "7771000", "Left"), Code("SCT", "39937001", "Skin"))


@pytest.fixture
def ontology() -> Ontology:
    return Ontology([
        OntologyClass("background", (0, 0, 0), "stuff", 0),
        OntologyClass("nucleus", (216, 101, 79), "thing", 7, NUCLEUS),
        OntologyClass("cytoplasm", "#80ae80", "stuff", 3,
                      Terminology(Code("SCT", "85756007", "Tissue"), Code("SCT", "66019005", "Cytoplasm"))),
    ])


def _essentials(onto: Ontology):
    # Order is not kept by every format (Slicer terminology groups classes by category): compare by id.
    return sorted(((c.name, c.color, c.kind, c.id, c.terminology and (
        c.terminology.category, c.terminology.type, c.terminology.type_modifier, c.terminology.anatomic_region))
        for c in onto), key=lambda e: e[3])


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f != "slicer-ctbl"])
def test_round_trip_keeps_names_colours_kind_codes(fmt, ontology, tmp_path):
    path = tmp_path / f"onto.{SUFFIX[fmt]}"
    write_ontology(ontology, path, fmt)
    back = read_ontology(path, fmt)
    assert _essentials(back) == _essentials(ontology)
    # Second trip is a fixed point (nothing format-specific accumulates).
    write_ontology(back, tmp_path / f"again.{SUFFIX[fmt]}", fmt)
    assert read_ontology(tmp_path / f"again.{SUFFIX[fmt]}", fmt) == back


def test_classic_ctbl_keeps_names_colours_ids(ontology, tmp_path):
    write_ontology(ontology, tmp_path / "c.ctbl")
    back = read_ontology(tmp_path / "c.ctbl")
    # background (0, alpha written 255) is a real class here; .ctbl has no kind or codes.
    assert [(c.name, c.color, c.id) for c in back] == [(c.name, c.color, c.id) for c in ontology]


def test_attributes_and_classifications_survive(tmp_path):
    onto = Ontology([OntologyClass("cell", (1, 2, 3), "thing", 1, attributes={"stain": "DAPI"})],
                    classifications=[{"id": "1", "featureNodeHash": "abcd1234", "attributes": []}])
    for fmt in ("coco", "label-studio", "encord", "cvat"):
        path = tmp_path / f"a_{fmt}.{SUFFIX[fmt]}"
        write_ontology(onto, path, fmt)
        back = read_ontology(path, fmt)
        assert back[0].attributes == {"stain": "DAPI"}, fmt
    assert read_ontology(tmp_path / "a_encord.json", "encord").classifications == onto.classifications


def test_slicer_storage_node_reads_our_csv(ontology, tmp_path):
    slicer = pytest.importorskip("slicer")
    path = write_ontology(ontology, tmp_path / "table.csv")
    scene = slicer.vtkMRMLScene()
    node = slicer.vtkMRMLColorTableNode()
    scene.AddNode(node)
    storage = slicer.vtkMRMLColorTableStorageNode()
    scene.AddNode(storage)
    storage.SetFileName(str(path))
    assert storage.ReadData(node) == 1
    assert node.GetColorName(7) == "nucleus"
    rgba = [0.0] * 4
    node.GetColor(7, rgba)
    assert [round(x * 255) for x in rgba[:3]] == [216, 101, 79]
    assert Terminology.from_slicer_string(node.GetTerminologyAsString(7)).type == NUCLEUS.type
    # ...and we read what Slicer writes.
    node.SetNumberOfColors(10)
    assert node.SetColor(9, "new one", 0.2, 0.4, 0.6, 1.0)
    out = tmp_path / "slicer_written.csv"
    storage.SetFileName(str(out))
    assert storage.WriteData(node) == 1
    back = read_ontology(out)
    assert back.by_id(9).color == (51, 102, 153) and back.by_id(7).terminology.type == NUCLEUS.type


def test_slicer_terminologies_logic_loads_our_json(ontology, tmp_path):
    slicer = pytest.importorskip("slicer")
    path = write_ontology(ontology, tmp_path / "onto_terminology.json")
    logic = slicer.vtkSlicerTerminologiesModuleLogic()
    name = logic.LoadTerminologyFromFile(str(path))
    assert name == json.loads(path.read_text())["SegmentationCategoryTypeContextName"]
    assert logic.GetNumberOfCategoriesInTerminology(name) == 2  # Anatomical Structure, Tissue
    entry = slicer.vtkSlicerTerminologyEntry()
    assert logic.FindTypeInTerminologyBy3dSlicerLabel(name, "cytoplasm", entry)
    assert entry.GetTypeObject().GetCodeValue() == "66019005"
    assert entry.GetCategoryObject().GetCodeMeaning() == "Tissue"


def test_segments_map_both_ways(ontology):
    seg = class_to_segment(ontology.by_name("nucleus"), "s1")
    assert seg.name == "nucleus" and seg.terminology == NUCLEUS
    assert abs(seg.color[0] - 216 / 255) < 1e-9
    assert segment_to_class(seg) == ontology.by_name("nucleus")
    segmentation = Segmentation((1, 4, 4), __import__("numpy").eye(4))
    for n, c in enumerate(ontology):
        segmentation.add_segment(class_to_segment(c, f"s{n}"))
    segmentation.add_segment(class_to_segment(ontology.by_name("nucleus"), "s_second_instance"))
    assert ontology_from_segmentation(segmentation) == ontology


@pytest.mark.parametrize("fmt,text,needle", [
    ("label-studio", "<View><Image name='image' value='$image'/></View>", "no <Label>"),
    ("label-studio", "<View><BrushLabels name='t' toName='i'><Label value='a'/></Brush", "not a valid"),
    ("coco", json.dumps({"categories": [{"id": 1}]}), "needs an 'id' and a 'name'"),
    ("coco", json.dumps({"categories": [{"id": 1, "name": "a", "isthing": "maybe"}]}), "unknown class kind"),
    ("coco", json.dumps({"categories": [{"id": 1, "name": "a"}, {"id": 1, "name": "b"}]}), "reuses id 1"),
    ("encord", json.dumps({"objects": [{"name": "a", "color": "#12"}]}), "colour"),
    ("slicer-terminology", json.dumps({"foo": 1}), "no SegmentationCodes"),
    ("slicer-csv", "LabelValue,Name\n1,a\n", "columns"),
    ("cvat", "[]", "non-empty list"),
])
def test_malformed_input_is_a_clear_error(fmt, text, needle, tmp_path):
    path = tmp_path / f"bad.{SUFFIX[fmt]}"
    path.write_text(text)
    with pytest.raises(FormatError, match=needle) as info:
        read_ontology(path, fmt)
    assert str(path) in str(info.value)


def test_unknown_extension_asks_for_a_format(ontology, tmp_path):
    with pytest.raises(FormatError, match="cannot tell"):
        write_ontology(ontology, tmp_path / "o.yaml")
    assert not (tmp_path / "o.yaml").exists()
