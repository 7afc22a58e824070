"""``segassist info VOLUME``: size, spacing, origin, direction (RAS), intensity range and plane axes."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="describe a volume (file or DICOM folder)", description=__doc__)
    p.add_argument("volume", help="NRRD/NIfTI/MHA file, DICOM file, or folder of DICOM series")
    p.add_argument("--series", metavar="UID", help="SeriesInstanceUID to read from a DICOM folder")
    p.add_argument("--list-series", action="store_true", help="list the DICOM series in the folder and exit")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from SegAssistLib.io.volumes import read_volume

    if args.list_series:
        from SegAssistLib.io.dicom_series import list_series

        for s in list_series(args.volume):
            print(s)
        return 0
    info = read_volume(args.volume, args.series).summary()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    fmt = lambda xs: " ".join(f"{x:g}" for x in xs)  # noqa: E731
    print(f"volume:          {args.volume}")
    print(f"size (i j k):    {fmt(info['size_ijk'])}")
    print(f"spacing (mm):    {fmt(round(x, 5) for x in info['spacing_mm'])}")
    print(f"origin (RAS mm): {fmt(round(x, 4) for x in info['origin_ras'])}")
    print("direction (RAS, columns i j k):")
    for row, name in zip(info["direction_ras"], "RAS"):
        print(f"   {name}: {fmt(round(x, 5) for x in row)}")
    print(f"voxel type:      {info['dtype']}")
    print(f"intensities:     {info['intensity_range'][0]:g} .. {info['intensity_range'][1]:g}")
    print("planes:          " + ", ".join(f"{p} = {a} axis" for p, a in info["planes"].items()))
    for key in ("modality", "series_uid", "series_description"):
        if info.get(key):
            print(f"{key + ':':<17}{info[key]}")
    return 0
