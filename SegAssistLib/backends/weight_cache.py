"""Where model weights are cached, and how a weight file is fingerprinted: shared by every backend that
loads pretrained weights (SAM 2 checkpoints, LiteMedSAM, MobileSAM), so they all honour the same
environment variables and verify files the same way."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def cache_dir(name: str) -> Path:
    """The cache folder of model family ``name``: ``$SEGASSIST_CACHE/<name>``, else
    ``$XDG_CACHE_HOME/segassist/<name>``, else ``~/.cache/segassist/<name>``."""
    if os.environ.get("SEGASSIST_CACHE"):
        return Path(os.environ["SEGASSIST_CACHE"]) / name
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "segassist" / name


def sha256_of(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks (weight files are hundreds of MB)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()
