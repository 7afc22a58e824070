"""Label Studio's ML-backend protocol: SegAssist as an interactive model for image projects.

Label Studio (1.23) calls ``GET /health`` (1 s timeout), ``POST /setup`` (3 s; it sends its ``hostname`` and
an ``access_token``), ``POST /webhook`` and ``POST /predict`` with ``tasks``, ``label_config`` and
``params.context``. In interactive mode ``context.result`` holds the user's prompts from tags marked
``smart="true"``: ``keypointlabels`` (``x``/``y`` in % of the image, ``is_positive``) and
``rectanglelabels`` (``x``, ``y``, ``width``, ``height`` in %). The answer is one ``brushlabels`` result
with ``format: "rle"``, encoded with Label Studio's own encoder (``label_studio_converter.brush.mask2rle``
or the SDK's copy) when installed, else the project's byte-identical one.

Label Studio resends the whole task and *all* current prompts on every click, so the prompts of a request
replace the previous ones, while the image and the backend session (SAM 2's image embedding) are cached
per task: a second click neither re-fetches the image nor re-runs the encoder. The PyPI package
``label-studio-ml`` is the old 1.0.9 API, hence these routes are implemented here.
"""

from __future__ import annotations

import base64
import io
import logging
import threading
import urllib.parse
import urllib.request
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from SegAssistLib.core.planes import PlaneView
from SegAssistLib.core.prompts import SlicePrompt
from SegAssistLib.core.volume import Volume
from SegAssistLib.errors import ServerError
from SegAssistLib.server.sessions import SessionManager

log = logging.getLogger("segassist.server")

#: Largest image the backend fetches (bytes).
MAX_IMAGE_BYTES = 64 << 20
#: A 2D image as a one-slice volume whose axial view shows it unflipped (rows down, cols right).
IMAGE_MATRIX = np.diag([-1.0, -1.0, 1.0, 1.0])


def rle_encoder():
    """Label Studio's own brush RLE encoder (converter, then SDK), else SegAssist's byte-identical one."""
    try:
        from label_studio_converter.brush import mask2rle

        return mask2rle, "label_studio_converter"
    except ImportError:
        pass
    try:
        from label_studio_sdk.converter.brush import mask2rle

        return mask2rle, "label_studio_sdk"
    except ImportError:
        from SegAssistLib.formats.datasets2d.label_studio_tasks import encode_brush_rle

        return encode_brush_rle, "segassist"


@dataclass
class Tags:
    """What a labeling config says: the image's data key and name, the brush tag and its labels."""

    image_key: str
    image_name: str
    brush_from: str
    brush_labels: list[str]


def parse_config(label_config: str) -> Tags:
    """Find the Image tag and the BrushLabels tag controlling it; a 422 that says what is missing."""
    import defusedxml.ElementTree as ET

    try:
        root = ET.fromstring(label_config)
    except Exception as exc:  # defusedxml raises several kinds for bad or hostile XML
        raise ServerError(f"label_config is not valid XML: {exc}", 422) from None
    images = [e for e in root.iter() if e.tag == "Image"]
    brushes = [e for e in root.iter() if e.tag == "BrushLabels"]
    if not images:
        raise ServerError("label_config has no <Image> tag: SegAssist segments image projects.", 422)
    if not brushes:
        raise ServerError("label_config has no <BrushLabels> tag: add one to receive SegAssist's masks.", 422)
    brush = brushes[0]
    image = next((i for i in images if i.get("name") == brush.get("toName")), images[0])
    value = image.get("value", "")
    return Tags(value.lstrip("$"), image.get("name", "image"), brush.get("name", "tag"),
                [lab.get("value") for lab in brush if lab.tag == "Label" and lab.get("value")])


@dataclass
class TaskEntry:
    image: np.ndarray
    session: Any


class LabelStudioBackend:
    """The /predict, /setup, /webhook logic on the server's shared backend and device lock."""

    def __init__(self, manager: SessionManager, url: str | None = None, token: str | None = None,
                 cache_size: int = 16):
        self.manager = manager
        self.url = url.rstrip("/") if url else None
        self.token = token
        self.cache_size = int(cache_size)
        self._tasks: OrderedDict[tuple, TaskEntry] = OrderedDict()
        self._lock = threading.Lock()
        self.encode_rle, self.encoder_name = rle_encoder()
        self.stats = {"fetches": 0, "encodes": 0, "predictions": 0}

    @property
    def model_version(self) -> str:
        return f"segassist-{self.manager.backend_name}"

    def setup(self, body: dict) -> dict:
        """Remember where Label Studio runs and its token (for images behind /data/upload)."""
        if isinstance(body, dict):
            if isinstance(body.get("hostname"), str) and body["hostname"] and not self.url:
                self.url = body["hostname"].rstrip("/")
            if isinstance(body.get("access_token"), str) and body["access_token"] and not self.token:
                self.token = body["access_token"]
        return {"model_version": self.model_version}

    # ---- images ---------------------------------------------------------------------------------
    def fetch(self, ref: str) -> np.ndarray:
        """The image at ``ref`` (data: URI, absolute URL, or a Label Studio path) as 2D float32."""
        from PIL import Image

        if ref.startswith("data:"):
            data = base64.b64decode(ref.partition(",")[2])
        else:
            url = ref
            if not urllib.parse.urlsplit(ref).scheme:
                if not self.url:
                    raise ServerError(f"Image {ref!r} is a Label Studio path but the Label Studio URL is unknown: "
                                      "start with --label-studio-url or let Label Studio call /setup.", 422)
                url = self.url + "/" + ref.lstrip("/")
            if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
                raise ServerError(f"Image URL {ref!r} is neither http(s) nor a data: URI.", 422)
            req = urllib.request.Request(url)
            if self.token and self.url and url.startswith(self.url):
                req.add_header("Authorization", f"Token {self.token}")
            try:
                with urllib.request.urlopen(req, timeout=30) as resp:
                    data = resp.read(MAX_IMAGE_BYTES + 1)
            except OSError as exc:
                raise ServerError(f"Could not fetch image {url}: {exc}", 502) from None
            if len(data) > MAX_IMAGE_BYTES:
                raise ServerError(f"Image {url} is larger than {MAX_IMAGE_BYTES} bytes.", 413)
        self.stats["fetches"] += 1
        try:
            img = Image.open(io.BytesIO(data))
            img.load()
        except Exception as exc:  # PIL raises many kinds for undecodable data
            raise ServerError(f"Image {ref[:200]!r} could not be decoded: {exc}", 422) from None
        return np.asarray(img.convert("L") if img.mode not in ("L", "I", "I;16", "F") else img, dtype=np.float32)

    def _entry(self, task: dict, tags: Tags) -> TaskEntry:
        data = task.get("data") if isinstance(task, dict) else None
        ref = data.get(tags.image_key) if isinstance(data, dict) else None
        if not isinstance(ref, str):
            raise ServerError(f"Task has no image under data.{tags.image_key}.", 422)
        key = (task.get("id"), ref)
        with self._lock:
            entry = self._tasks.get(key)
            if entry is not None:
                self._tasks.move_to_end(key)
                return entry
        image = self.fetch(ref)
        volume = Volume(image[None], IMAGE_MATRIX.copy())
        with self.manager.compute():
            session = self.manager.backend.open_session(PlaneView(volume, "axial"))
        self.stats["encodes"] += 1
        entry = TaskEntry(image, session)
        with self._lock:
            self._tasks[key] = entry
            while len(self._tasks) > self.cache_size:
                _, old = self._tasks.popitem(last=False)
                old.session.close()
        return entry

    # ---- prediction -----------------------------------------------------------------------------
    def predict(self, body: dict) -> dict:
        if not isinstance(body, dict) or not isinstance(body.get("tasks"), list):
            raise ServerError("A /predict body needs 'tasks' (a list) and 'label_config'.", 422)
        if not isinstance(body.get("label_config"), str):
            raise ServerError("A /predict body needs 'label_config' (the project's XML).", 422)
        params = body.get("params") if isinstance(body.get("params"), dict) else {}
        context = params.get("context") if isinstance(params.get("context"), dict) else None
        if not context or not context.get("result"):
            # Batch pre-annotation is not what SegAssist does: one empty prediction per task.
            return {"results": [{"result": [], "score": 0.0, "model_version": self.model_version}
                                for _ in body["tasks"]]}
        tags = parse_config(body["label_config"])
        if not body["tasks"]:
            raise ServerError("'tasks' is empty: interactive prediction needs the task being annotated.", 422)
        task = body["tasks"][0]
        entry = self._entry(task, tags)
        prompt, label = prompt_from_context(context["result"], entry.image.shape)
        with self.manager.compute():
            try:
                entry.session.clear_object(1)
            except NotImplementedError:
                entry.session.close()
                entry.session = self.manager.backend.open_session(entry.session.view)
            result = entry.session.add_prompt(0, prompt, 1)
        mask = np.asarray(result.mask, dtype=bool)
        self.stats["predictions"] += 1
        h, w = mask.shape
        brush_label = label if label in tags.brush_labels else (tags.brush_labels[0] if tags.brush_labels else label)
        rle = self.encode_rle(mask.astype(np.uint8) * 255)
        region = {
            "id": uuid.uuid4().hex[:10], "from_name": tags.brush_from, "to_name": tags.image_name,
            "type": "brushlabels", "original_width": w, "original_height": h, "image_rotation": 0,
            "value": {"format": "rle", "rle": [int(v) for v in rle], "brushlabels": [brush_label] if brush_label else []},
            "score": float(result.score), "readonly": False,
        }
        return {"results": [{"result": [region], "score": float(result.score), "model_version": self.model_version}]}


