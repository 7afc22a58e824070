"""``segassist --help`` and every subcommand's help: plain text (no reStructuredText markup), help for every
argument, and fast because nothing heavy is imported (checked by the modules loaded, not by a clock)."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from SegAssistLib.cli.main import build_parser, plain

REPO = Path(__file__).resolve().parents[2]
RST = re.compile(r"``|:(?:func|mod|class|data|meth|attr|exc):`")


def all_parsers(parser: argparse.ArgumentParser, path: str = "segassist"):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from all_parsers(child, f"{path} {name}")


PARSERS = list(all_parsers(build_parser()))


def test_every_subcommand_is_listed():
    names = {p for p, _ in PARSERS}
    for command in ("info", "segment", "interpolate", "convert", "ontology", "batch", "demo"):
        assert f"segassist {command}" in names


@pytest.mark.parametrize("path,parser", PARSERS, ids=[p for p, _ in PARSERS])
def test_help_is_plain_text_and_every_argument_explained(path, parser):
    text = parser.format_help()
    assert not RST.search(text), f"{path} --help shows reStructuredText markup"
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            continue
        if action.dest not in ("help", "version"):
            assert action.help and action.help != argparse.SUPPRESS, f"{path}: {action.dest} has no help"


def test_plain_removes_roles_and_literals():
    assert plain("``a --b`` and :func:`~x.y.read_volume` or :mod:`SegAssistLib.io`") == \
        "a --b and read_volume or SegAssistLib.io"


def test_top_level_help_imports_no_numerics():
    code = ("import sys\nfrom SegAssistLib.cli.main import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('numpy', 'scipy', 'SimpleITK', 'torch', 'skimage') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert out.returncode == 0, out.stderr
    assert "usage: segassist" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout
