"""Checkpoint download against a real HTTP server on 127.0.0.1: progress, resume with Range, restart when
the server ignores Range, an interrupted transfer kept for resuming, SHA-256 checks that leave nothing
behind, and the offline message. Needs no torch."""

from __future__ import annotations

import hashlib
import http.server
import os
import re
import threading
from pathlib import Path

import pytest

from SegAssistLib.backends.sam2 import checkpoints as ck
from SegAssistLib.errors import BackendError

PAYLOAD = os.urandom(300_000)  # random bytes: no chance of a lucky partial match
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves PAYLOAD at /file.pt with Range support; the server's flags change its behaviour."""

    def log_message(self, *args):  # keep the test output clean
        pass

    def do_GET(self):  # noqa: N802
        srv = self.server
        srv.requests.append(self.headers.get("Range"))
        if self.path != "/file.pt":
            self.send_error(404)
            return
        start = 0
        m = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if m and srv.honour_range:
            start = int(m.group(1))
            if start >= len(PAYLOAD):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(PAYLOAD)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        else:
            self.send_response(200)
        body = PAYLOAD[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if srv.cut_after is not None:  # simulate a dropped connection
            self.wfile.write(body[: srv.cut_after])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.requests, srv.honour_range, srv.cut_after = [], True, None
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}/file.pt"
    yield srv
    srv.shutdown()
    srv.server_close()


def test_download_reports_progress_and_checks_sha256(server, tmp_path):
    seen = []
    dest = ck.download(server.url, tmp_path / "m.pt", sha256=SHA, progress=lambda d, t: seen.append((d, t)),
                       chunk=65536)
    assert dest.read_bytes() == PAYLOAD
    assert not (tmp_path / "m.pt.part").exists()
    assert len(seen) >= 4 and seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert server.requests == [None]


def test_resume_uses_range_and_appends(server, tmp_path):
    part = tmp_path / "m.pt.part"
    part.write_bytes(PAYLOAD[:120_000])
    seen = []
    ck.download(server.url, tmp_path / "m.pt", sha256=SHA, progress=lambda d, t: seen.append(d), chunk=65536)
    assert server.requests == ["bytes=120000-"]
    assert seen[0] > 120_000  # counted from where it resumed
    assert (tmp_path / "m.pt").read_bytes() == PAYLOAD


def test_server_ignoring_range_restarts_cleanly(server, tmp_path):
    server.honour_range = False
    (tmp_path / "m.pt.part").write_bytes(b"x" * 5000)  # junk that must not stay in front of the file
    ck.download(server.url, tmp_path / "m.pt", sha256=SHA, progress=False)
    assert (tmp_path / "m.pt").read_bytes() == PAYLOAD


def test_interrupted_download_is_kept_then_resumed(server, tmp_path):
    server.cut_after = 100_000
    with pytest.raises(BackendError, match="run again to resume"):
        ck.download(server.url, tmp_path / "m.pt", sha256=SHA, progress=False)
    assert not (tmp_path / "m.pt").exists()
    assert (tmp_path / "m.pt.part").stat().st_size == 100_000
    server.cut_after = None
    ck.download(server.url, tmp_path / "m.pt", sha256=SHA, progress=False)
    assert server.requests[-1] == "bytes=100000-"
    assert (tmp_path / "m.pt").read_bytes() == PAYLOAD


def test_checksum_mismatch_leaves_no_file(server, tmp_path):
    with pytest.raises(BackendError, match="SHA-256") as info:
        ck.download(server.url, tmp_path / "m.pt", sha256="0" * 64, progress=False)
    assert SHA in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_offline_message_names_url_and_how_to_pass_file(tmp_path):
    import socket

    with socket.socket() as s:  # a port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/sam2.1_hiera_tiny.pt"
    with pytest.raises(BackendError) as info:
        ck.resolve_checkpoint("tiny", cache_dir=tmp_path, url=url, sha256=SHA, progress=False)
    msg = str(info.value)
    assert url in msg and "--checkpoint" in msg and str(tmp_path / "sam2.1_hiera_tiny.pt") in msg
    assert list(tmp_path.iterdir()) == []


def test_resolve_uses_cache_user_path_and_model_table(server, tmp_path):
    assert ck.get_model("b+").filename == "sam2.1_hiera_base_plus.pt"
    assert ck.get_model("sam2.1_hiera_large.pt").config == "configs/sam2.1/sam2.1_hiera_l.yaml"
    assert ck.MODELS["tiny"].url == "https://dl.fbaipublicfiles.com/segment_anything_2/092824/sam2.1_hiera_tiny.pt"
    with pytest.raises(BackendError, match="downloading is off"):
        ck.resolve_checkpoint("small", cache_dir=tmp_path, download_missing=False)
    got = ck.resolve_checkpoint("small", cache_dir=tmp_path, url=server.url, sha256=SHA, progress=False)
    assert got == tmp_path / "sam2.1_hiera_small.pt" and got.read_bytes() == PAYLOAD
    n = len(server.requests)
    assert ck.resolve_checkpoint("small", cache_dir=tmp_path) == got  # cached: no request
    assert len(server.requests) == n
    with pytest.raises(BackendError, match="does not exist"):
        ck.resolve_checkpoint("small", checkpoint=tmp_path / "missing.pt")
    with pytest.raises(BackendError, match="another file"):
        ck.resolve_checkpoint("small", checkpoint=got, sha256="f" * 64)
    assert ck.resolve_checkpoint("small", checkpoint=got, sha256=SHA) == got


def test_command_line_download(server, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SEGASSIST_CACHE", str(tmp_path / "cache"))
    assert ck.default_cache_dir() == tmp_path / "cache" / "sam2"
    rc = ck.main(["download", "tiny", "--url", server.url, "--sha256", SHA])
    out = capsys.readouterr()
    assert rc == 0
    path = Path(out.out.strip())
    assert path == tmp_path / "cache" / "sam2" / "sam2.1_hiera_tiny.pt" and path.read_bytes() == PAYLOAD
    assert ck.main(["list"]) == 0
    assert "[cached:" in capsys.readouterr().out
    assert ck.main(["download", "tiny", "--cache-dir", str(tmp_path / "other"), "--url", server.url,
                    "--sha256", "1" * 64]) == 2
    assert "SHA-256" in capsys.readouterr().err