def prompt_from_context(items: list, shape: tuple[int, int]) -> tuple[SlicePrompt, str | None]:
    """The SlicePrompt of Label Studio's ``context.result`` (keypoints and the last rectangle) and the
    label the user chose on them."""
    h, w = shape
    points, labels, box, label = [], [], None, None
    if not isinstance(items, list):
        raise ServerError("params.context.result must be a list of Label Studio regions.", 422)
    for item in items:
        value = item.get("value") if isinstance(item, dict) else None
        kind = item.get("type") if isinstance(item, dict) else None
        if not isinstance(value, dict):
            raise ServerError("Every context region needs a 'value' object.", 422)
        try:
            if kind == "keypointlabels":
                points.append((float(value["y"]) * h / 100 - 0.5, float(value["x"]) * w / 100 - 0.5))
                labels.append(0 if item.get("is_positive") is False else 1)
                names = value.get("keypointlabels") or []
            elif kind == "rectanglelabels":
                x, y = float(value["x"]) * w / 100, float(value["y"]) * h / 100
                box = (y - 0.5, x - 0.5, y + float(value["height"]) * h / 100 - 0.5, x + float(value["width"]) * w / 100 - 0.5)
                names = value.get("rectanglelabels") or []
            else:
                continue
        except (KeyError, TypeError, ValueError) as exc:
            raise ServerError(f"A {kind} region lacks a numeric {exc}: Label Studio sends x, y (and width, "
                              "height for rectangles) in % of the image.", 422) from None
        if names and isinstance(names, list):
            label = str(names[0])
    if not points and box is None:
        raise ServerError("params.context.result holds no keypointlabels or rectanglelabels region.", 422)
    prompt = SlicePrompt(points=np.array(points).reshape(-1, 2), labels=np.array(labels, dtype=int), box=box)
    prompt.check_inside(shape)
    return prompt, label
