"""Writing predictions: the label map in the input's format and geometry, optionally the probabilities (.npz,
float16, on the same grid) for ensembling and find-best, and a per-case uncertainty."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from autoseg.data.geometry import Geometry
from autoseg.data.image_io import write_label
from autoseg.labels.manager import argmax_labels, foreground_entropy
from autoseg.labels.region_sets import labels_from_regions
from autoseg.utils.files import atomic_write


def labels_from_probabilities(probabilities: np.ndarray, regions_class_order: list[int] | None = None) -> np.ndarray:
    """argmax over classes, or, with regions (their class order), each region's value where p >= 0.5."""
    if regions_class_order:
        return labels_from_regions(probabilities, regions_class_order)
    return argmax_labels(probabilities)


def uncertainty(
    probabilities: np.ndarray, labels: np.ndarray | None = None, regions_class_order: list[int] | None = None
) -> dict[str, float]:
    """Mean normalised entropy inside the predicted foreground (0 = certain, 1 = uniform), and its volume; for
    region probabilities the binary entropy of each region."""
    labels = labels_from_probabilities(probabilities, regions_class_order) if labels is None else labels
    return foreground_entropy(probabilities, labels, bool(regions_class_order))


def write_prediction(
    probabilities: np.ndarray,
    geometry: Geometry,
    out_dir: Path,
    case_id: str,
    ending: str,
    *,
    save_probabilities: bool = False,
    labels: np.ndarray | None = None,
    regions_class_order: list[int] | None = None,
) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    labels = labels_from_probabilities(probabilities, regions_class_order) if labels is None else labels
    path = out_dir / f"{case_id}{ending}"
    write_label(labels if geometry.ndim == 3 else labels[0], geometry, path)
    if save_probabilities:
        save_probability_file(out_dir / f"{case_id}.npz", probabilities)
    return path


def save_probability_file(path: Path, probabilities: np.ndarray) -> None:
    atomic_write(
        path, lambda tmp: np.savez_compressed(tmp, probabilities=probabilities.astype(np.float16)), suffix=".npz"
    )


def load_probability_file(path: Path) -> np.ndarray:
    with np.load(path) as data:
        return data["probabilities"].astype(np.float32)
