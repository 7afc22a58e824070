"""The session API of ``segassist serve`` over real HTTP on 127.0.0.1, on the real brain1 MR volume.

Acceptance (issue 16): exactly one upload per session; 401 without the key; 410 after expiry, then the
client recovers by re-seeding; two sessions do not see each other's prompts; a malformed payload gets a
4xx with a message, never a 500 or a traceback. Also: a click's answer equals the in-process engine's and
costs well under 1 % of the volume's bytes.
"""

from __future__ import annotations

import base64
import http.client
import json
import time
import urllib.parse

import numpy as np
import pytest

from SegAssistLib.engine import SegmentationEngine
from SegAssistLib.errors import SegAssistError
from SegAssistLib.server import wire
from SegAssistLib.server.auth import check_config
from SegAssistLib.server.client import RemoteEngine, RemoteError
from SegAssistLib.server.runner import ServerThread, build

KEY = "s3cret-key"


@pytest.fixture(scope="module")
def case(brain1):
    """(volume, a tumour voxel (i, j, k) on its largest slice, the tumour mask)."""
    image, label = brain1
    gt = label.array > 0
    k = int(np.argmax(gt.sum(axis=(1, 2))))
    j, i = np.argwhere(gt[k]).mean(axis=0).round().astype(int)
    assert gt[k, j, i]
    return image, (int(i), int(j), k), gt


@pytest.fixture(scope="module")
def server():
    app, manager, _ = build(idle_s=600, api_key=KEY)
    with ServerThread(app) as srv:
        yield srv, manager


def raw(url: str, method: str, path: str, body: bytes | None = None, key: str | None = KEY,
        ctype: str = "application/json") -> tuple[int, bytes]:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    headers = {"Content-Type": ctype}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data


def test_one_upload_per_session_and_hash_reuse(server, case):
    srv, manager = server
    image, (i, j, k), _ = case
    before = manager.stats["uploads"]
    with RemoteEngine(srv.url, image, api_key=KEY) as a:
        assert a.stats["uploads"] == 1 and manager.stats["uploads"] == before + 1
        a.segment("tumour", points=[[i, j, k]], space="ijk")
        a.segment("tumour", points=[[i + 1, j, k]], space="ijk")
        assert manager.stats["uploads"] == before + 1  # clicks never re-send the volume
        # A second upload to the same session is refused.
        env = wire.pack(image.array, {"ijk_to_ras": image.ijk_to_ras.tolist()})
        status, data = raw(srv.url, "PUT", f"/sessions/{a.session}/volume", env, ctype="application/octet-stream")
        assert status == 409 and "exactly one upload" in json.loads(data)["error"]
        # Another session on the same content skips the upload (content hash).
        with RemoteEngine(srv.url, image, api_key=KEY) as b:
            assert b.stats["uploads"] == 0
            assert manager.stats["uploads"] == before + 1
    assert manager.info()["volumes_held"] == 0  # the store dropped the volume with its last session


def test_click_matches_in_process_engine_and_is_small(server, case):
    srv, _ = server
    image, (i, j, k), gt = case
    local = SegmentationEngine(image, "classical")
    n, expected = local.add_points("tumour", image.ijk_to_ras_points(np.array([[i, j, k]], float)))
    with RemoteEngine(srv.url, image, api_key=KEY) as r:
        head = r.segment("tumour", points=image.ijk_to_ras_points(np.array([[i, j, k]], float)))
        assert head["slice"] == n
        got = local.view("axial").slice(n, r.labels("tumour"))
        np.testing.assert_array_equal(got, expected)
        assert r.labels("tumour").sum() == expected.sum()  # nothing outside the slice
        assert r.last_bytes < 0.01 * image.array.nbytes
        assert r.labels("tumour")[k, j, i]  # the clicked voxel is in the segment


def test_keyframe_propagate_fuse_interpolate_undo(server, case):
    srv, _ = server
    image, (i, j, k), gt = case
    with RemoteEngine(srv.url, image, api_key=KEY) as r:
        r.segment("tumour", points=[[i, j, k]], space="ijk")
        view = SegmentationEngine(image, "classical").view("axial")
        drawn = view.slice(k - 2, gt)
        head = r.set_keyframe_mask("tumour", "axial", k - 2, drawn)
        np.testing.assert_array_equal(view.slice(k - 2, r.labels("tumour")), drawn)
        assert head["box"] is not None
        r.propagate("tumour")
        after_propagate = r.labels("tumour").copy()
        assert after_propagate[k - 1].any()  # filled between the keyframes
        np.testing.assert_array_equal(r.labels("tumour"), r.fetch_labels("tumour"))  # local copy in step
        r.fuse("tumour", threshold=0.9)
        assert r.labels("tumour").sum() <= after_propagate.sum()
        r.undo()
        np.testing.assert_array_equal(r.labels("tumour"), after_propagate)
        np.testing.assert_array_equal(r.fetch_labels("tumour"), after_propagate)
        r.interpolate("tumour", plane="axial")
        np.testing.assert_array_equal(r.fetch_labels("tumour"), r.labels("tumour"))


