"""The two safety rules for paths, in one place.

1. **An output never overwrites an input.** :func:`refuse_outputs_over_inputs` compares every file a
   command is about to write (the output and its sidecars, e.g. a labelmap's colour table) with every
   file it reads (volume, prompts, keyframes, reference, colour table, the batch manifest itself) and
   raises before anything is written. Paths are compared after resolving links, and by inode when both
   exist, so ``./a.nrrd``, ``a.nrrd`` and a hard link to it are one file.
2. **A path taken from a data file stays inside its folder.** A COCO ``file_name``, a panoptic PNG name
   or a batch manifest's output is a name *relative to* the folder the user chose: :func:`contained`
   refuses absolute names, drive letters and ``..`` that would leave the folder, so a hostile or careless
   file cannot make SegAssist read or write elsewhere.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path, PurePosixPath, PureWindowsPath

from SegAssistLib.errors import UnsafePathError

__all__ = ["UnsafePathError", "check_relative_name", "contained", "refuse_outputs_over_inputs", "same_file"]


def _key(path: str | os.PathLike) -> tuple:
    p = Path(os.path.expanduser(os.fspath(path)))
    try:
        st = p.stat()
        return ("inode", st.st_dev, st.st_ino)
    except OSError:
        return ("path", os.path.normcase(str(p.resolve())))


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when ``a`` and ``b`` name one file (same inode when both exist, same resolved path otherwise)."""
    ka, kb = _key(a), _key(b)
    if ka == kb:
        return True
    # One exists and the other not: compare resolved paths (the missing one cannot be a hard link).
    ra = os.path.normcase(str(Path(os.path.expanduser(os.fspath(a))).resolve()))
    rb = os.path.normcase(str(Path(os.path.expanduser(os.fspath(b))).resolve()))
    return ra == rb


def refuse_outputs_over_inputs(outputs: Iterable[str | os.PathLike | None],
                               inputs: Iterable[str | os.PathLike | None], where: str = "") -> None:
    """Raise :class:`UnsafePathError` when any output (or sidecar) is the same file as any input, or when
    two outputs are one file. ``None`` entries are ignored. Call it before reading the inputs' data, so
    nothing is written and no time is spent."""
    ins = [Path(os.fspath(i)) for i in inputs if i]
    outs = [Path(os.fspath(o)) for o in outputs if o]
    prefix = f"{where}: " if where else ""
    for o in outs:
        for i in ins:
            if same_file(o, i):
                raise UnsafePathError(
                    f"{prefix}the output {o} is the input {i}; writing it would destroy the input. "
                    "Choose another output name (for a labelmap, its colour table <name>.csv counts too)."
                )
    for n, a in enumerate(outs):
        for b in outs[n + 1:]:
            if same_file(a, b):
                raise UnsafePathError(f"{prefix}two outputs would be the same file {a}; give them distinct names.")


def check_relative_name(name: str, where: str) -> str:
    """Check a file name taken from a data file: relative, no drive, no ``..`` part; returns it unchanged."""
    if not isinstance(name, str) or not name.strip():
        raise UnsafePathError(f"{where}: the file name {name!r} is empty or not text.")
    if "\x00" in name:
        raise UnsafePathError(f"{where}: the file name {name!r} holds a NUL character.")
    for pure in (PurePosixPath(name), PureWindowsPath(name)):
        if pure.is_absolute() or pure.drive or pure.root or ".." in pure.parts:
            raise UnsafePathError(
                f"{where}: the file name {name!r} is absolute or climbs out with '..'; names in data files must "
                "be relative to their folder and stay inside it."
            )
    if name.startswith("~"):
        raise UnsafePathError(f"{where}: the file name {name!r} starts with '~'; give a name relative to the folder.")
    return name


def contained(folder: str | os.PathLike, name: str, where: str) -> Path:
    """``folder / name`` for a ``name`` taken from a data file, refused unless it stays inside ``folder``
    (after resolving symbolic links too)."""
    check_relative_name(name, where)
    base = Path(folder)
    path = base / name
    root = base.resolve()
    real = path.resolve()
    if real != root and root not in real.parents:
        raise UnsafePathError(f"{where}: {name!r} leads outside {base} (through a link); refused.")
    return path
