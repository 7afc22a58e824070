"""How much of a written region looks like the tissue under the keyframes (``core/tissue_evidence``)."""

from __future__ import annotations

import numpy as np
import pytest

from SegAssistLib.core.tissue_evidence import TISSUE_SIGMAS, tissue_model, tissue_support


def test_tissue_support_counts_the_pixels_that_look_like_the_keyframes_tissue():
    rng = np.random.default_rng(0)
    image = rng.normal(0.0, 1.0, (40, 40))
    image[:, 20:] += 50.0  # another tissue on the right half
    keyframe = np.zeros((40, 40), bool)
    keyframe[5:35, 2:15] = True
    med, sigma = tissue_model([image, image], [keyframe, keyframe])
    assert abs(med) < 0.3 and 0.7 < sigma < 1.3  # the left tissue's median and spread
    assert tissue_support(image, keyframe, (med, sigma)) > 0.9
    half = np.zeros((40, 40), bool)
    half[5:35, 10:30] = True  # half on the keyframes' tissue, half on the other
    assert tissue_support(image, half, (med, sigma)) == pytest.approx(0.5, abs=0.05)
    assert TISSUE_SIGMAS > 0


def test_nothing_to_judge_and_uniform_tissue():
    image = np.zeros((10, 10))
    mask = np.zeros((10, 10), bool)
    mask[2:8, 2:8] = True
    assert tissue_model([image], [np.zeros((10, 10), bool)]) is None
    assert tissue_support(image, mask, None) is None
    model = tissue_model([image], [mask])
    assert model is not None and model[1] > 0  # a uniform region still has a (floored) spread
    assert tissue_support(image, mask, model) == 1.0
    assert tissue_support(image, np.zeros((10, 10), bool), model) is None
