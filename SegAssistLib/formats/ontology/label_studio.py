"""Label Studio labeling configuration XML (``<View>`` with ``BrushLabels``, ``PolygonLabels`` or ``Labels``).

Each ``<Label value=... background=...>`` is a class. Parsing uses ``defusedxml`` (labeling configs come from
other people's projects; it refuses entity expansion attacks). SegAssist writes its extra information as
attributes that Label Studio ignores: ``kind`` (stuff/thing), ``classId`` and ``terminology`` (Slicer's
terminology string). On writing, every class goes into one ``BrushLabels`` tag (masks) unless ``control`` says
otherwise; on reading, classes from several control tags are merged by name.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path


from SegAssistLib.errors import FormatError, OptionError, SegAssistError, import_optional
from SegAssistLib.io.atomic import atomic_output
from SegAssistLib.formats.ontology.model import Ontology, OntologyClass, check_kind, hex_color
from SegAssistLib.core.segmentation import Terminology

CONTROL_TAGS = ("BrushLabels", "PolygonLabels", "Labels", "RectangleLabels", "KeyPointLabels")
_OWN = ("value", "background", "kind", "classId", "terminology")


def parse_labeling_config(text: str, where: str = "labeling config") -> Ontology:
    """An ontology from Label Studio labeling-config XML text."""
    safe_et = import_optional("defusedxml.ElementTree", "formats", "Reading Label Studio XML")
    defused_error = import_optional("defusedxml", "formats", "Reading Label Studio XML").DefusedXmlException
    try:
        root = safe_et.fromstring(text)
    except (ET.ParseError, defused_error) as exc:
        raise FormatError(f"{where}: not a valid Label Studio XML config ({exc}).") from None
    onto = Ontology()
    for control in root.iter():
        if control.tag not in CONTROL_TAGS:
            continue
        for label in control.findall("Label"):
            name = label.get("value")
            if not name:
                raise FormatError(f"{where}: a <Label> inside <{control.tag} name={control.get('name')!r}> has no value.")
            if name in onto.names:
                continue
            term = None
            if label.get("terminology"):
                try:
                    term = Terminology.from_slicer_string(label.get("terminology"))
                except SegAssistError as exc:
                    raise FormatError(f"{where}: label {name!r}: {exc}") from None
            extra = {k: v for k, v in label.attrib.items() if k not in _OWN}
            if control.tag != "BrushLabels":
                extra.setdefault("ls_control", control.tag)
            onto.add(OntologyClass(name, label.get("background", "#80ae80"),
                                   check_kind(label.get("kind", "thing"), f"{where}: label {name!r}: "),
                                   label.get("classId"), term, extra))
    if not len(onto):
        raise FormatError(
            f"{where}: the config has no <Label> inside any of {', '.join(CONTROL_TAGS)}; "
            "add e.g. <BrushLabels name=\"tag\" toName=\"image\"><Label value=\"Nucleus\"/></BrushLabels>."
        )
    return onto


def read_labeling_config(path: str | os.PathLike) -> Ontology:
    """Read a Label Studio labeling-config XML file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise FormatError(f"{p}: cannot read ({exc.strerror}).") from None
    onto = parse_labeling_config(text, str(p))
    onto.name = p.stem
    return onto


def labeling_config(ontology: Ontology, control: str | None = None, from_name: str = "tag",
                    to_name: str = "image") -> str:
    """Labeling-config XML text: an ``<Image>`` and the classes grouped by control tag (default BrushLabels,
    or the control a class was read from)."""
    if control is not None and control not in CONTROL_TAGS:
        raise OptionError(f"Unknown Label Studio control {control!r}; use one of {', '.join(CONTROL_TAGS)}.")
    view = ET.Element("View")
    ET.SubElement(view, "Image", name=to_name, value="$image", zoom="true")
    groups: dict[str, ET.Element] = {}
    for c in ontology:
        tag = control or c.attributes.get("ls_control", "BrushLabels")
        if tag not in groups:
            name = from_name if not groups else f"{from_name}_{tag.lower()}"
            groups[tag] = ET.SubElement(view, tag, name=name, toName=to_name)
        attrs = {"value": c.name, "background": hex_color(c.color), "kind": c.kind, "classId": str(c.id)}
        if c.terminology:
            attrs["terminology"] = c.terminology.to_slicer_string()
        attrs.update({k: v for k, v in c.attributes.items() if k != "ls_control"})
        ET.SubElement(groups[tag], "Label", attrs)
    ET.indent(view)
    return ET.tostring(view, encoding="unicode") + "\n"


def write_labeling_config(ontology: Ontology, path: str | os.PathLike, control: str | None = None) -> Path:
    p = Path(path)
    with atomic_output(p) as tmp:
        tmp.write_text(labeling_config(ontology, control), encoding="utf-8")
    return p
