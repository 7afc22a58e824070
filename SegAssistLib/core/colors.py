"""The one palette for new segments: every front end (CLI, batch, Slicer panel, labelmap reader) colours the
n-th new segment with :func:`segment_color`.

The colours are the first entries of Slicer's ``GenericAnatomyColors`` table, in the order Slicer's Segment
Editor gives them to new segments (tissue, bone, skin, connective tissue, blood, organ, mass, muscle, ...), so
a segmentation made by SegAssist looks like one made in Slicer.
"""

from __future__ import annotations

#: (R, G, B) in 0..255, GenericAnatomyColors labels 1..12.
GENERIC_ANATOMY_COLORS: tuple[tuple[int, int, int], ...] = (
    (128, 174, 128),  # tissue
    (241, 214, 145),  # bone
    (177, 122, 101),  # skin
    (111, 184, 210),  # connective tissue
    (216, 101, 79),  # blood
    (221, 130, 101),  # organ
    (144, 238, 144),  # mass
    (192, 104, 88),  # muscle
    (220, 245, 20),  # foreign object
    (78, 63, 0),  # waste
    (255, 250, 220),  # teeth
    (230, 220, 70),  # fat
)


def segment_color(index: int) -> tuple[float, float, float]:
    """Colour (0..1 floats) of the ``index``-th new segment (0-based), cycling through the palette."""
    r, g, b = GENERIC_ANATOMY_COLORS[int(index) % len(GENERIC_ANATOMY_COLORS)]
    return (round(r / 255, 4), round(g / 255, 4), round(b / 255, 4))
