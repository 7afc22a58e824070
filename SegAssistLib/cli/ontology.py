"""``segassist ontology``: show or convert class lists between Slicer colour tables (.csv/.ctbl), Slicer
terminology JSON, COCO categories, Label Studio labeling configs (.xml), Encord-style and CVAT JSON.

  segassist ontology show classes.json
  segassist ontology convert labels.xml classes_terminology.json
  segassist ontology convert colors.csv cvat.json --to cvat
  segassist ontology from-segmentation case.seg.nrrd classes.csv

Formats follow the file names (``*.csv``/``*.ctbl`` colour tables, ``*.xml`` Label Studio, ``*terminology*.json``,
``*encord*.json``, ``*cvat*.json``, other ``*.json`` COCO); ``--from``/``--to`` override.
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from SegAssistLib.formats.ontology import FORMATS

    FORMAT_HELP = f"format (default: from the file name and content): {', '.join(FORMATS)}"
    p = sub.add_parser("ontology", help="show or convert label ontologies (Slicer, COCO, Label Studio, Encord, CVAT)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = actions.add_parser("show", help="list the classes of an ontology file")
    show.add_argument("input", help="ontology file (Slicer .ctbl/.csv/terminology JSON, COCO, Label Studio XML, ...)")
    show.add_argument("--from", dest="from_format", choices=FORMATS, metavar="FORMAT", help="input " + FORMAT_HELP)
    show.add_argument("--json", action="store_true", help="print COCO-style JSON")
    conv = actions.add_parser("convert", help="convert an ontology file to another format")
    conv.add_argument("input", help="ontology file to read")
    conv.add_argument("output", help="ontology file to write (format from its name, or --to)")
    conv.add_argument("--from", dest="from_format", choices=FORMATS, metavar="FORMAT", help="input " + FORMAT_HELP)
    conv.add_argument("--to", dest="to_format", choices=FORMATS, metavar="FORMAT", help="output " + FORMAT_HELP)
    seg = actions.add_parser("from-segmentation", help="the classes of a segmentation file (.seg.nrrd, labelmap, DICOM SEG)")
    seg.add_argument("input", help="segmentation file (.seg.nrrd, labelmap with colour table, DICOM SEG)")
    seg.add_argument("output", help="ontology file to write (format from its name, or --to)")
    seg.add_argument("--to", dest="to_format", choices=FORMATS, metavar="FORMAT", help="output " + FORMAT_HELP)
    seg.add_argument("--kind", choices=("stuff", "thing"), default="stuff", help="kind of segments that do not say")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from SegAssistLib.formats.ontology import read_ontology, write_ontology

    if getattr(args, "output", None):
        from SegAssistLib.cli.checks import check_outputs

        check_outputs([args.output], command="ontology")

    if args.action == "from-segmentation":
        from SegAssistLib.io.segmentation_files import read_segmentation
        from SegAssistLib.formats.ontology import ontology_from_segmentation

        onto = ontology_from_segmentation(read_segmentation(args.input), args.kind)
        write_ontology(onto, args.output, args.to_format)
        print(f"{args.input} -> {args.output}: {len(onto)} class(es)")
        return 0
    onto = read_ontology(args.input, args.from_format)
    if args.action == "convert":
        write_ontology(onto, args.output, args.to_format)
        print(f"{args.input} -> {args.output}: {len(onto)} class(es) ({', '.join(onto.names)})")
        return 0
    if args.json:
        import json

        from SegAssistLib.formats.ontology.coco_categories import ontology_to_categories

        print(json.dumps(ontology_to_categories(onto), indent=2))
        return 0
    print(f"{'id':>4}  {'name':<28} {'kind':<6} {'colour':<8} terminology type")
    for c in onto:
        code = f"{c.terminology.type.meaning} ({c.terminology.type.scheme} {c.terminology.type.value})" if c.terminology else "-"
        print(f"{c.id:>4}  {c.name:<28} {c.kind:<6} #{c.color[0]:02x}{c.color[1]:02x}{c.color[2]:02x}  {code}")
    return 0
