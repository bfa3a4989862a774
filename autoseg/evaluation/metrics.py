"""Segmentation metrics for one pair of masks, with distances in millimetres.

Definitions (P = prediction, G = reference, S_P / S_G = their surface voxels, d(x, S) = distance in mm
from voxel x to the nearest voxel of S, computed with the per-axis spacing):

    Dice       2 |P & G| / (|P| + |G|)
    IoU        |P & G| / |P | G|                        (Jaccard)
    VOE        1 - IoU                                  (volume overlap error)
    RVD        (|P| - |G|) / |G|                        (relative volume difference, signed)
    precision  |P & G| / |P|
    recall     |P & G| / |G|
    HD95       max(95th percentile of d(p, S_G) over p in S_P, 95th percentile of d(g, S_P) over g in S_G)
               (the larger of the two directed robust Hausdorff distances, as medpy and MONAI do)
    ASSD       (sum of d(p, S_G) + sum of d(g, S_P)) / (|S_P| + |S_G|)
               (pooled over both surfaces, as in Heimann et al. 2009)
    NSD        (#{p in S_P: d(p, S_G) <= tol} + #{g in S_G: d(g, S_P) <= tol}) / (|S_P| + |S_G|)
               (normalised surface Dice, Nikolov et al. 2018, counting surface voxels rather than surfel areas)

Axes of size 1 are ignored, so a 2D image stored as (1, Y, X) is measured in its plane.

Ignore label (nnU-Net v2's label named "ignore"): reference voxels carrying it were never annotated, so they
are left out of every metric -- they count as background in both maps, whatever the prediction says there.

Empty masks -- every metric has a finite, defined value, so means over cases never meet NaN or inf:

    both empty        Dice 1, IoU 1, VOE 0, RVD 0, precision 1, recall 1, HD95 0, ASSD 0, NSD 1.
                      Predicting nothing where there is nothing is exactly right. nnU-Net reports Dice NaN here
                      and drops the case from means; we score it as correct instead, and flag it
                      (reference_empty, prediction_empty) so a summary can still leave it out.
    one empty         Dice 0, IoU 0, VOE 1, NSD 0, precision 0, recall 0 (0/0 included: the case is a failure,
                      so every overlap score takes its worst value), HD95 and ASSD = the image diagonal in mm
                      (a finite bound above any distance inside the image, instead of inf).
    reference empty   RVD = |P| / 1 voxel: the volume of G is taken as one voxel, the smallest non-empty
                      reference, which keeps RVD finite and still grows with the false-positive volume.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from autoseg.evaluation.surfaces import image_diagonal_mm, spatial_axes_and_spacing, squeeze_to_axes, surface_distances

METRIC_NAMES = ("Dice", "IoU", "HD95", "ASSD", "NSD", "VOE", "RVD", "precision", "recall")
DEFAULT_TOLERANCE_MM = 1.0


def _ratio(numerator: int, denominator: int, both_empty: bool) -> float:
    """numerator / denominator, with 0/0 = 1 when both masks are empty and 0 when only one is."""
    if denominator == 0:
        return 1.0 if both_empty else 0.0
    return numerator / denominator


def overlap_metrics(pred: np.ndarray, ref: np.ndarray) -> dict:
    """Voxel-count metrics (Dice, IoU, VOE, RVD, precision, recall) and the counts behind them."""
    tp = int(np.count_nonzero(pred & ref))
    n_pred, n_ref = int(np.count_nonzero(pred)), int(np.count_nonzero(ref))
    both_empty = n_pred == 0 and n_ref == 0
    iou = _ratio(tp, n_pred + n_ref - tp, both_empty)
    return {
        "Dice": _ratio(2 * tp, n_pred + n_ref, both_empty),
        "IoU": iou,
        "VOE": 1.0 - iou,
        "RVD": (n_pred - n_ref) / max(n_ref, 1),
        "precision": _ratio(tp, n_pred, both_empty),
        "recall": _ratio(tp, n_ref, both_empty),
        "TP": tp,
        "FP": n_pred - tp,
        "FN": n_ref - tp,
        "n_pred": n_pred,
        "n_ref": n_ref,
    }


def surface_metrics(
    pred: np.ndarray, ref: np.ndarray, spacing: Sequence[float], tolerance_mm: float = DEFAULT_TOLERANCE_MM
) -> dict:
    """HD95, ASSD and NSD in mm for two boolean masks of equal shape (empty masks allowed)."""
    pred_empty, ref_empty = not pred.any(), not ref.any()
    if pred_empty and ref_empty:
        return {"HD95": 0.0, "ASSD": 0.0, "NSD": 1.0}
    if pred_empty or ref_empty:
        diagonal = image_diagonal_mm(pred.shape, spacing)
        return {"HD95": diagonal, "ASSD": diagonal, "NSD": 0.0}
    pred_to_ref, ref_to_pred = surface_distances(pred, ref, spacing)
    n_surface = pred_to_ref.size + ref_to_pred.size
    within = np.count_nonzero(pred_to_ref <= tolerance_mm) + np.count_nonzero(ref_to_pred <= tolerance_mm)
    return {
        "HD95": float(max(np.percentile(pred_to_ref, 95), np.percentile(ref_to_pred, 95))),
        "ASSD": float((pred_to_ref.sum() + ref_to_pred.sum()) / n_surface),
        "NSD": float(within / n_surface),
    }


def binary_metrics(
    pred: np.ndarray, ref: np.ndarray, spacing: Sequence[float], tolerance_mm: float = DEFAULT_TOLERANCE_MM
) -> dict:
    """All metrics for one pair of masks of equal shape; `spacing` has one value per array axis (numpy order).

    Returns the metrics of METRIC_NAMES, the voxel counts TP/FP/FN/n_pred/n_ref, and the flags
    reference_empty / prediction_empty.
    """
    pred, ref = np.asarray(pred, dtype=bool), np.asarray(ref, dtype=bool)
    if pred.shape != ref.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from reference shape {ref.shape}")
    axes, spatial_spacing = spatial_axes_and_spacing(ref.shape, spacing)
    pred, ref = squeeze_to_axes(pred, axes), squeeze_to_axes(ref, axes)
    result = overlap_metrics(pred, ref)
    result.update(surface_metrics(pred, ref, spatial_spacing, tolerance_mm))
    result["reference_empty"] = result["n_ref"] == 0
    result["prediction_empty"] = result["n_pred"] == 0
    return result


def exclude_ignored(pred: np.ndarray, ref: np.ndarray, ignore_label: int | None) -> tuple[np.ndarray, np.ndarray]:
    """pred and ref with the voxels the reference marks `ignore_label` set to background in both (new arrays;
    the inputs themselves when there is nothing to leave out)."""
    pred, ref = np.asarray(pred), np.asarray(ref)
    if ignore_label is None:
        return pred, ref
    ignored = ref == ignore_label
    if not ignored.any():
        return pred, ref
    return np.where(ignored, 0, pred), np.where(ignored, 0, ref)


def evaluate_case(
    pred: np.ndarray,
    ref: np.ndarray,
    labels: Sequence[int],
    spacing: Sequence[float],
    tolerance_mm: float = DEFAULT_TOLERANCE_MM,
    ignore_label: int | None = None,
) -> dict[int, dict]:
    """Metrics of each label value in `labels` for one case: {label: binary_metrics(pred == label, ref == label)}.

    pred and ref are integer label maps of the same shape ((Y, X), (1, Y, X) or (Z, Y, X)); spacing is per axis
    in numpy order. Voxels whose reference is `ignore_label` are not scored (see the module doc).
    """
    pred, ref = np.asarray(pred), np.asarray(ref)
    if pred.shape != ref.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from reference shape {ref.shape}")
    pred, ref = exclude_ignored(pred, ref, ignore_label)
    return {int(label): binary_metrics(pred == label, ref == label, spacing, tolerance_mm) for label in labels}


def absent_label_metrics() -> dict:
    """The record of a label found in neither mask (the 'both empty' values above), without touching an image."""
    nothing = np.zeros(1, dtype=bool)
    return binary_metrics(nothing, nothing, spacing=(1.0,))
