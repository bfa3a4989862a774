"""Writing predictions: the label map in the input's format and geometry, optionally the probabilities (.npz,
float16, on the same grid) for ensembling and find-best, and a per-case uncertainty."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from autoseg.data.geometry import Geometry
from autoseg.data.image_io import write_label
from autoseg.inference.regions import label_map, region_uncertainty
from autoseg.utils.files import atomic_write


def labels_from_probabilities(probabilities: np.ndarray, regions_class_order: list[int] | None = None) -> np.ndarray:
    """argmax over classes, or, with regions (plans.regions_class_order), each region's value where p >= 0.5."""
    if regions_class_order:
        return label_map(probabilities, regions_class_order)
    return argmax_labels(probabilities)


def argmax_labels(probabilities: np.ndarray) -> np.ndarray:
    """probabilities.argmax(0) one class at a time: numpy's argmax makes an int64 map (8 bytes a voxel, 800 MB
    for a 512x512x400 CT); this keeps the best probability so far and the label, first class winning ties."""
    labels = np.zeros(probabilities.shape[1:], dtype=np.uint8 if probabilities.shape[0] < 256 else np.int16)
    best = probabilities[0].copy()
    for channel in range(1, probabilities.shape[0]):
        better = probabilities[channel] > best
        labels[better] = channel
        np.maximum(best, probabilities[channel], out=best)
    return labels


def uncertainty(probabilities: np.ndarray, labels: np.ndarray | None = None,
                regions_class_order: list[int] | None = None) -> dict[str, float]:
    """Mean normalised entropy inside the predicted foreground (0 = certain, 1 = uniform), and its volume; for
    region probabilities the binary entropy of each region."""
    labels = labels_from_probabilities(probabilities, regions_class_order) if labels is None else labels
    if regions_class_order:
        return region_uncertainty(probabilities, labels)
    foreground = labels > 0
    if not foreground.any():
        return {"mean_entropy_foreground": 0.0, "foreground_voxels": 0}
    p = np.clip(probabilities[:, foreground].astype(np.float32), 1e-8, 1.0)  # float16 log loses too much
    entropy = -(p * np.log(p)).sum(0) / np.log(probabilities.shape[0])
    return {"mean_entropy_foreground": float(entropy.mean()), "foreground_voxels": int(foreground.sum())}


def write_prediction(probabilities: np.ndarray, geometry: Geometry, out_dir: Path, case_id: str, ending: str,
                     save_probabilities: bool = False, labels: np.ndarray | None = None,
                     regions_class_order: list[int] | None = None) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    labels = labels_from_probabilities(probabilities, regions_class_order) if labels is None else labels
    path = out_dir / f"{case_id}{ending}"
    write_label(labels if geometry.ndim == 3 else labels[0], geometry, path)
    if save_probabilities:
        save_probability_file(out_dir / f"{case_id}.npz", probabilities)
    return path


def save_probability_file(path: Path, probabilities: np.ndarray) -> None:
    atomic_write(path, lambda tmp: np.savez_compressed(tmp, probabilities=probabilities.astype(np.float16)),
                 suffix=".npz")


def load_probability_file(path: Path) -> np.ndarray:
    with np.load(path) as data:
        return data["probabilities"].astype(np.float32)