def test_401_without_key_and_key_required_beyond_localhost(server, case):
    srv, _ = server
    for key in (None, "wrong-key", KEY[:-1]):
        status, data = raw(srv.url, "POST", "/sessions", b"{}", key=key)
        assert status == 401 and "API key" in json.loads(data)["error"]
    assert raw(srv.url, "GET", "/capabilities", key=None)[0] == 401
    assert raw(srv.url, "GET", "/health", key=None)[0] == 200  # Label Studio's probe stays open
    # Label Studio's "Basic Authentication" for ML backends: any user name, the key as password.
    parts = urllib.parse.urlsplit(srv.url)
    for password, expected in ((KEY, 200), ("nope", 401)):
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        token = base64.b64encode(f"labelstudio:{password}".encode()).decode()
        conn.request("GET", "/capabilities", headers={"Authorization": f"Basic {token}"})
        assert conn.getresponse().status == expected
        conn.close()
    with pytest.raises(RemoteError) as err:
        RemoteEngine(srv.url, case[0], api_key="nope")
    assert err.value.status == 401
    with pytest.raises(SegAssistError, match="API key"):
        check_config("0.0.0.0", None)
    check_config("0.0.0.0", KEY)
    check_config("127.0.0.1", None)


def test_410_after_expiry_then_recovery(case):
    image, (i, j, k), _ = case
    app, manager, _ = build(idle_s=2.0, sweep_s=0.1)  # long enough that a loaded machine does not expire it early
    with ServerThread(app) as srv:
        r = RemoteEngine(srv.url, image)
        r.segment("tumour", points=[[i, j, k]], space="ijk")
        first = r.labels("tumour").copy()
        old = r.session
        deadline = time.monotonic() + 10
        while manager.info()["sessions"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert manager.info()["sessions"] == 0
        assert manager.info()["volumes_held"] == 0  # memory released with the session
        status, data = raw(srv.url, "POST", f"/sessions/{old}/segment", json.dumps({"segment": "x"}).encode(), key=None)
        assert status == 410 and "re-seed" in json.loads(data)["error"]
        # The client recovers: new session, one more upload, journal replayed, then the new click.
        r.segment("tumour", points=[[i, j - 1, k]], space="ijk")
        assert r.session != old and r.stats["reseeds"] == 1 and r.stats["uploads"] == 2
        server_side = r.fetch_labels("tumour")
        assert server_side[k].any() and server_side.sum() >= first.sum() * 0.5
        r.close()


def test_two_sessions_are_isolated(server, case):
    srv, _ = server
    image, (i, j, k), _ = case
    with RemoteEngine(srv.url, image, api_key=KEY) as a, RemoteEngine(srv.url, image, api_key=KEY) as b:
        a.segment("tumour", points=[[i, j, k]], space="ijk")
        assert a.fetch_labels("tumour").any()
        assert not b.fetch_labels("tumour").any()
        with pytest.raises(RemoteError) as err:
            b.propagate("tumour")
        assert err.value.status == 422 and "no keyframes" in str(err.value)
        with pytest.raises(RemoteError) as err:
            b.undo()
        assert err.value.status == 409
        b.segment("tumour", points=[[i, j, k - 1]], space="ijk")
        assert not a.fetch_labels("tumour")[k - 1].any()
        assert b.fetch_labels("tumour")[k - 1].any() and not b.labels("tumour")[k].any()


def test_malformed_payloads_get_4xx_with_message(server, case):
    srv, _ = server
    image, (i, j, k), _ = case
    with RemoteEngine(srv.url, image, api_key=KEY) as r:
        sid = r.session
        seg = f"/sessions/{sid}/segment"
        bad_json = [
            (seg, b"{not json"), (seg, b"[1, 2]"), (seg, b'"text"'), (seg, b"{}"),
            (seg, json.dumps({"segment": 5}).encode()),
            (seg, json.dumps({"segment": "t", "points": [[1, 2]]}).encode()),
            (seg, json.dumps({"segment": "t", "points": "here"}).encode()),
            (seg, json.dumps({"segment": "t", "points": [[1, 2, "x"]]}).encode()),
            (seg, json.dumps({"segment": "t", "points": [[1e9, 0, 0]], "space": "ijk"}).encode()),
            (seg, json.dumps({"segment": "t", "points": [[i, j, k]], "labels": [2], "space": "ijk"}).encode()),
            (seg, json.dumps({"segment": "t", "points": [[i, j, k]], "plane": "oblique", "space": "ijk"}).encode()),
            (seg, json.dumps({"segment": "t", "points": [[i, j, k]], "space": "lps"}).encode()),
            (seg, json.dumps({"segment": "t", "points": [[i, j, k]], "slice": True, "space": "ijk"}).encode()),
            (seg, json.dumps({"segment": "t", "points": [[i, j, k]], "slice": 10_000, "space": "ijk"}).encode()),
            (seg, json.dumps({"segment": "t", "box": [[0, 0, k]], "space": "ijk"}).encode()),
            (seg, json.dumps({"segment": "t", "points": [[float("nan"), 0, 0]]}).encode()),
            (f"/sessions/{sid}/fuse", json.dumps({"segment": "t", "threshold": 3}).encode()),
            (f"/sessions/{sid}/interpolate", json.dumps({"segment": "t", "plane": 7}).encode()),
            (f"/sessions/{sid}/explode", b"{}"),
            ("/sessions", json.dumps({"volume_hash": 12}).encode()),
            ("/sessions/" + "0" * 32 + "/segment", b"{}"),
            (f"/sessions/{sid}/keyframe", b"not an envelope"),
            (f"/sessions/{sid}/keyframe", wire.MAGIC + b"\x00\x00\x00\x05{bad}"),
            (f"/sessions/{sid}/keyframe", wire.pack(np.ones((3, 3), bool), {"segment": "t", "slice": k, "box": [0, 0, 9, 9]})),
            (f"/sessions/{sid}/keyframe", wire.pack(np.ones((3, 3), bool), {"segment": "t", "slice": k, "box": [0, 0, 3]})),
            (f"/sessions/{sid}/keyframe", wire.pack(np.ones((3, 3), bool), {"segment": "t", "slice": -1, "box": [0, 0, 3, 3]})),
        ]
        # An envelope that claims a huge array must not allocate it.
        huge = bytearray(wire.pack(np.zeros(4, np.uint8)))
        bad_json.append((f"/sessions/{sid}/keyframe", bytes(huge).replace(b"[4]", b"[99999,99999,99999]")))
        for path, body in bad_json:
            status, data = raw(srv.url, "POST", path, body)
            assert 400 <= status < 500, (path, body[:80], status, data[:200])
            message = json.loads(data)["error"]
            assert message and "Traceback" not in message and "File \"" not in message, message
        # Volume uploads that are not volumes.
        status, data = raw(srv.url, "POST", "/sessions", json.dumps({}).encode())
        fresh = json.loads(data)["session"]
        for body in (wire.pack(np.zeros((4, 4), np.int16), {"ijk_to_ras": np.eye(4).tolist()}),
                     wire.pack(np.zeros((2, 4, 4), np.int16), {"ijk_to_ras": [[1, 2]]}),
                     wire.pack(np.zeros((2, 4, 4), np.int16), {"ijk_to_ras": np.zeros((4, 4)).tolist()}),
                     wire.pack(np.zeros((2, 4, 4), np.int16), {"ijk_to_ras": np.eye(4).tolist(), "hash": "abc"})):
            status, data = raw(srv.url, "PUT", f"/sessions/{fresh}/volume", body, ctype="application/octet-stream")
            assert 400 <= status < 500 and json.loads(data)["error"], (status, data)
        # After all that, the session still works.
        r.segment("tumour", points=[[i, j, k]], space="ijk")
        assert r.labels("tumour").any()


def test_remote_engine_is_a_drop_in_for_the_local_engine(server, case):
    """The methods the Slicer Logic calls give the same answers through the server as in-process."""
    srv, _ = server
    image, (i, j, k), gt = case
    local = SegmentationEngine(image, "classical")
    with RemoteEngine(srv.url, image, api_key=KEY) as remote:
        for engine in (local, remote):
            view = engine.view("axial")
            engine.add_points("t", image.ijk_to_ras_points(np.array([[i, j, k]], float)))
            rows, cols = np.flatnonzero(view.slice(k - 1, gt).any(axis=1)), np.flatnonzero(view.slice(k - 1, gt).any(axis=0))
            c1, c2 = view.pixel_to_ras(k - 1, rows[0] - 2, cols[0] - 2), view.pixel_to_ras(k - 1, rows[-1] + 2, cols[-1] + 2)
            engine.add_box("t", c1, c2)
            engine.set_keyframe_mask("t", "axial", k - 2, view.slice(k - 2, gt))
        assert [(f.plane, f.slice_index, f.locked) for f in remote.keyframes("t")] == \
            [(f.plane, f.slice_index, f.locked) for f in local.keyframes("t")]
        a, b = local.run("t"), remote.run("t")
        np.testing.assert_array_equal(a.mask, b.mask)
        assert b.confidence.keys() == a.confidence.keys()
        assert b.confidence["axial"] == pytest.approx({n: round(v, 4) for n, v in a.confidence["axial"].items()}, abs=1e-4)
    local.close()
