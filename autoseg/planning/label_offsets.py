"""Do the labels sit a fixed sub-voxel shift away from the image's edges along an axis?

Mirroring an axis teaches the network that a label edge lies on the image edge exactly as often shifted one way
as the other. ISBI 2012's membranes are drawn about half a pixel above the dark membrane in the image (rows axis);
mirrored rows show the network that shift upside down, it learns the average, and every horizontal membrane is
predicted half a pixel off. Anatomy breaks mirror symmetry too (the hippocampus has different neighbours on each
side), but there the two edge directions differ in shape or strength, not by a shift, and mirroring helps; so
an axis is flagged only when a pure shift makes its two edge directions agree.

Per axis, the signed image derivative is averaged around every rising (background to foreground) and every
falling label edge. If labelling commuted with mirroring, the falling profile would be the rising one reversed
and negated. The lag at which the two agree best is twice the labels' shift.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autoseg.data.normalize import normalize_image
from autoseg.schema.plans import ChannelNormalization

RADIUS = 5  # voxels either side of an edge in each profile
MAX_LAG = 4  # lags searched (lag = 2 x shift)
EDGES_PER_AXIS = 20_000  # per case and direction, sampled: enough for a smooth profile, cheap on big volumes
# Flag an axis when the best lag is a clear interior peak giving this shift, the shifted profiles match at least
# this well and better than unshifted by this margin, both directions' edges are about as strong (a shift keeps
# shape and strength; anatomy changes them), from this many edges per direction.
MIN_SHIFT = 0.25
MIN_MATCH = 0.85
MIN_GAIN = 0.05
MIN_STRENGTH_RATIO = 0.7
MIN_EDGES = 1000


def edge_profiles(image: np.ndarray, foreground: np.ndarray, rng: np.random.Generator) -> list[dict[str, Any]]:
    """Per spatial axis of `foreground` (image: channels first): summed derivative profiles (channels x
    2*RADIUS+1) around rising and falling edges, and how many edges were summed. Each channel is z-scored first,
    so that cases with different intensity scales weigh alike in the dataset's sums."""
    image = normalize_image(image, [ChannelNormalization("zscore")] * image.shape[0], None)
    labels = foreground.astype(np.int8)
    out = []
    for axis in range(foreground.ndim):
        if foreground.shape[axis] < 2:
            out.append({"rising": None, "falling": None, "edges": [0, 0]})
            continue
        steps = np.diff(labels, axis=axis)
        derivative = np.diff(image, axis=axis + 1)  # on the same lattice as the label edges
        entry: dict[str, Any] = {"edges": []}
        for name, value in (("rising", 1), ("falling", -1)):
            points = np.argwhere(steps == value)
            if len(points) > EDGES_PER_AXIS:
                points = points[rng.choice(len(points), EDGES_PER_AXIS, replace=False)]
            entry[name] = _profile(derivative, points, axis).tolist()
            entry["edges"].append(int(len(points)))
        out.append(entry)
    return out


def _profile(derivative: np.ndarray, points: np.ndarray, axis: int) -> np.ndarray:
    channels = derivative.shape[0]
    total = np.zeros((channels, 2 * RADIUS + 1))
    for k in range(-RADIUS, RADIUS + 1):
        moved = points.copy()
        moved[:, axis] += k
        moved = moved[(moved[:, axis] >= 0) & (moved[:, axis] < derivative.shape[axis + 1])]
        total[:, k + RADIUS] = derivative[(slice(None), *moved.T)].sum(axis=1)
    return total


def combine(per_case: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Sum the cases' profiles per axis and judge each axis (see `judge`)."""
    axes = len(per_case[0]) if per_case else 0
    result = []
    for axis in range(axes):
        entries = [case[axis] for case in per_case if case[axis]["rising"] is not None]
        edges = [sum(e["edges"][i] for e in entries) for i in (0, 1)]
        if not entries or min(edges) == 0:
            result.append({"axis": axis, "edges": edges, "shift": 0.0, "match": None, "shifted_labels": False})
            continue
        rising = np.sum([e["rising"] for e in entries], axis=0) / edges[0]
        falling = np.sum([e["falling"] for e in entries], axis=0) / edges[1]
        result.append({"axis": axis, "edges": edges, **judge(rising, falling, min(edges))})
    return result


def judge(rising: np.ndarray, falling: np.ndarray, edges: int) -> dict[str, Any]:
    """The shift at which the falling profile best matches the mirrored rising one, how well it matches there
    and unshifted (normalised correlation), and whether that amounts to labels shifted along this axis."""
    mirrored = -np.asarray(rising)[:, ::-1]
    falling = np.asarray(falling)
    lags = np.arange(-MAX_LAG, MAX_LAG + 1)
    match = np.array([_correlation(falling, mirrored, int(lag)) for lag in lags])
    best = int(np.argmax(match))
    lag = float(lags[best])
    interior = 0 < best < len(lags) - 1
    if interior:
        a, b, c = match[best - 1 : best + 2]
        curvature = a - 2 * b + c
        if curvature < 0:
            lag += 0.5 * (a - c) / curvature
    shift = lag / 2
    unshifted = float(match[MAX_LAG])
    strengths = sorted([float(np.linalg.norm(falling)), float(np.linalg.norm(mirrored))])
    strength_ratio = strengths[0] / strengths[1] if strengths[1] > 0 else 0.0
    flagged = bool(
        interior
        and abs(shift) >= MIN_SHIFT
        and match[best] >= MIN_MATCH
        and match[best] >= unshifted + MIN_GAIN
        and strength_ratio >= MIN_STRENGTH_RATIO
        and edges >= MIN_EDGES
    )
    return {
        "shift": round(float(shift), 3),
        "match": round(float(match[best]), 3),
        "match_unshifted": round(unshifted, 3),
        "strength_ratio": round(strength_ratio, 3),
        "shifted_labels": flagged,
    }


def _correlation(a: np.ndarray, b: np.ndarray, lag: int) -> float:
    """Normalised correlation of a[k] with b[k - lag] over the overlap, all channels together."""
    n = a.shape[1]
    a_part = a[:, max(0, lag) : n + min(0, lag)]
    b_part = b[:, max(0, -lag) : n - max(0, lag)]
    denominator = np.linalg.norm(a_part) * np.linalg.norm(b_part)
    return float(np.sum(a_part * b_part) / denominator) if denominator > 0 else 0.0
