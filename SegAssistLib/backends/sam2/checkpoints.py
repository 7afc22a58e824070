"""SAM 2.1 checkpoints: the model table, a cache folder, and a resumable download checked by SHA-256.

A checkpoint is either a path the user gives, or the official file downloaded once into the cache
(``$SEGASSIST_CACHE/sam2``, else ``$XDG_CACHE_HOME/segassist/sam2``, else ``~/.cache/segassist/sam2``).
The download:

- writes to ``<name>.part`` beside the target and resumes it with an HTTP ``Range`` request after an
  interruption (a server that ignores ``Range`` makes it start again);
- reports progress to a callback ``progress(done_bytes, total_bytes_or_None)`` or shows a tqdm bar;
- needs a SHA-256 (the table below, or one passed by the user with ``sha256=`` / ``--sha256``), or an
  explicit ``trust_unverified=True`` / ``--trust-unverified``; without either it refuses before
  downloading anything. On a mismatch it deletes the partial file and raises;
- verifies the ``.part`` before renaming it into place (the target never exists half-written or
  unverified); a ``.part`` that the server answers with HTTP 416 is kept only if its hash matches;
- records the hash in ``<file>.sha256`` beside the checkpoint, and re-hashes a cached file on its first use
  in a process (against the known hash, else that record), so a file changed in the cache is refused;
- offline, raises a :class:`BackendError` that says which URL to fetch and how to pass the file.

Nothing here imports torch, so ``python -m SegAssistLib.backends.sam2.checkpoints`` works on any install::

    python -m SegAssistLib.backends.sam2.checkpoints list
    python -m SegAssistLib.backends.sam2.checkpoints download tiny [--sha256 HEX] [--cache-dir DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Union

from SegAssistLib.backends.weight_cache import cache_dir, sha256_of
from SegAssistLib.errors import BackendError

ProgressCallback = Callable[[int, Union[int, None]], None]

_BASE_URL = "https://dl.fbaipublicfiles.com/segment_anything_2/092824/"


@dataclass(frozen=True)
class Sam2Model:
    """One SAM 2.1 size: its hydra config inside the ``sam2`` package and its official checkpoint."""

    name: str
    config: str
    filename: str
    sha256: str | None = None  # None: not known offline; verified when the user passes one

    @property
    def url(self) -> str:
        return _BASE_URL + self.filename


# TODO(sha256): the official SHA-256 values could not be obtained on the offline build machine. Fill them in
# (``sha256sum sam2.1_hiera_*.pt`` of the files from the URL above) to make verification automatic; until
# then users can pass ``sha256=`` / ``--sha256``.
MODELS: dict[str, Sam2Model] = {
    "tiny": Sam2Model("tiny", "configs/sam2.1/sam2.1_hiera_t.yaml", "sam2.1_hiera_tiny.pt"),
    "small": Sam2Model("small", "configs/sam2.1/sam2.1_hiera_s.yaml", "sam2.1_hiera_small.pt"),
    "base_plus": Sam2Model("base_plus", "configs/sam2.1/sam2.1_hiera_b+.yaml", "sam2.1_hiera_base_plus.pt"),
    "large": Sam2Model("large", "configs/sam2.1/sam2.1_hiera_l.yaml", "sam2.1_hiera_large.pt"),
}
_ALIASES = {"t": "tiny", "s": "small", "b+": "base_plus", "base+": "base_plus", "base-plus": "base_plus",
            "baseplus": "base_plus", "b": "base_plus", "l": "large"}


def get_model(name: str) -> Sam2Model:
    """The SAM 2.1 model called ``name`` (tiny, small, base_plus / base+, large) or a BackendError."""
    key = str(name).strip().lower().replace("sam2.1_hiera_", "").removesuffix(".pt")
    key = _ALIASES.get(key, key)
    if key not in MODELS:
        raise BackendError(f"Unknown SAM 2.1 model {name!r}: use one of {', '.join(MODELS)}.")
    return MODELS[key]


def default_cache_dir() -> Path:
    """Where downloaded checkpoints live (see the module docstring for the order of choices)."""
    return cache_dir("sam2")


def _offline_message(url: str, dest: Path, reason: object) -> str:
    return (
        f"Could not download the SAM 2 checkpoint {url} ({reason}). Fetch that file on a machine with "
        f"internet access and either copy it to {dest} or pass its path (Python: "
        f"get_backend('sam2', checkpoint='/path/{dest.name}'); command line: --checkpoint /path/{dest.name})."
    )


class _Refetch(Exception):
    """A leftover ``.part`` cannot be trusted: start the download again from byte 0."""


def download(
    url: str,
    dest: str | os.PathLike,
    sha256: str | None = None,
    progress: ProgressCallback | bool = True,
    timeout: float = 60.0,
    chunk: int = 1 << 20,
    trust_unverified: bool = False,
) -> Path:
    """Download ``url`` to ``dest``, resuming ``dest.part`` if present, checking ``sha256``.

    Returns ``dest``. Without ``sha256`` the download is refused unless ``trust_unverified``. On a checksum
    mismatch the partial file is removed and a BackendError raised; on a network error the partial file is
    kept so the next call resumes it. The verified hash is recorded in ``<dest>.sha256``.
    """
    dest = Path(dest)
    if not sha256 and not trust_unverified:
        raise BackendError(
            f"No SHA-256 is known for {url}, so the file could not be checked. Pass the expected hash "
            "(sha256= / --sha256 HEX), or trust_unverified=True / --trust-unverified to accept an unchecked file."
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        _fetch(url, dest, part, sha256, progress, timeout, chunk)
    except _Refetch:
        part.unlink(missing_ok=True)
        _fetch(url, dest, part, sha256, progress, timeout, chunk)
    actual = sha256_of(part)
    if sha256 and actual.lower() != sha256.strip().lower():
        part.unlink(missing_ok=True)
        raise BackendError(
            f"The file downloaded from {url} has SHA-256 {actual}, not the expected {sha256}; it was deleted. "
            "Check the URL and the hash, then download again."
        )
    _record_hash(dest, actual, verified=bool(sha256))
    os.replace(part, dest)
    _VERIFIED[_stat_key(dest)] = actual
    return dest


def _fetch(url: str, dest: Path, part: Path, sha256: str | None, progress, timeout: float, chunk: int) -> None:
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "segassist"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:
            # "Range not satisfiable": the .part may be complete, or longer than the file, or another file.
            # Keep it only when its hash proves it; otherwise fetch the whole file again.
            if sha256 and sha256_of(part).lower() == sha256.strip().lower():
                return
            raise _Refetch() from None
        raise BackendError(_offline_message(url, dest, f"HTTP {exc.code} {exc.reason}")) from None
    except (urllib.error.URLError, OSError) as exc:
        raise BackendError(_offline_message(url, dest, getattr(exc, "reason", exc))) from None

    with contextlib.closing(response):
        resumed = response.status == 206
        if not resumed:
            have = 0  # server sent the whole file: start again
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        report = _progress_reporter(progress, dest.name, total, have)
        try:
            with open(part, "ab" if resumed else "wb") as out:
                while True:
                    block = response.read(chunk)
                    if not block:
                        break
                    out.write(block)
                    have += len(block)
                    report(have)
        except (urllib.error.URLError, OSError) as exc:
            raise BackendError(
                _offline_message(url, dest, f"interrupted after {have} bytes: {exc}; run again to resume")
            ) from None
        finally:
            report(None)
        if total is not None and have < total:
            raise BackendError(
                _offline_message(url, dest, f"connection closed after {have} of {total} bytes; run again to resume")
            )


#: Files hashed in this process: (path, size, mtime) -> hex digest, so a cached file is re-hashed once.
_VERIFIED: dict[tuple, str] = {}


def _stat_key(path: Path) -> tuple:
    st = path.stat()
    return (str(path.resolve()), st.st_size, st.st_mtime_ns)


def _hash_record(dest: Path) -> Path:
    return dest.with_name(dest.name + ".sha256")


def _record_hash(dest: Path, digest: str, verified: bool) -> None:
    from SegAssistLib.io.atomic import atomic_output

    with atomic_output(_hash_record(dest)) as tmp:
        tmp.write_text(f"{digest}  {dest.name}{'' if verified else '  (unverified download)'}\n", encoding="utf-8")


def verify_cached(dest: Path, sha256: str | None, trust_unverified: bool = False) -> Path:
    """Check a cached checkpoint on its first use in this process: against ``sha256`` when known, else the
    hash recorded at download; a file with neither is refused unless ``trust_unverified``."""
    key = _stat_key(dest)
    actual = _VERIFIED.get(key) or sha256_of(dest)
    expected = sha256.strip().lower() if sha256 else None
    if expected is None and _hash_record(dest).is_file():
        expected = _hash_record(dest).read_text(encoding="utf-8").split()[0].lower()
    if expected is None and not trust_unverified:
        raise BackendError(
            f"The cached checkpoint {dest} has no known SHA-256 (it was not downloaded by SegAssist). Pass its hash "
            "(sha256= / --sha256), or trust_unverified=True / --trust-unverified to use it unchecked."
        )
    if expected is not None and actual != expected:
        raise BackendError(
            f"The cached checkpoint {dest} has SHA-256 {actual}, not {expected}: it changed since it was "
            "downloaded (damaged or replaced). Delete it and download again."
        )
    _VERIFIED[key] = actual
    return dest


def _progress_reporter(progress: ProgressCallback | bool, name: str, total: int | None, start: int):
    """A function taking the bytes done so far (None: finished) that drives the callback or a tqdm bar."""
    if callable(progress):
        return lambda done: progress(done, total) if done is not None else None
    if not progress:
        return lambda done: None
    from tqdm import tqdm

    bar = tqdm(total=total, initial=start, unit="B", unit_scale=True, unit_divisor=1024, desc=name, file=sys.stderr)

    def report(done: int | None) -> None:
        if done is None:
            bar.close()
        else:
            bar.update(done - bar.n)

    return report


def resolve_checkpoint(
    model: str = "tiny",
    checkpoint: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    download_missing: bool = True,
    sha256: str | None = None,
    url: str | None = None,
    progress: ProgressCallback | bool = True,
    trust_unverified: bool = False,
) -> Path:
    """The checkpoint file to load for ``model``: ``checkpoint`` if given (it must exist), else the cached
    official file, downloading it when missing and allowed. ``sha256`` (or the table's hash) is checked for
    downloads, for cached files on first use, and for a user's file when given explicitly; downloading or
    using a cached file with no known hash needs ``trust_unverified``."""
    info = get_model(model)
    if checkpoint is not None:
        path = Path(checkpoint).expanduser()
        if not path.is_file():
            raise BackendError(
                f"SAM 2 checkpoint {path} does not exist. Pass the path of a downloaded {info.filename} "
                f"(from {info.url}), or leave the checkpoint out to download it into {default_cache_dir()}."
            )
        if sha256 and sha256_of(path).lower() != sha256.strip().lower():
            raise BackendError(f"SAM 2 checkpoint {path} does not have the SHA-256 {sha256} you gave: it is another file.")
        return path
    dest = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    dest = dest / info.filename
    if dest.is_file():
        return verify_cached(dest, sha256 or info.sha256, trust_unverified)
    if not download_missing:
        raise BackendError(
            f"SAM 2.1 {info.name} checkpoint not found at {dest}, and downloading is off. Download {info.url} "
            "and put it there, or pass its path with checkpoint= / --checkpoint."
        )
    return download(url or info.url, dest, sha256=sha256 or info.sha256, progress=progress,
                    trust_unverified=trust_unverified)


def main(argv: list[str] | None = None) -> int:
    """``python -m SegAssistLib.backends.sam2.checkpoints {list,download}``."""
    parser = argparse.ArgumentParser(prog="python -m SegAssistLib.backends.sam2.checkpoints",
                                     description="List or download the official SAM 2.1 checkpoints.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="show models, URLs and where they are cached")
    d = sub.add_parser("download", help="download one checkpoint into the cache (resumes, checks SHA-256)")
    d.add_argument("model", help=", ".join(MODELS))
    d.add_argument("--cache-dir", help=f"folder for checkpoints (default {default_cache_dir()})")
    d.add_argument("--sha256", help="expected SHA-256 of the file")
    d.add_argument("--url", help="download from this URL instead of the official one (a mirror)")
    d.add_argument("--trust-unverified", action="store_true",
                   help="accept a file whose SHA-256 is not known (no --sha256 and none in the table)")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "list":
            for m in MODELS.values():
                cached = default_cache_dir() / m.filename
                state = "cached" if cached.is_file() else "not cached"
                print(f"{m.name:<10} {m.url}  [{state}: {cached}]")
            return 0
        path = resolve_checkpoint(args.model, cache_dir=args.cache_dir, sha256=args.sha256, url=args.url,
                                  trust_unverified=args.trust_unverified)
        print(path)
        return 0
    except BackendError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
