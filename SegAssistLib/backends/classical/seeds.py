"""From a user's prompts on one slice to a region of interest and a seed image for a seeded algorithm.

Seeded methods (random walker, watershed, GrowCut) need object *and* background seeds, but a user often
gives a single positive click. This module fills the gap the way a person would:

* the region of interest (ROI) is the box plus a margin when a box is given; otherwise the extent of the
  pixels connected to the clicks that look like the clicked tissue (intensity within a few standard
  deviations of the clicked neighbourhood), plus a margin, so a small lesion gets a small ROI and a whole
  brain a large one. Working on the ROI rather than the whole slice keeps an interaction fast. Positive
  corrections far from the first click widen it (``spread_reach``): they show the object is larger than
  the first click's tissue suggested (a whole brain clicked in a ventricle), and a ROI border inside the
  object would put background seeds on the object;
* object seeds are disks at the positive clicks, limited to tissue similar to the click; the first click's
  disk has a radius of at least ``first_seed_mm``, so that a click in a textured object is not swamped by
  the background seeds. A box without clicks seeds what it holds and its surroundings do not: pixels of
  the box's core whose intensity is rare in a ring around the box (as GrabCut starts from "outside the box
  is background"), so a box around a whole brain, or around a lesion in two parts with normal tissue at
  the box's centre, seeds the object; only when no such pixels exist is the box centre the seed;
* background seeds are disks at the negative clicks, the ROI's border, the ring between the box and the
  ROI border, and pixels whose intensity is far from the clicked tissue's; when none of these exists (a
  whole-slice ROI where every intensity was clicked as object) the image border is background.

Seed images use :data:`classical_methods.OBJECT` / ``BACKGROUND`` / ``UNKNOWN`` so the same seeds can be
handed to any method, including Slicer's GrowCut in the benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from SegAssistLib.backends.classical.methods import BACKGROUND, OBJECT, UNKNOWN
from SegAssistLib.backends.classical.stamps import (
    disk as _disk, in_intervals as _in_intervals, local_distance_mm as _local_distance_mm, stamp as _stamp,
    window as _window,
)
from SegAssistLib.errors import PromptError
from SegAssistLib.core.prompts import SlicePrompt


@dataclass
class SeedOptions:
    """Tunable constants of the seed builder (defaults chosen with the simulated-user benchmark)."""

    click_radius_mm: float = 1.5  # object/background disk drawn at each click
    # A pixel "looks like the clicked tissue" within this many std devs. Chosen on the development set's
    # tuning half (docs/BENCHMARKS.md): Dice@1 / 3D click/3 through the engine 0.576 / 0.575 at 1.0, 0.584 /
    # 0.577 at 1.25, 0.590 / 0.581 at 1.5, 0.580 / 0.569 at 2.0, 0.564 / 0.564 at 2.5 (the old value, chosen on
    # lung2 and brain1).
    similar_sigmas: float = 1.5
    far_sigmas: float = 5.0  # a pixel becomes a background seed beyond this many std devs (0 = off)
    margin_mm: float = 10.0  # minimum margin around the estimated extent
    margin_fraction: float = 0.15  # margin as a fraction of the estimated extent
    min_roi_mm: float = 30.0  # the ROI is at least this wide
    smoothing_mm: float = 1.0  # Gaussian smoothing before the intensity statistics
    seed_fraction: float = 0.5  # object seed radius as a fraction of the click's distance to dissimilar tissue
    correction_radius_mm: float = 3.0  # cap on the object seed of every positive click after the first
    reach: float = 2.0  # the ROI extends this many such distances from each positive click
    correction_reach_mm: float = 6.0  # ... but at most this far from a correction click
    spread_reach: float = 1.5  # the ROI reaches this many times the farthest positive click's distance
    first_seed_mm: float = 2.5  # minimum radius of the first positive click's object seed (within similar tissue)
    box_ring: bool = True  # with a box alone, seed the object where the box holds tissue rare around it
    box_core_fraction: float = 0.15  # ... looking only this far (fraction of the box size) inside the box edge
    box_rare_fraction: float = 0.02  # ... "rare": under this fraction of the ring's pixels have that intensity
    box_only_outside: bool = True  # with a box alone, background seeds only outside it (no "far" pixels inside)
    single_click_reach: float = 3.0  # one click alone: background beyond this many times its distance to an edge (0 = off)
    single_click_min_mm: float = 6.0  # ... but never closer than this to the click
    edge_percentile: float = 90.0  # "an edge": gradient above this percentile of the window around the click
    edge_window_mm: float = 20.0  # ... a window of this half-width
    # Negative clicks all around the click (no angular gap wider than this, degrees) say where the object
    # ends, and replace the single-click bound (0 = the bound always applies).
    enclosing_gap_deg: float = 90.0
    # After the seeded method, move the boundary by at most a pixel to the nearer tissue (boundary.py).
    # Tuning half (docs/BENCHMARKS.md): Dice@1 / Dice@3 / 3D click/3 0.590 / 0.709 / 0.596 -> 0.594 / 0.725 / 0.603.
    snap_boundary: bool = True


@dataclass
class SliceSeeds:
    """A region of interest of one slice and the seeds inside it."""

    roi: tuple[slice, slice]  # rows, cols of the full slice
    seeds: np.ndarray  # int8 (roi rows, roi cols): UNKNOWN / OBJECT / BACKGROUND
    object_points: np.ndarray  # (N, 2) positive clicks in ROI pixel coordinates (for component filtering)


def _robust_spread(image: np.ndarray) -> float:
    lo, hi = np.percentile(image, (1, 99))
    return float(hi - lo) or 1.0


def _unlike_surroundings(smooth: np.ndarray, box, spacing: np.ndarray, floor: float, opt: "SeedOptions") -> np.ndarray | None:
    """Pixels of the box's core whose intensity is rare in a ring around the box, or None when there are
    too few: with a box alone, the object is what the box holds and its surroundings do not."""
    nr, nc = smooth.shape
    r0, c0, r1, c1 = (int(round(v)) for v in box)
    width = np.maximum(np.ceil(opt.margin_mm / spacing), 2).astype(int)
    a0, b0 = max(r0 - width[0], 0), max(c0 - width[1], 0)
    a1, b1 = min(r1 + width[0] + 1, nr), min(c1 + width[1] + 1, nc)
    ring = np.zeros(smooth.shape, dtype=bool)
    ring[a0:a1, b0:b1] = True
    ring[r0:r1 + 1, c0:c1 + 1] = False
    if ring.sum() < 20:
        return None
    core = np.zeros(smooth.shape, dtype=bool)
    mr = int((r1 - r0) * opt.box_core_fraction)
    mc = int((c1 - c0) * opt.box_core_fraction)
    core[r0 + mr:r1 - mr + 1, c0 + mc:c1 - mc + 1] = True
    values = smooth[ring]
    lo_v, hi_v = min(values.min(), smooth[core].min()), max(values.max(), smooth[core].max())
    # A bin width of at least 1/2000 of the range: a slice whose 1st-99th percentile spread is tiny (mostly
    # air or zero padding) would otherwise ask for billions of bins.
    floor = max(floor, float(hi_v - lo_v) / 2000.0, 1e-6)
    edges = np.arange(lo_v - floor, hi_v + 2 * floor, floor)
    hist, _ = np.histogram(values, bins=edges)
    density = np.convolve(hist, np.ones(5), mode="same") / len(values)
    idx = np.clip(np.digitize(smooth[core], edges) - 1, 0, len(density) - 1)
    rare = np.zeros(smooth.shape, dtype=bool)
    rare[core] = density[idx] < opt.box_rare_fraction
    rare = ndimage.binary_opening(rare)
    if rare.sum() < max(10, 0.02 * core.sum()):
        return None
    return rare


def single_click_limit_mm(smooth: np.ndarray, p: np.ndarray, spacing: np.ndarray, opt: "SeedOptions") -> float:
    """How far (mm) a single click's region may reach: ``single_click_reach`` times the distance from the
    click to the nearest edge (gradient above the ``edge_percentile`` of a window around the click), and
    at least ``single_click_min_mm``. The click is at the structure's centre, so that distance is about
    its inner radius whatever the tissue around it looks like."""
    half = np.ceil(opt.edge_window_mm / spacing).astype(int)
    win = _window(smooth.shape, p, half)
    patch = smooth[win]
    spread = float(np.percentile(patch, 99) - np.percentile(patch, 1)) or 1.0
    grad = ndimage.gaussian_gradient_magnitude(patch / spread, sigma=np.maximum(1.0 / spacing, 0.5))
    edges = grad > np.percentile(grad, opt.edge_percentile)
    if not edges.any():
        return float(np.max(half * spacing))
    dist = ndimage.distance_transform_edt(~edges, sampling=spacing)
    r, c = np.clip(np.rint(p).astype(int) - [win[0].start, win[1].start], 0, np.asarray(patch.shape) - 1)
    return max(opt.single_click_reach * float(dist[r, c]), opt.single_click_min_mm)


def negatives_enclose(p: np.ndarray, neg: np.ndarray, spacing: np.ndarray, max_gap_deg: float) -> bool:
    """True when the negative clicks ``neg`` surround the click ``p``: seen from ``p``, no angular gap
    between them is wider than ``max_gap_deg``. A user who outlined the background around the object (a
    ring of negative clicks, as Slicer's Grow from seeds asks for) has said where the object ends; one
    negative correction beside a leak has not."""
    if max_gap_deg <= 0 or len(neg) < 3:
        return False
    d = (np.asarray(neg, float) - p) * spacing
    angles = np.sort(np.degrees(np.arctan2(d[:, 0], d[:, 1])))
    gaps = np.diff(np.r_[angles, angles[0] + 360.0])
    return bool(gaps.max() <= max_gap_deg)


def build_seeds(
    image: np.ndarray, prompt: SlicePrompt, pixel_spacing: tuple[float, float], options: SeedOptions | None = None
) -> SliceSeeds:
    """ROI and seeds for ``prompt`` on the display-oriented 2D ``image`` (pixel size ``pixel_spacing`` mm).

    Raises a :class:`PromptError` for an empty prompt, points outside the slice, or negative clicks alone.
    """
    opt = options or SeedOptions()
    image = np.asarray(image, dtype=np.float32)
    nr, nc = image.shape
    if prompt.is_empty:
        raise PromptError("No prompt given: place at least one positive point or a box on the slice.")
    prompt.check_inside(image.shape)
    pos = prompt.points[prompt.labels == 1]
    neg = prompt.points[prompt.labels == 0]
    if len(pos) == 0 and prompt.box is None and prompt.mask is None:
        raise PromptError("Only negative points were given: add a positive point inside the object, or a box.")
    spacing = np.asarray(pixel_spacing, dtype=float)
    click_r = np.maximum(opt.click_radius_mm / spacing, 1.0)
    smooth = ndimage.gaussian_filter(image, sigma=np.maximum(opt.smoothing_mm / spacing, 0.5))

    # Intensity statistics of the clicked tissue (positive clicks, else the prompt mask, else box centre).
    sample = None  # (positive clicks: each click's own neighbourhood, below)
    if not len(pos) and prompt.mask is not None and prompt.mask.any():
        sample = prompt.mask
    floor = 0.04 * _robust_spread(smooth)
    box_tissue = None
    if not len(pos) and (prompt.mask is None or not prompt.mask.any()):
        r0, c0, r1, c1 = prompt.box
        box_tissue = _unlike_surroundings(smooth, prompt.box, spacing, floor, opt) if opt.box_ring else None
        sample = box_tissue if box_tissue is not None else _disk(
            image.shape, np.array([[(r0 + r1) / 2, (c0 + c1) / 2]]), np.maximum([(r1 - r0) / 6, (c1 - c0) / 6], 1.0))
    # One (median, spread) per positive click: a heterogeneous object (a tumour's rim and core) is
    # clicked once per tissue, and each click vouches for its own tissue. Computed in a small window per
    # click, and every full-slice test below is one pass over the union of the clicks' intensity ranges.
    sample_r = np.maximum(3.0 / spacing, 2.0)
    if len(pos):
        stats = []
        for p in pos:
            win = _window(image.shape, p, sample_r + 1)
            g = _stamp(win, p, sample_r)
            v = smooth[win][g]
            stats.append((float(np.median(v)), max(float(v.std()), floor)))
    else:
        stats = [(float(np.median(smooth[sample])), max(float(smooth[sample].std()), floor))]
    similar = _in_intervals(smooth, [(mu - opt.similar_sigmas * sg, mu + opt.similar_sigmas * sg) for mu, sg in stats])

    # Object seeds: around each positive click, a disk of half the distance to the nearest pixel that no
    # longer looks like the clicked tissue (a single click then seeds a fair part of a homogeneous object,
    # which seeded methods need: a one-pixel seed is swamped by a large background seed set).
    object_seed = np.zeros(image.shape, dtype=bool)
    local_mm = np.zeros(len(pos))
    if len(pos):
        # Corrections only need distances up to their caps: search a window of that reach around them.
        corr_half = np.ceil(max(opt.correction_reach_mm / max(opt.reach, 1e-6), opt.correction_radius_mm,
                                opt.click_radius_mm) * 1.5 / spacing) + 2
        for i, (p, (mu, sigma)) in enumerate(zip(pos, stats)):
            lo_v, hi_v = mu - opt.similar_sigmas * sigma, mu + opt.similar_sigmas * sigma
            if i == 0:
                own = (smooth >= lo_v) & (smooth <= hi_v)
                local_mm[i] = _local_distance_mm(own, p, spacing, None, image.shape)
            else:
                win = _window(image.shape, p, corr_half)
                own_w = (smooth[win] >= lo_v) & (smooth[win] <= hi_v)
                local_mm[i] = _local_distance_mm(own_w, p, spacing, win, image.shape)
            radius_mm = max(opt.click_radius_mm, opt.seed_fraction * local_mm[i])
            if i == 0:
                # The first click is at the object's centre. In heterogeneous tissue (a tumour's texture)
                # the nearest dissimilar pixel is ~1-3 mm away and the seed would be a few pixels: the
                # background floods the object through its internal edges before so small a seed can
                # grow (watershed kept 14 px of an 842 px brain1 tumour). A seed radius of at least
                # ``first_seed_mm``, still limited to similar tissue, survives the internal edges.
                radius_mm = max(radius_mm, opt.first_seed_mm)
            if i > 0:  # a correction click fixes a detail near the boundary: keep its seed small
                radius_mm = min(radius_mm, opt.correction_radius_mm)
            radius = np.maximum(radius_mm / spacing, 1.0)
            win = _window(image.shape, p, np.maximum(radius, click_r) + 1)
            own_w = (smooth[win] >= lo_v) & (smooth[win] <= hi_v)
            stamp = _stamp(win, p, radius) & (own_w | _stamp(win, p, click_r))
            object_seed[win] |= stamp

    # Region of interest.
    if prompt.box is not None:
        r0, c0, r1, c1 = prompt.box
        lo = np.array([r0, c0])
        hi = np.array([r1, c1])
    else:
        pts = pos if len(pos) else np.argwhere(prompt.mask)
        lo, hi = pts.min(axis=0).astype(float), pts.max(axis=0).astype(float)
        if len(pos):
            # The object probably extends a few local radii from the clicks, and not past the connected
            # pixels that look like it.
            reach_mm = opt.reach * local_mm
            reach_mm[1:] = np.minimum(reach_mm[1:], opt.correction_reach_mm)  # corrections are local
            half = np.maximum(reach_mm, opt.min_roi_mm / 2)[:, None] / spacing[None, :]
            reach_lo, reach_hi = (pos - half).min(axis=0), (pos + half).max(axis=0)
            lab, _ = ndimage.label(similar)
            ids = {int(lab[r, c]) for r, c in np.clip(np.rint(pos).astype(int), 0, [nr - 1, nc - 1])} - {0}
            if ids:
                region = np.isin(lab, list(ids))
                rows = np.flatnonzero(region.any(axis=1))
                cols = np.flatnonzero(region.any(axis=0))
                reach_lo = np.maximum(reach_lo, [rows[0], cols[0]])
                reach_hi = np.minimum(reach_hi, [rows[-1], cols[-1]])
            lo = np.minimum(lo, reach_lo)
            hi = np.maximum(hi, reach_hi)
            if len(pos) > 1 and opt.spread_reach > 0:
                # A positive correction far from the first click says the object is at least that big
                # around it: a ROI border inside the object would seed background on the object itself.
                far_mm = float(np.max(np.hypot(*((pos[1:] - pos[0]) * spacing).T)))
                half = opt.spread_reach * far_mm / spacing
                lo = np.minimum(lo, pos[0] - half)
                hi = np.maximum(hi, pos[0] + half)
    if len(neg):  # negative clicks must be inside the ROI to count
        lo = np.minimum(lo, neg.min(axis=0))
        hi = np.maximum(hi, neg.max(axis=0))
    extent_mm = (hi - lo) * spacing
    margin_mm = np.maximum(opt.margin_mm, opt.margin_fraction * extent_mm)
    margin_mm = np.maximum(margin_mm, (opt.min_roi_mm - extent_mm) / 2)
    margin = np.ceil(margin_mm / spacing)
    a = np.clip(np.floor(lo - margin), 0, [nr - 1, nc - 1]).astype(int)
    b = np.clip(np.ceil(hi + margin) + 1, 1, [nr, nc]).astype(int)
    roi = (slice(a[0], b[0]), slice(a[1], b[1]))
    shape = (b[0] - a[0], b[1] - a[1])
    offset = a.astype(float)

    seeds = np.full(shape, UNKNOWN, dtype=np.int8)
    # Background: ROI border (where it is not the image border, the object may touch the image edge there).
    border = np.zeros(shape, dtype=bool)
    if a[0] > 0:
        border[0, :] = True
    if b[0] < nr:
        border[-1, :] = True
    if a[1] > 0:
        border[:, 0] = True
    if b[1] < nc:
        border[:, -1] = True
    seeds[border] = BACKGROUND
    if prompt.box is not None:
        r0, c0, r1, c1 = np.asarray(prompt.box) - np.r_[offset, offset]
        rr, cc = np.ogrid[: shape[0], : shape[1]]
        outside = (rr < r0) | (rr > r1) | (cc < c0) | (cc > c1)
        seeds[outside] = BACKGROUND
    # Far from every clicked tissue. A box alone names no tissue (its seed is a guess), and its far pixels
    # may be the object's other parts: there the box's outside is the background.
    if opt.far_sigmas > 0 and (len(pos) or prompt.mask is not None or not opt.box_only_outside):
        far = ~_in_intervals(smooth[roi], [(mu - opt.far_sigmas * sg, mu + opt.far_sigmas * sg) for mu, sg in stats])
        seeds[far] = BACKGROUND
    seeds[_disk(shape, neg - offset, click_r)] = BACKGROUND
    if (len(pos) == 1 and prompt.box is None and prompt.mask is None and opt.single_click_reach > 0
            and not negatives_enclose(pos[0], neg, spacing, opt.enclosing_gap_deg)):
        # A single click says "this structure, around here": its size is bounded by the nearest image
        # edge around the click. Without this bound a click on a small or weak-boundary cross-section
        # floods similar neighbouring tissue up to the ROI border (issue 14: Dice 0.02 on end slices).
        # Negative clicks all around it say where the object ends instead.
        limit_mm = single_click_limit_mm(smooth, pos[0], spacing, opt)
        rr, cc = np.ogrid[: shape[0], : shape[1]]
        p = pos[0] - offset
        beyond = ((rr - p[0]) * spacing[0]) ** 2 + ((cc - p[1]) * spacing[1]) ** 2 > limit_mm ** 2
        seeds[beyond & (seeds != OBJECT)] = BACKGROUND
    if prompt.mask is not None and prompt.mask.any():
        seeds[prompt.mask[roi]] = OBJECT
    if len(pos):
        object_points = pos - offset
    elif prompt.mask is not None and prompt.mask.any():
        object_points = np.argwhere(prompt.mask[roi]).astype(float)
    elif box_tissue is not None:
        object_points = np.argwhere(box_tissue[roi]).astype(float)
    else:
        r0, c0, r1, c1 = prompt.box
        object_points = np.array([[(r0 + r1) / 2, (c0 + c1) / 2]]) - offset
        click_r = np.maximum([(r1 - r0) / 8, (c1 - c0) / 8], 1.0)
    if len(pos):
        seeds[object_seed[roi]] = OBJECT
    elif box_tissue is not None:
        seeds[box_tissue[roi]] = OBJECT
    elif prompt.mask is None:
        seeds[_disk(shape, object_points, click_r)] = OBJECT
    if not (seeds == BACKGROUND).any():
        # The ROI is the whole slice and every intensity was clicked as object (or the only negative click
        # lies under an object seed): without a background seed a seeded method has nothing to compete
        # with, so the image border is taken as background where it is not an object seed.
        edge = np.zeros(shape, dtype=bool)
        edge[[0, -1], :] = True
        edge[:, [0, -1]] = True
        seeds[edge & (seeds != OBJECT)] = BACKGROUND
    return SliceSeeds(roi=roi, seeds=seeds, object_points=object_points)


def keep_prompted_components(mask: np.ndarray, object_points: np.ndarray) -> np.ndarray:
    """Keep the connected parts of ``mask`` that contain an object seed point (or, if none is hit, the
    largest part): stray blobs elsewhere in the ROI are not what the user clicked."""
    lab, n = ndimage.label(mask)
    if n <= 1:
        return mask
    h, w = mask.shape
    ids = set()
    for r, c in np.rint(object_points).astype(int):
        if 0 <= r < h and 0 <= c < w and lab[r, c]:
            ids.add(int(lab[r, c]))
    if not ids:
        sizes = np.bincount(lab.ravel())[1:]
        ids = {int(np.argmax(sizes)) + 1}
    return np.isin(lab, list(ids))
