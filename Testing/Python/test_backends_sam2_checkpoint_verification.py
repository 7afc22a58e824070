"""Checkpoints are verified (issue 18): a download needs a SHA-256 or an explicit trust_unverified, a
leftover ``.part`` answered with HTTP 416 is promoted only when its hash proves it, cached files are
re-hashed on first use against the known hash or the one recorded at download, and pyproject requires a
torch whose ``torch.load`` defaults to ``weights_only=True``. Real HTTP server on 127.0.0.1 (the one of
test_backends_sam2_checkpoints); needs no torch."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from SegAssistLib.backends.sam2 import checkpoints as ck
from SegAssistLib.errors import BackendError
from test_backends_sam2_checkpoints import PAYLOAD, SHA, server  # noqa: F401  (server is a fixture)


def test_download_without_hash_is_refused_before_any_request(server, tmp_path):  # noqa: F811
    with pytest.raises(BackendError, match="--trust-unverified"):
        ck.download(server.url, tmp_path / "m.pt", progress=False)
    with pytest.raises(BackendError, match="--sha256"):
        ck.resolve_checkpoint("tiny", cache_dir=tmp_path, url=server.url, progress=False)
    assert server.requests == [] and list(tmp_path.iterdir()) == []
    assert ck.main(["download", "tiny", "--cache-dir", str(tmp_path), "--url", server.url]) == 2


def test_trusted_download_is_recorded_and_rechecked(server, tmp_path):  # noqa: F811
    got = ck.resolve_checkpoint("tiny", cache_dir=tmp_path, url=server.url, progress=False, trust_unverified=True)
    assert got.read_bytes() == PAYLOAD
    record = got.with_name(got.name + ".sha256").read_text()
    assert record.startswith(SHA) and "unverified" in record
    ck._VERIFIED.clear()  # a new process
    assert ck.resolve_checkpoint("tiny", cache_dir=tmp_path) == got  # matches its record
    got.write_bytes(PAYLOAD[:-1] + b"\0")  # replaced or damaged in the cache
    ck._VERIFIED.clear()
    with pytest.raises(BackendError, match="changed since it was downloaded"):
        ck.resolve_checkpoint("tiny", cache_dir=tmp_path)


def test_cached_file_without_any_hash_needs_trust(tmp_path):
    (tmp_path / "sam2.1_hiera_small.pt").write_bytes(b"not a model")
    with pytest.raises(BackendError, match="no known SHA-256"):
        ck.resolve_checkpoint("small", cache_dir=tmp_path)
    with pytest.raises(BackendError, match="changed since"):
        ck.resolve_checkpoint("small", cache_dir=tmp_path, sha256=SHA)
    assert ck.resolve_checkpoint("small", cache_dir=tmp_path, trust_unverified=True).is_file()


@pytest.mark.parametrize("sha", [SHA, None])
def test_leftover_part_answered_416_is_not_promoted_unchecked(server, tmp_path, sha):  # noqa: F811
    dest = tmp_path / "m.pt"
    dest.with_name("m.pt.part").write_bytes(b"\xff" * (len(PAYLOAD) + 10))  # longer than the file: HTTP 416
    path = ck.download(server.url, dest, sha256=sha, progress=False, trust_unverified=sha is None)
    assert path.read_bytes() == PAYLOAD  # fetched again from byte 0, not the leftover
    assert server.requests[0] is not None and server.requests[-1] is None
    assert not dest.with_name("m.pt.part").exists()


def test_pyproject_requires_a_torch_with_safe_load_default():
    text = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    torch = [Requirement(m) for m in re.findall(r'"(torch\b[^"]*)"', text)]
    assert torch and all(not r.specifier.contains("2.5.1") and r.specifier.contains("2.6.0") for r in torch)
