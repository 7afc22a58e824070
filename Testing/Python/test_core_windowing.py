"""Intensity windows: CT presets on real HU and percentile windows on real MR."""

import numpy as np
import pytest

from SegAssistLib.core.windowing import CT_PRESETS, auto_window, get_window


def test_ct_presets_on_lung2(lung2):
    vol, label = lung2
    lung = CT_PRESETS["lung"].to_uint8(vol.array)
    soft = CT_PRESETS["soft_tissue"].to_uint8(vol.array)
    assert lung.dtype == np.uint8 and lung.shape == vol.shape
    air = vol.array < -950
    parenchyma = (vol.array > -900) & (vol.array < -500)
    # Lung parenchyma (-900..-500 HU) stands out from air in the lung window and is black in soft tissue.
    assert lung[parenchyma].mean() > lung[air].mean() + 30
    assert soft[parenchyma].max() == 0 and soft[air].max() == 0
    # Width/level arithmetic: -600 HU is mid-grey in the lung window (level -600).
    assert CT_PRESETS["lung"].to_uint8(np.array([-600])) == 128
    f = get_window("bone").to_float(vol.array)
    assert f.min() >= 0 and f.max() <= 1


def test_auto_window_on_mr(brain1):
    vol, _ = brain1
    w = auto_window(vol.array)
    lo, hi = np.percentile(vol.array, [1, 99])
    assert (w.low, w.high) == pytest.approx((lo, hi))
    out = w.to_float(vol.array)
    assert 0.005 < (out == 1).mean() < 0.02  # about 1 % saturates at the top


def test_bad_window():
    with pytest.raises(ValueError, match="Unknown window"):
        get_window("liver-ish")
