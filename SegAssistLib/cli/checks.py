"""Checks every writing subcommand runs before it computes anything, so no computed work is thrown away.

A segmentation that takes minutes must not be lost because its output folder turns out to be read-only,
on a read-only mount, or "inside" a path that is a file. :func:`check_outputs` finds, for each output
file or folder, the nearest folder that exists and proves it writable by creating (and removing) a
temporary file there: the operating system's real answer, which also covers read-only mounts and
permissions that ``os.access`` misjudges (root, network file systems, ACLs).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from SegAssistLib.errors import OutputNotWritableError


def _existing_ancestor(path: Path, command: str, what: Path) -> Path:
    """The nearest existing ancestor of ``path`` (itself included); every existing one must be a folder."""
    for candidate in (path, *path.parents):
        if candidate.exists() or candidate.is_symlink():
            if not candidate.is_dir():
                raise OutputNotWritableError(
                    f"{command}: cannot write {what}: {candidate} is a file, not a folder. "
                    "Choose an output path whose folders are folders (e.g. another -o name)."
                )
            return candidate
    return Path.cwd()


def _probe(folder: Path, command: str, what: Path) -> None:
    try:
        fd, name = tempfile.mkstemp(prefix=".segassist-write-check-", dir=folder)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise OutputNotWritableError(
            f"{command}: cannot write {what}: the folder {folder} is not writable ({reason}). "
            "Nothing was computed; choose an output in a writable folder (-o), or make this one writable."
        ) from None
    os.close(fd)
    os.unlink(name)


def check_outputs(files: Iterable[str | os.PathLike | None] = (),
                  folders: Iterable[str | os.PathLike | None] = (), command: str = "segassist") -> None:
    """Raise :class:`OutputNotWritableError` unless every output file and folder can be written.

    ``files`` are files to be written (an existing one must not be a folder); ``folders`` are folders that
    will be created or filled. Missing folders count as writable when their nearest existing ancestor is
    (the writers create them). ``None`` entries are ignored. Nothing is left behind.
    """
    for raw in files:
        if not raw:
            continue
        path = Path(os.path.expanduser(os.fspath(raw)))
        if path.is_dir():
            raise OutputNotWritableError(
                f"{command}: the output {path} is a folder; give a file name (e.g. {path / 'out.seg.nrrd'})."
            )
        _probe(_existing_ancestor(path.parent if str(path.parent) else Path("."), command, path), command, path)
    for raw in folders:
        if not raw:
            continue
        path = Path(os.path.expanduser(os.fspath(raw)))
        _probe(_existing_ancestor(path, command, path), command, path)
