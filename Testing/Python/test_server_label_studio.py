"""Label Studio's ML-backend protocol on ``segassist serve`` (127.0.0.1), with Label Studio's payload shapes.

The task's image is a real PNG (a windowed axial slice of the pyradiomics lung2 CT) served like Label
Studio's ``/data/upload`` (it answers only with the token from ``/setup``). Requests copy what Label Studio
1.23 sends (``api_connector.py``: ``tasks``, ``label_config``, ``params.context.result`` with
``keypointlabels`` / ``rectanglelabels`` from smart tags); masks are decoded with Label Studio's own
decoder (``label_studio_converter.brush.decode_rle``). The real Label Studio end to end is in
``test_server_label_studio_e2e.py``.
"""

from __future__ import annotations

import http.server
import json
import threading
import urllib.request

import numpy as np
import pytest
from label_studio_converter.brush import decode_rle

from SegAssistLib.backends.classical.backend import ClassicalBackend
from SegAssistLib.core.planes import PlaneView
from SegAssistLib.core.prompts import SlicePrompt
from SegAssistLib.core.volume import Volume
from SegAssistLib.formats.datasets2d.images import to_uint8, write_image
from SegAssistLib.server.runner import ServerThread, build

TOKEN = "ls-token-0123"
CONFIG = """<View>
  <Image name="image" value="$image" zoom="true"/>
  <BrushLabels name="tag" toName="image"><Label value="Lesion" background="red"/></BrushLabels>
  <KeyPointLabels name="tag2" toName="image" smart="true"><Label value="Lesion" smart="true"/></KeyPointLabels>
  <RectangleLabels name="tag3" toName="image" smart="true"><Label value="Lesion"/></RectangleLabels>
</View>"""


@pytest.fixture(scope="module")
def slice_png(lung2, tmp_path_factory):
    """(PNG bytes, lesion mask (rows, cols)) of lung2's largest lesion slice, lung window."""
    image, label = lung2
    gt = label.array > 0
    k = int(np.argmax(gt.sum(axis=(1, 2))))
    path = write_image(to_uint8(image.array[k], -1000, 400), tmp_path_factory.mktemp("ls") / "lung2.png")
    return path.read_bytes(), gt[k]


@pytest.fixture(scope="module")
def image_host(slice_png):
    """A stand-in for Label Studio's /data/upload: serves the PNG only with 'Authorization: Token TOKEN'."""
    data = slice_png[0]
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            if self.headers.get("Authorization") != f"Token {TOKEN}":
                self.send_response(401)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", hits
    httpd.shutdown()


@pytest.fixture(scope="module")
def server():
    app, manager, ls = build()
    with ServerThread(app) as srv:
        yield srv.url, ls


def post(url: str, path: str, body) -> tuple[int, dict]:
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def predict_body(task_id: int, context_result: list) -> dict:
    """What Label Studio 1.23's MLApi._prep_prediction_req sends for an interactive annotation."""
    return {
        "tasks": [{"id": task_id, "data": {"image": "/data/upload/1/lung2.png"}, "meta": {}, "annotations": [],
                   "drafts": [], "predictions": [], "project": 1}],
        "project": "1.1733212345", "label_config": CONFIG,
        "params": {"login": None, "password": None, "context": {"result": context_result}},
    }


def keypoint(x_pct: float, y_pct: float, positive: bool = True) -> dict:
    return {"original_width": 512, "original_height": 512, "image_rotation": 0,
            "value": {"x": x_pct, "y": y_pct, "width": 0.4, "keypointlabels": ["Lesion"]},
            "is_positive": positive, "id": "kp1", "from_name": "tag2", "to_name": "image", "type": "keypointlabels",
            "origin": "manual"}


def decode(region: dict) -> np.ndarray:
    h, w = region["original_height"], region["original_width"]
    return decode_rle(region["value"]["rle"]).reshape(h, w, 4)[:, :, 3] > 0


def in_process(png: bytes, prompt: SlicePrompt) -> np.ndarray:
    """The classical backend's mask for ``prompt`` on the PNG, in this process (the server must agree)."""
    import io

    from PIL import Image

    image = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float32)
    view = PlaneView(Volume(image[None], np.diag([-1.0, -1.0, 1.0, 1.0])), "axial")
    return np.asarray(ClassicalBackend().open_session(view).add_prompt(0, prompt, 1).mask, dtype=bool)


def dice(a, b) -> float:
    return 2 * (a & b).sum() / max(1, a.sum() + b.sum())


def test_health_setup_webhook(server, image_host):
    url, ls = server
    with urllib.request.urlopen(url + "/health", timeout=1) as r:
        assert json.loads(r.read())["status"] == "UP"
    status, reply = post(url, "/setup", {"project": "1.1733212345", "schema": CONFIG, "hostname": image_host[0],
                                         "access_token": TOKEN, "extra_params": None})
    assert status == 200 and reply["model_version"] == "segassist-classical"
    assert post(url, "/webhook", {"action": "PROJECT_UPDATED", "project": {"id": 1}})[0] == 200
    assert ls.encoder_name == "label_studio_converter"  # Label Studio's own encoder writes the RLE


