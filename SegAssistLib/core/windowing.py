"""Intensity windowing: map raw voxel values (HU for CT, arbitrary units for MR) to uint8 or float 0..1.

Models and overviews see windowed intensities. CT uses fixed presets (Slicer's and radiology's usual
width/level pairs); MR has no absolute scale, so its window comes from percentiles of the volume.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from SegAssistLib.errors import OptionError


@dataclass(frozen=True)
class Window:
    """A display window: values below ``low`` map to 0, above ``high`` to 1 (or 255)."""

    low: float
    high: float

    def __post_init__(self) -> None:
        if not self.high > self.low:
            raise OptionError(f"Window high ({self.high}) must exceed low ({self.low}).")

    @classmethod
    def from_width_level(cls, width: float, level: float) -> "Window":
        return cls(level - width / 2.0, level + width / 2.0)

    @property
    def width(self) -> float:
        return self.high - self.low

    @property
    def level(self) -> float:
        return (self.high + self.low) / 2.0

    def to_float(self, values: np.ndarray) -> np.ndarray:
        """Windowed values as float32 in [0, 1]."""
        out = (np.asarray(values, dtype=np.float32) - np.float32(self.low)) / np.float32(self.width)
        return np.clip(out, 0.0, 1.0, out=out)

    def to_uint8(self, values: np.ndarray) -> np.ndarray:
        """Windowed values as uint8 in [0, 255] (rounded)."""
        return np.rint(self.to_float(values) * 255.0).astype(np.uint8)


#: CT presets as (width, level) in Hounsfield units.
CT_PRESETS: dict[str, Window] = {
    "soft_tissue": Window.from_width_level(400, 40),
    "lung": Window.from_width_level(1500, -600),
    "bone": Window.from_width_level(1800, 400),
    "brain": Window.from_width_level(80, 40),
}


def auto_window(values: np.ndarray, lower_percentile: float = 1.0, upper_percentile: float = 99.0,
                max_samples: int = 2_000_000) -> Window:
    """A window from percentiles of ``values`` (the usual choice for MR). Large arrays are subsampled
    with a fixed stride, so the result is deterministic and cheap."""
    flat = np.asarray(values).reshape(-1)
    if flat.size > max_samples:
        flat = flat[:: int(np.ceil(flat.size / max_samples))]
    low, high = np.percentile(flat, [lower_percentile, upper_percentile])
    if high <= low:  # constant image: any window shows it; avoid division by zero
        high = low + 1.0
    return Window(float(low), float(high))


def get_window(name_or_window: str | Window | tuple[float, float] | None, values: np.ndarray | None = None) -> Window:
    """Resolve a preset name, ``"auto"``/None (percentiles of ``values``), a (low, high) pair or a Window."""
    if isinstance(name_or_window, Window):
        return name_or_window
    if isinstance(name_or_window, tuple):
        return Window(*name_or_window)
    if name_or_window in (None, "auto"):
        if values is None:
            raise OptionError("An automatic window needs the intensities to compute it from.")
        return auto_window(values)
    key = str(name_or_window).lower().replace(" ", "_").replace("-", "_")
    if key not in CT_PRESETS:
        raise OptionError(f"Unknown window {name_or_window!r}: use 'auto', one of {sorted(CT_PRESETS)}, or (low, high).")
    return CT_PRESETS[key]


def default_window(values: np.ndarray, modality: str | None = None) -> Window:
    """Soft-tissue window for CT (when ``modality`` says so or values look like HU), else percentiles."""
    if (modality or "").upper() == "CT":
        return CT_PRESETS["soft_tissue"]
    return auto_window(values)
