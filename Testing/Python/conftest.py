"""Shared pytest fixtures: the real data in ../shared/data and volumes read from it.

Tests that need ../shared skip with a clear reason when it is absent (a user's machine has none).
Fixtures for Slicer's real MRML scene live in ``slicer_scene.py`` (loaded below).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("SEGASSIST_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
PYRADIOMICS = SHARED_DATA / "pyradiomics"
STARDIST = SHARED_DATA / "stardist"

pytest_plugins = [p for p in ("slicer_scene",) if (Path(__file__).parent / f"{p}.py").exists()]


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real test data not found at {path} (tests read ../shared/data beside the repository)")
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return _need(SHARED_DATA)


@pytest.fixture(scope="session")
def pyradiomics_dir() -> Path:
    return _need(PYRADIOMICS)


@pytest.fixture(scope="session")
def stardist_dir() -> Path:
    return _need(STARDIST)


def _case(name: str, kind: str) -> Path:
    return _need(PYRADIOMICS / f"{name}_{kind}.nrrd")


@pytest.fixture(scope="session")
def lung2():
    """(image Volume, label Volume) of pyradiomics lung2 (CT, 512x512x61, 0.63x0.63x5 mm)."""
    from SegAssistLib.io.volumes import read_volume

    return read_volume(_case("lung2", "image")), read_volume(_case("lung2", "label"))


@pytest.fixture(scope="session")
def brain1():
    """(image Volume, label Volume) of pyradiomics brain1 (MR, 256x256x25, flipped j axis)."""
    from SegAssistLib.io.volumes import read_volume

    return read_volume(_case("brain1", "image")), read_volume(_case("brain1", "label"))


@pytest.fixture(scope="session")
def case_path():
    """Function (name, 'image'|'label') -> path of a pyradiomics case, skipping when absent."""
    return _case


def _nifti_to_volume(img, array, metadata=None):
    """A nibabel image's array (i, j, k) as a (k, j, i) Volume; NIfTI affines are RAS already."""
    from SegAssistLib.volume import Volume

    return Volume(np.ascontiguousarray(np.asarray(array).transpose(2, 1, 0)), img.affine, metadata or {})


@pytest.fixture(scope="session")
def mni152_brain_mask():
    """nilearn's MNI152 brain mask (1 mm, shipped with nilearn) as a bool (k, j, i) Volume."""
    datasets = pytest.importorskip("nilearn.datasets")
    img = datasets.load_mni152_brain_mask(resolution=1)
    return _nifti_to_volume(img, img.get_fdata() > 0.5)


@pytest.fixture(scope="session")
def mni152_t1():
    """nilearn's MNI152 2009 T1 template (1 mm, skull-stripped) as a float32 (k, j, i) Volume."""
    datasets = pytest.importorskip("nilearn.datasets")
    img = datasets.load_mni152_template(resolution=1)
    return _nifti_to_volume(img, np.asarray(img.get_fdata(), np.float32))
