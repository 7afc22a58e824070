"""A real Label Studio 1.23 with SegAssist as its interactive ML backend (issue 16's acceptance).

``scripts/label_studio_env.sh`` installs ``label-studio==1.23.2`` from PyPI into its own cached virtual
environment (first time: minutes) with a migrated template database. The test copies the template, starts
Label Studio on 127.0.0.1, creates a project with a brush tag and smart keypoint/rectangle tags, imports a
real PNG slice (lung2 CT, lung window) through Label Studio's upload, registers the SegAssist server
(127.0.0.1) as the project's interactive ML backend, asks Label Studio for an interactive annotation with a
keypoint on the lesion and then a rectangle, and decodes the returned masks with Label Studio's own RLE
decoder (``label_studio_sdk.converter.brush.decode_rle``, run in Label Studio's venv) to check they touch
the lesion and equal the classical backend's masks computed in the test process. Label Studio itself
fetches the image for SegAssist with its token (``/data/upload``).
Marked slow (``pytest -m "not slow"`` leaves it out). Measured on the shared 2-core machine under load: with
the cached venv and template, 28 to 141 s (mostly Label Studio starting); the first time add the
install (~7 min of pip) and the template's migrations (4 min 48 s wall, 1 min 22 s CPU).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from SegAssistLib.backends.classical.backend import ClassicalBackend
from SegAssistLib.core.planes import PlaneView
from SegAssistLib.core.prompts import SlicePrompt
from SegAssistLib.core.volume import Volume
from SegAssistLib.formats.datasets2d.images import to_uint8, write_image
from SegAssistLib.server.runner import ServerThread, build

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
TOKEN = "5e9a5e9a0123456789abcdef0123456789abcdef"  # the template database's test user (scripts/label_studio_env.sh)
CONFIG = """<View>
  <Image name="image" value="$image" zoom="true"/>
  <BrushLabels name="tag" toName="image"><Label value="Lesion" background="red"/></BrushLabels>
  <KeyPointLabels name="tag2" toName="image" smart="true"><Label value="Lesion" smart="true"/></KeyPointLabels>
  <RectangleLabels name="tag3" toName="image" smart="true"><Label value="Lesion"/></RectangleLabels>
