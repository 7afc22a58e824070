"""Entry point of the ``segassist`` command.

Each subcommand lives in its own module ``SegAssistLib.cli.<name>`` exposing ``register(subparsers)``,
which adds a parser whose ``func(args) -> int`` runs it. Errors meant for the user
(:class:`SegAssistError`) are printed without a traceback and give exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import re
import sys

from SegAssistLib.errors import SegAssistError

#: Subcommand modules, in the order ``segassist --help`` lists them.
COMMANDS = ["info", "segment", "interpolate", "convert", "ontology", "batch", "models", "serve", "demo"]


def build_parser() -> argparse.ArgumentParser:
    from SegAssistLib import __version__

    parser = argparse.ArgumentParser(
        prog="segassist",
        description="AI-assisted segmentation of medical volumes (SAM 2, classical), keyframe interpolation, "
        "Slicer segmentations and 2D dataset import/export.",
    )
    parser.add_argument("--version", action="version", version=f"segassist {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show debug messages and tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module_name = f"SegAssistLib.cli.{name}"
        if importlib.util.find_spec(module_name) is None:
            continue
        importlib.import_module(module_name).register(sub)
    _plain_help(parser)
    return parser


_ROLE = re.compile(r":(?:func|mod|class|data|meth|attr|exc):`~?([^`]+)`")


def plain(text: str | None) -> str | None:
    """Help text without reStructuredText markup (module docstrings double as ``--help`` descriptions):
    ``code`` -> code, :func:`~a.b.name` -> name."""
    if not text:
        return text
    text = _ROLE.sub(lambda m: m.group(1).rsplit(".", 1)[-1] if m.group(0).count("~") else m.group(1), text)
    return text.replace("``", "")


def _plain_help(parser: argparse.ArgumentParser) -> None:
    parser.description = plain(parser.description)
    parser.epilog = plain(parser.epilog)
    for action in parser._actions:
        action.help = plain(action.help) if isinstance(action.help, str) else action.help
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                choice.help = plain(choice.help)
            for child in set(action.choices.values()):
                _plain_help(child)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except SegAssistError as exc:
        if args.verbose:
            raise
        print(f"segassist {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"segassist {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
