"""``segassist serve`` as a real process on 127.0.0.1 and ``segassist segment --server URL`` against it: the
remote segmentation equals the local one on brain1; a non-loopback host without a key is refused (exit 2,
no traceback); the server's request log is JSON lines."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import numpy as np
import pytest
import slicerio

from SegAssistLib.core.planes import PlaneView
from SegAssistLib.io.markups import MarkupPrompt, write_markups
from SegAssistLib.server.client import wait_until_up

KEY = "cli-key-42"


def run(*args, **kw):
    return subprocess.run([sys.executable, "-m", "SegAssistLib.cli.main", *args], capture_output=True, text=True, **kw)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path_factory.mktemp("serve") / "server.log"
    with open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "SegAssistLib.cli.main", "serve", "--port", str(port),
                                 "--api-key", KEY], stderr=err)
        try:
            wait_until_up(f"http://127.0.0.1:{port}", 60)
            yield f"http://127.0.0.1:{port}", log
        finally:
            proc.terminate()
            proc.wait(30)


def test_segment_with_server_equals_local(served, tmp_path, brain1):
    url, log = served
    vol, label = brain1
    gt = label.array > 0
    view = PlaneView(vol, "axial")
    k = int(np.argmax(gt.sum(axis=(1, 2))))
    r, c = np.argwhere(view.slice(k, gt)).mean(axis=0).round().astype(int)
    prompts = write_markups(tmp_path / "Tumour.mrk.json", MarkupPrompt("Tumour", view.pixel_to_ras(k, r, c)[None], np.array([1])))
    image = vol.metadata["source"]
    local = run("segment", image, "--prompts", str(prompts), "-o", str(tmp_path / "local.seg.nrrd"), "--no-progress")
    assert local.returncode == 0, local.stderr
    remote = run("segment", image, "--prompts", str(prompts), "-o", str(tmp_path / "remote.seg.nrrd"),
                 "--server", url, "--api-key", KEY)
    assert remote.returncode == 0, remote.stderr
    a = slicerio.read_segmentation(str(tmp_path / "local.seg.nrrd"))["voxels"]
    b = slicerio.read_segmentation(str(tmp_path / "remote.seg.nrrd"))["voxels"]
    assert np.count_nonzero(a) > 100
    np.testing.assert_array_equal(a, b)
    wrong = run("segment", image, "--prompts", str(prompts), "-o", str(tmp_path / "x.seg.nrrd"), "--server", url,
                "--api-key", "bad")
    assert wrong.returncode == 2 and "API key" in wrong.stderr and "Traceback" not in wrong.stderr
    assert not (tmp_path / "x.seg.nrrd").exists()
    records = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    requests = [r for r in records if r["msg"] == "request"]
    assert {"method", "path", "status", "ms"} <= set(requests[-1])
    assert any(r["status"] == 401 for r in requests) and any(r["path"].endswith("/propagate") for r in requests)


def test_serve_beyond_localhost_needs_a_key():
    out = run("serve", "--host", "0.0.0.0", "--port", "1", timeout=60, env={**__import__("os").environ,
                                                                         "SEGASSIST_API_KEY": ""})
    assert out.returncode == 2 and "API key" in out.stderr and "Traceback" not in out.stderr