</View>"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def label_studio(tmp_path_factory):
    """(base URL, venv) of a fresh Label Studio on 127.0.0.1 (the cached install, a copied template DB)."""
    out = subprocess.run(["bash", str(REPO / "scripts" / "label_studio_env.sh")], capture_output=True, text=True,
                         timeout=1800)
    assert out.returncode == 0, out.stderr[-3000:]
    venv = Path(out.stdout.strip().splitlines()[-1])
    data = tmp_path_factory.mktemp("label-studio")
    shutil.copy(venv / "segassist-db-template.sqlite3", data / "label_studio.sqlite3")
    port = _free_port()
    env = {**os.environ, "LABEL_STUDIO_BASE_DATA_DIR": str(data), "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
           "ML_BLOCK_LOCAL_IP": "false", "SSRF_PROTECTION_ENABLED": "false",  # the ML backend is on 127.0.0.1
           "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true", "COLLECT_ANALYTICS": "false",
           "SENTRY_DSN": "", "FRONTEND_SENTRY_DSN": ""}
    env.pop("PYTHONPATH", None)
    log = open(data / "label-studio.log", "w")
    proc = subprocess.Popen([str(venv / "bin" / "label-studio"), "start", "--no-browser", "--internal-host", "127.0.0.1",
                             "-p", str(port), "--enable-legacy-api-token"], env=env, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    try:
        while True:
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, (data / "label-studio.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "Label Studio did not start within 600 s"
            time.sleep(1)
        yield url, venv
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def png_slice(lung2, tmp_path_factory):
    image, label = lung2
    gt = label.array > 0
    k = int(np.argmax(gt.sum(axis=(1, 2))))
    path = write_image(to_uint8(image.array[k], -1000, 400), tmp_path_factory.mktemp("png") / "lung2_slice.png")
    return path, gt[k]


def in_process(png: Path, prompt: SlicePrompt) -> np.ndarray:
    """The classical backend's mask for ``prompt`` on the PNG, in this process (what SegAssist must return)."""
    from PIL import Image

    image = np.asarray(Image.open(png).convert("L"), dtype=np.float32)
    view = PlaneView(Volume(image[None], np.diag([-1.0, -1.0, 1.0, 1.0])), "axial")
    return np.asarray(ClassicalBackend().open_session(view).add_prompt(0, prompt, 1).mask, dtype=bool)


def decode_with_label_studio(venv: Path, region: dict) -> np.ndarray:
    """The region's mask, decoded by Label Studio's own SDK in Label Studio's venv."""
    code = ("import json, sys, numpy as np\n"
            "from label_studio_sdk.converter.brush import decode_rle\n"
            "r = json.load(sys.stdin)\n"
            "a = decode_rle(r['value']['rle']).reshape(r['original_height'], r['original_width'], 4)[:, :, 3] > 0\n"
            "print(json.dumps(np.argwhere(a).tolist()))\n")
    out = subprocess.run([str(venv / "bin" / "python"), "-c", code], input=json.dumps(region), capture_output=True,
                         text=True, timeout=120, env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert out.returncode == 0, out.stderr[-2000:]
    mask = np.zeros((region["original_height"], region["original_width"]), dtype=bool)
    idx = np.asarray(json.loads(out.stdout), dtype=int).reshape(-1, 2)
    mask[idx[:, 0], idx[:, 1]] = True
    return mask


def test_label_studio_interactive_annotation_end_to_end(label_studio, png_slice):
    ls_url, venv = label_studio
    png, gt = png_slice
    headers = {"Authorization": f"Token {TOKEN}"}
    api = httpx.Client(base_url=ls_url, headers=headers, timeout=120)
    project = api.post("/api/projects", json={"title": "SegAssist e2e", "label_config": CONFIG})
    assert project.status_code == 201, project.text
    pid = project.json()["id"]
    with open(png, "rb") as f:
        imported = api.post(f"/api/projects/{pid}/import", files={"file": (png.name, f, "image/png")})
    assert imported.status_code == 201, imported.text
    tasks = api.get("/api/tasks", params={"project": pid}).json()["tasks"]
    assert len(tasks) == 1 and tasks[0]["data"]["image"].startswith("/data/upload/")
    task_id = tasks[0]["id"]

    app, _, ls_backend = build()  # no Label Studio URL given: it arrives with Label Studio's /setup call
    with ServerThread(app) as srv:
        ml = api.post("/api/ml", json={"url": srv.url, "project": pid, "is_interactive": True, "title": "SegAssist"})
        assert ml.status_code == 201, ml.text
        ml_id = ml.json()["id"]
        assert ls_backend.token == TOKEN and ls_backend.url  # learnt from /setup

        h, w = gt.shape
        r, c = np.argwhere(gt).mean(axis=0).round().astype(int)
        keypoint = {"original_width": w, "original_height": h, "image_rotation": 0, "id": "kp1",
                    "from_name": "tag2", "to_name": "image", "type": "keypointlabels", "origin": "manual",
                    "is_positive": True, "value": {"x": 100 * (c + 0.5) / w, "y": 100 * (r + 0.5) / h,
                                                   "width": 0.5, "keypointlabels": ["Lesion"]}}
        reply = api.post(f"/api/ml/{ml_id}/interactive-annotating", json={"task": task_id, "context": {"result": [keypoint]}})
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert "errors" not in body, body
        (region,) = body["data"]["result"]
        assert region["type"] == "brushlabels" and region["value"]["format"] == "rle"
        mask = decode_with_label_studio(venv, region)
        np.testing.assert_array_equal(mask, in_process(png, SlicePrompt(points=[[r, c]], labels=[1])))
        assert mask[r, c] and (mask & gt).any()
        assert ls_backend.stats["fetches"] == 1  # Label Studio's image, fetched with its token

        rows, cols = np.flatnonzero(gt.any(axis=1)), np.flatnonzero(gt.any(axis=0))
        rect = {"original_width": w, "original_height": h, "image_rotation": 0, "id": "r1", "from_name": "tag3",
                "to_name": "image", "type": "rectanglelabels", "origin": "manual",
                "value": {"x": 100 * (cols[0] - 3) / w, "y": 100 * (rows[0] - 3) / h, "rotation": 0,
                          "width": 100 * (cols[-1] - cols[0] + 7) / w, "height": 100 * (rows[-1] - rows[0] + 7) / h,
                          "rectanglelabels": ["Lesion"]}}
        reply = api.post(f"/api/ml/{ml_id}/interactive-annotating", json={"task": task_id, "context": {"result": [rect]}})
        assert reply.status_code == 200 and "errors" not in reply.json(), reply.text
        mask = decode_with_label_studio(venv, reply.json()["data"]["result"][0])
        box = [rows[0] - 3.5, cols[0] - 3.5, rows[-1] + 3.5, cols[-1] + 3.5]
        np.testing.assert_array_equal(mask, in_process(png, SlicePrompt(box=box)))
        assert (mask & gt).sum() > 0.5 * gt.sum()
        assert ls_backend.stats["fetches"] == 1 and ls_backend.stats["encodes"] == 1  # per-task cache