def test_keypoint_click_gives_brush_mask_and_second_click_uses_cache(server, image_host, slice_png):
    url, ls = server
    post(url, "/setup", {"hostname": image_host[0], "access_token": TOKEN})
    _, gt = slice_png
    h, w = gt.shape
    r, c = np.argwhere(gt).mean(axis=0)
    x, y = 100 * (c + 0.5) / w, 100 * (r + 0.5) / h
    fetches, encodes = ls.stats["fetches"], ls.stats["encodes"]
    status, reply = post(url, "/predict", predict_body(7, [keypoint(x, y)]))
    assert status == 200, reply
    (region,) = reply["results"][0]["result"]
    assert region["type"] == "brushlabels" and region["value"]["format"] == "rle"
    assert region["from_name"] == "tag" and region["to_name"] == "image"
    assert region["value"]["brushlabels"] == ["Lesion"]
    mask = decode(region)
    r, c = int(round(r)), int(round(c))
    x, y = 100 * (c + 0.5) / w, 100 * (r + 0.5) / h  # exactly pixel (r, c)
    png = slice_png[0]
    assert mask.shape == gt.shape and mask.any()
    assert ls.stats["fetches"] == fetches + 1 and image_host[1][-1] == "/data/upload/1/lung2.png"
    status, reply = post(url, "/predict", predict_body(7, [keypoint(x, y)]))
    mask = decode(reply["results"][0]["result"][0])
    np.testing.assert_array_equal(mask, in_process(png, SlicePrompt(points=[[r, c]], labels=[1])))
    assert mask[r, c] and (mask & gt).any()
    # Label Studio resends everything on the next click: plus a negative keypoint 15 % higher.
    r2 = int(round((max(1.0, y - 15)) * h / 100 - 0.5))
    status, reply2 = post(url, "/predict", predict_body(7, [keypoint(x, y), keypoint(x, 100 * (r2 + 0.5) / h, False)]))
    assert status == 200
    mask2 = decode(reply2["results"][0]["result"][0])
    np.testing.assert_array_equal(mask2, in_process(png, SlicePrompt(points=[[r, c], [r2, c]], labels=[1, 0])))
    assert not mask2[r2, c]
    assert ls.stats["fetches"] == fetches + 1 and ls.stats["encodes"] == encodes + 1  # cached per task


def test_rectangle_prompt(server, image_host, slice_png):
    url, _ = server
    post(url, "/setup", {"hostname": image_host[0], "access_token": TOKEN})
    _, gt = slice_png
    h, w = gt.shape
    rows, cols = np.flatnonzero(gt.any(axis=1)), np.flatnonzero(gt.any(axis=0))
    rect = {"x": 100 * (cols[0] - 3) / w, "y": 100 * (rows[0] - 3) / h, "width": 100 * (cols[-1] - cols[0] + 7) / w,
            "height": 100 * (rows[-1] - rows[0] + 7) / h, "rotation": 0, "rectanglelabels": ["Lesion"]}
    item = {"original_width": w, "original_height": h, "image_rotation": 0, "value": rect, "id": "r1",
            "from_name": "tag3", "to_name": "image", "type": "rectanglelabels", "origin": "manual"}
    status, reply = post(url, "/predict", predict_body(8, [item]))
    assert status == 200, reply
    mask = decode(reply["results"][0]["result"][0])
    box = (rows[0] - 3, cols[0] - 3, rows[-1] + 4, cols[-1] + 4)  # the rectangle's edges in pixel centres
    np.testing.assert_array_equal(mask, in_process(slice_png[0], SlicePrompt(box=[v - 0.5 for v in box])))
    assert (mask & gt).sum() > 0.5 * gt.sum()
    outside = np.ones_like(gt)
    outside[rows[0] - 3:rows[-1] + 5, cols[0] - 3:cols[-1] + 5] = False
    assert not (mask & outside).any()


def test_protocol_errors_are_4xx_with_message(server, image_host):
    url, _ = server
    cases = [
        {"tasks": "no"},
        {"tasks": [], "label_config": CONFIG, "params": {"context": {"result": [keypoint(50, 50)]}}},
        predict_body(9, [{"type": "keypointlabels", "value": {"x": "left"}}]),
        predict_body(9, [keypoint(150, 50)]),
        {**predict_body(9, [keypoint(50, 50)]), "label_config": "<View><Image name='i' value='$image'/></View>"},
        {**predict_body(9, [keypoint(50, 50)]), "label_config": "<View"},
        {**predict_body(9, [keypoint(50, 50)]), "tasks": [{"id": 9, "data": {"picture": "x"}}]},
    ]
    for body in cases:
        status, reply = post(url, "/predict", body)
        assert 400 <= status < 500 and reply["error"], (body, status, reply)
    # Batch pre-annotation (no context): one empty prediction per task, as Label Studio expects.
    status, reply = post(url, "/predict", {**predict_body(9, []), "params": {}})
    assert status == 200 and reply["results"] == [{"result": [], "score": 0.0, "model_version": "segassist-classical"}]
