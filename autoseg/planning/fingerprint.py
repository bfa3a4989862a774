"""The dataset fingerprint: what the data is, measured once, from which every planning rule derives.

Per case: spacing, shape, shape after cropping to the non-background region (zero, or a constant found on the
image border: data/nonzero.py), the background value per channel, class voxel counts, a seeded sample
of foreground intensities per channel, and image derivative profiles around label edges. Dataset level: medians
and percentiles of the above, how similar neighbouring cases are (consecutive slices of one stack must not be
split at random), and along which axes the labels sit shifted from the image edges (label_offsets.py).
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
from skimage.transform import downscale_local_mean
from tqdm import tqdm

from autoseg.data.dataset import Case, DatasetInfo, read_case
from autoseg.data.file_stamps import source_stamps
from autoseg.data.image_io import read_label
from autoseg.data.nonzero import channel_backgrounds, nonzero_bbox
from autoseg.planning.label_offsets import combine, edge_profiles
from autoseg.planning.normalization import may_use_constant_background
from autoseg.planning.structure_extent import case_structure_extent, dataset_structure_extent

FINGERPRINT_VERSION = 5  # 2: label_edge_shift; 3: dataset_path, ignore_label and per-case file stamps;
#                           4: constant backgrounds; 5: structure extent
# Foreground voxels sampled per case and channel: enough for robust percentiles, small enough for big datasets.
SAMPLES_PER_CASE = 10_000


def case_fingerprint(case: Case, info: DatasetInfo, seed: int) -> dict[str, Any]:
    image, geometry = read_case(case, info)
    label, _ = read_label(case.label_file)
    # Every channel's constant is recorded; cropping uses those of channels whose normalisation can use them.
    background = channel_backgrounds(image, [True] * image.shape[0])
    usable = [v if may_use_constant_background(n) else None for v, n in zip(background, info.channel_names)]
    bbox = nonzero_bbox(image, background=usable)
    cropped_shape = [int(hi - lo) for lo, hi in bbox]
    foreground = label > 0
    rng = np.random.default_rng([seed, _stable_hash(case.case_id)])
    fg_values = image[:, foreground]
    if fg_values.shape[1] > SAMPLES_PER_CASE:
        fg_values = fg_values[:, rng.choice(fg_values.shape[1], SAMPLES_PER_CASE, replace=False)]
    counts = np.bincount(label.ravel().astype(np.int64), minlength=info.num_classes)
    return {
        "case_id": case.case_id,
        "files": source_stamps(case),
        "spacing": list(geometry.spacing),
        "shape": list(geometry.shape),
        "cropped_shape": cropped_shape,
        "crop_fraction": float(np.prod(cropped_shape) / max(1, np.prod(geometry.shape))),
        "background": background,
        "class_voxels": [int(c) for c in counts[: info.num_classes]],
        "foreground_samples": [ch.astype(np.float32) for ch in fg_values],
        "image_mean": [float(ch.mean()) for ch in image],
        "image_std": [float(ch.std()) for ch in image],
        "thumbnail": _thumbnail(image[0]),
        "edge_profiles": edge_profiles(image, foreground, rng),
        "structure_extent_mm": case_structure_extent(label, list(geometry.spacing), info.ignore_label),
    }


def compute_fingerprint(
    info: DatasetInfo, seed: int = 0, workers: int | None = None, progress: bool = True
) -> dict[str, Any]:
    workers = workers or min(2, os.cpu_count() or 1)
    cases = info.training
    if workers > 1 and len(cases) > 4:
        with ProcessPoolExecutor(workers) as pool:
            jobs = pool.map(case_fingerprint, cases, [info] * len(cases), [seed] * len(cases), chunksize=4)
            per_case = list(tqdm(jobs, total=len(cases), desc="fingerprint", disable=not progress))
    else:
        per_case = [case_fingerprint(c, info, seed) for c in tqdm(cases, desc="fingerprint", disable=not progress)]
    return summarise(per_case, info, seed)


def summarise(per_case: list[dict[str, Any]], info: DatasetInfo, seed: int) -> dict[str, Any]:
    spacings = np.array([c["spacing"] for c in per_case], dtype=float)
    shapes = np.array([c["shape"] for c in per_case], dtype=float)
    cropped = np.array([c["cropped_shape"] for c in per_case], dtype=float)
    class_voxels = np.array([c["class_voxels"] for c in per_case], dtype=float)
    channels = []
    for ch, name in enumerate(info.channel_names):
        values = np.concatenate([c["foreground_samples"][ch] for c in per_case]) if per_case else np.zeros(1)
        channels.append(_intensity_stats(name, values))
    for c in per_case:
        del c["foreground_samples"]
    thumbnails = [c.pop("thumbnail") for c in per_case]
    edge_shift = combine([c.pop("edge_profiles") for c in per_case])
    background = [
        _background_stats(name, [c["background"][ch] for c in per_case]) for ch, name in enumerate(info.channel_names)
    ]
    return {
        "version": FINGERPRINT_VERSION,
        "dataset": info.name,
        "dataset_path": str(info.root.resolve()),
        "seed": seed,
        "num_cases": len(per_case),
        "num_channels": info.num_channels,
        "channel_names": info.channel_names,
        "labels": info.labels,
        "ignore_label": info.ignore_label,
        "is_2d": bool(per_case) and all(c["shape"][0] == 1 for c in per_case),
        "median_spacing": np.median(spacings, 0).tolist(),
        "spacing_percentile_10": np.percentile(spacings, 10, axis=0).tolist(),
        "median_shape": np.median(shapes, 0).tolist(),
        "median_cropped_shape": np.median(cropped, 0).tolist(),
        "median_crop_fraction": float(np.median([c["crop_fraction"] for c in per_case])),
        "median_shape_mm": np.median(cropped * spacings, 0).tolist(),
        "class_fraction": (class_voxels.sum(0) / max(1.0, class_voxels.sum())).tolist(),
        "cases_with_class": (class_voxels > 0).sum(0).astype(int).tolist(),
        "foreground_intensity": channels,
        "background": background,
        "neighbour_similarity": neighbour_similarity(thumbnails),
        "structure_extent_mm": dataset_structure_extent(per_case),
        "label_edge_shift": edge_shift,
        "cases": per_case,
    }


def fingerprint_matches(old: dict[str, Any], info: DatasetInfo, seed: int) -> bool:
    """True when `old` measured exactly this dataset (same folder, labels, channels, files unchanged) with this
    seed, so a re-plan may reuse it instead of reading every case again."""
    same_setup = (
        old.get("version") == FINGERPRINT_VERSION
        and old.get("seed") == seed
        and old.get("dataset_path") == str(info.root.resolve())
        and old.get("labels") == info.labels
        and old.get("ignore_label") == info.ignore_label
        and old.get("channel_names") == info.channel_names
    )
    if not same_setup:
        return False
    cases = old.get("cases", [])
    return [c.get("case_id") for c in cases] == [c.case_id for c in info.training] and all(
        c.get("files") == source_stamps(case) for c, case in zip(cases, info.training)
    )


def neighbour_similarity(thumbnails: list[np.ndarray]) -> dict[str, float] | None:
    """Correlation of each case with the next one (by sorted case id) versus with a random other case.

    Consecutive sections of one volume (ISBI) correlate far more with their neighbour than with other cases;
    splits use this to keep blocks of neighbours together.
    """
    if len(thumbnails) < 6 or len({t.shape for t in thumbnails}) != 1:
        return None
    flat = np.stack([(t - t.mean()) / (t.std() + 1e-8) for t in thumbnails]).reshape(len(thumbnails), -1)
    neighbours = np.mean([np.mean(flat[i] * flat[i + 1]) for i in range(len(flat) - 1)])
    rng = np.random.default_rng(0)
    pairs = [rng.choice(len(flat), 2, replace=False) for _ in range(4 * len(flat))]
    others = np.mean([np.mean(flat[i] * flat[j]) for i, j in pairs if abs(int(i) - int(j)) > 1])
    return {"neighbours": float(neighbours), "random_pairs": float(others)}


def _background_stats(name: str, values: list[float | None]) -> dict[str, Any]:
    found = [v for v in values if v is not None]
    return {
        "channel": name,
        "constant_cases": len(found),
        "cases": len(values),
        "min": min(found) if found else None,
        "max": max(found) if found else None,
        "used": bool(found) and may_use_constant_background(name),
    }


def _intensity_stats(name: str, values: np.ndarray) -> dict[str, Any]:
    values = values.astype(np.float64)
    if values.size == 0:
        values = np.zeros(1)
    return {
        "channel": name,
        "mean": float(values.mean()),
        "std": float(values.std()),
        "median": float(np.median(values)),
        "min": float(values.min()),
        "max": float(values.max()),
        "percentile_00_5": float(np.percentile(values, 0.5)),
        "percentile_99_5": float(np.percentile(values, 99.5)),
    }


def _thumbnail(channel: np.ndarray, size: int = 32) -> np.ndarray:
    """A coarse copy (block means) of the first channel's central slice, to compare neighbouring cases cheaply.

    Block means rather than every n-th pixel: subsampling aliases fine texture (EM membranes) into noise that
    hides how alike two neighbouring sections are."""
    plane = channel[channel.shape[0] // 2].astype(np.float32)
    factors = tuple(max(1, s // size) for s in plane.shape)
    return np.ascontiguousarray(downscale_local_mean(plane, factors)[:size, :size], dtype=np.float32)


def _stable_hash(text: str) -> int:
    value = 0
    for ch in text.encode():
        value = (value * 131 + ch) % (2**31 - 1)
    return value
