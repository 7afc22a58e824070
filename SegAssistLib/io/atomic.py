"""Atomic file output: write to a temporary file beside the target, then rename over it.

A failure half-way (a full disk, an exception in a writer, Ctrl-C) leaves the previous file untouched and
no partial file behind.

Files that only make sense together (a labelmap and its colour table, a dataset's PNGs and its JSON) are
written inside :func:`atomic_group`: every :func:`atomic_output` in the group defers its rename to the
group's end, so either all of them replace their targets or none does.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import re
import socket
import tempfile
from pathlib import Path
from typing import Iterator

from SegAssistLib.errors import OptionError


def _suffix(path: Path) -> str:
    # Keep double suffixes (".seg.nrrd", ".nii.gz") so writers that choose the format by extension still work.
    name = path.name
    for double in (".seg.nrrd", ".nii.gz", ".mrk.json", ".tar.gz"):
        if name.lower().endswith(double):
            return name[-len(double):]
    return path.suffix


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"


def _temporary_beside(path: Path, tag: str = ".tmp") -> Path:
    """A new empty file in ``path``'s folder, hidden, with ordinary-file permissions and the same ending.

    Its name carries this host and process id (``.<name>.<host>~<pid>~<random><tag><ending>``), so a
    later run can tell a leftover of a killed process (same host, pid no longer alive) from a file another
    live process is writing; such leftovers of ``path`` are removed here first.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.{_host()}~{os.getpid()}~", suffix=tag + _suffix(path),
                                    dir=path.parent)
    os.close(fd)
    # mkstemp makes the file private (0600); give the result the permissions a plain open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_name, 0o666 & ~umask)
    return Path(tmp_name)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Temporary files of ``path`` left by killed processes: ours from a dead process on this host, and
    those of older versions (no host/pid in the name). Files of live processes, or of other hosts sharing
    the folder, are never listed."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    ours = re.compile(re.escape(f".{path.name}.") + r"(?P<host>[A-Za-z0-9-]+)~(?P<pid>\d+)~[A-Za-z0-9_]+"
                      r"\.(tmp|previous).*")
    legacy = re.compile(re.escape(f".{path.name}.") + r"[A-Za-z0-9_]+\.(tmp|previous).*")
    host = _host()
    out = []
    for p in path.parent.iterdir():
        if not p.name.startswith(f".{path.name}."):
            continue
        m = ours.fullmatch(p.name)
        if m:
            if m.group("host") == host and not _pid_alive(int(m.group("pid"))):
                out.append(p)
        elif legacy.fullmatch(p.name):
            out.append(p)
    return out


def clean_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove :func:`stale_temporaries` of ``path``; a ``.previous`` backup whose target is missing (the
    process died between moving the old file aside and putting the new one in place) is put back instead."""
    path = Path(path)
    removed = []
    for p in stale_temporaries(path):
        with contextlib.suppress(OSError):
            if ".previous" in p.name and not path.exists():
                os.replace(p, path)
            else:
                p.unlink()
            removed.append(p)
    return removed


class _Group:
    """Pending (temporary, target) pairs of one :func:`atomic_group`."""

    def __init__(self) -> None:
        self.pending: list[tuple[Path, Path]] = []

    def check(self, target: Path) -> None:
        """Refuse a second output to a path already written in this group."""
        key = os.path.abspath(target)
        if any(os.path.abspath(t) == key for _, t in self.pending):
            raise OptionError(f"{target}: two outputs of one write would go to this file; give them distinct names.")

    def add(self, tmp: Path, target: Path) -> None:
        self.check(target)
        self.pending.append((tmp, target))

    def discard(self) -> None:
        for tmp, _ in self.pending:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        self.pending.clear()

    def commit(self) -> None:
        """Move every temporary file onto its target; if one move fails, put back what was there before."""
        done: list[tuple[Path, Path | None]] = []  # (target, backup of its previous content or None)
        try:
            for tmp, target in self.pending:
                backup = None
                if target.exists():
                    backup = _temporary_beside(target, ".previous")
                    try:
                        os.replace(target, backup)
                    except BaseException:
                        backup.unlink(missing_ok=True)
                        raise
                done.append((target, backup))
                os.replace(tmp, target)
        except BaseException:
            for target, backup in reversed(done):
                with contextlib.suppress(OSError):
                    if backup is not None:
                        os.replace(backup, target)
                    else:
                        target.unlink(missing_ok=True)
            self.discard()
            raise
        for _, backup in done:
            if backup is not None:
                with contextlib.suppress(OSError):
                    backup.unlink()
        self.pending.clear()


_GROUP: contextvars.ContextVar[_Group | None] = contextvars.ContextVar("segassist_atomic_group", default=None)


@contextlib.contextmanager
def atomic_group() -> Iterator[None]:
    """Make every :func:`atomic_output` inside this block land together at its end, or not at all.

    Nested groups join the outermost one. Two outputs to the same path in one group raise a
    :class:`SegAssistError` (one would silently overwrite the other).
    """
    if _GROUP.get() is not None:
        yield
        return
    group = _Group()
    token = _GROUP.set(group)
    try:
        yield
    except BaseException:
        group.discard()
        raise
    finally:
        _GROUP.reset(token)
    group.commit()


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success it replaces ``path``, on error it is removed.

    Inside :func:`atomic_group` the replacement waits for the group's end.
    """
    path = Path(path)
    group = _GROUP.get()
    if group is not None:  # refuse a clash before anything is written
        group.check(path)
    tmp = _temporary_beside(path)
    try:
        yield tmp
        if group is not None:
            group.add(tmp, path)
        else:
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
