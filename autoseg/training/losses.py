"""Segmentation losses, chosen by name from the plan (`training.loss`), all on logits (N, K, *spatial) and
integer targets (N, *spatial).

- dice_ce (default): soft Dice over foreground classes + cross-entropy, as nnU-Net.
- ce, weighted_ce (inverse-sqrt class frequency in the batch), tversky (alpha 0.3 / beta 0.7, favours recall),
  generalised_dice (Sudre 2017, inverse squared volume weights), focal (gamma 2), boundary_dice (Dice + CE +
  a boundary term from signed distances of the target, Kervadec 2019).
`DeepSupervisionLoss` applies one of them to every output, weights halving per scale and normalised; with
`regions` (region-based training) it applies the sigmoid form of region_losses.py instead.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from autoseg.errors import AutosegError

SMOOTH = 1e-5


def _one_hot(target: torch.Tensor, num_classes: int) -> torch.Tensor:
    return F.one_hot(target.long(), num_classes).movedim(-1, 1).to(torch.float32)


def _sum_dims(x: torch.Tensor, batch_dice: bool) -> tuple[int, ...]:
    return (0, *range(2, x.dim())) if batch_dice else tuple(range(2, x.dim()))


def soft_dice_loss(logits, target, batch_dice=True, valid=None):
    probs = logits.float().softmax(1)
    onehot = _one_hot(target, logits.shape[1])
    if valid is not None:
        probs, onehot = probs * valid, onehot * valid
    dims = _sum_dims(probs, batch_dice)
    intersection = (probs * onehot).sum(dims)
    denominator = probs.sum(dims) + onehot.sum(dims)
    dice = (2 * intersection + SMOOTH) / (denominator + SMOOTH)
    return 1 - dice[..., 1:].mean()  # background excluded: it dominates and is easy


def cross_entropy(logits, target, weight=None, valid=None):
    if valid is None:
        return F.cross_entropy(logits.float(), target.long(), weight=weight)
    loss = F.cross_entropy(logits.float(), target.long(), weight=weight, reduction="none")
    mask = valid[:, 0]
    return (loss * mask).sum() / mask.sum().clamp_min(1)


def dice_ce(logits, target, batch_dice=True, valid=None):
    return soft_dice_loss(logits, target, batch_dice, valid) + cross_entropy(logits, target, valid=valid)


def weighted_ce(logits, target, batch_dice=True, valid=None):
    counts = torch.bincount(target.reshape(-1).long().clamp_min(0), minlength=logits.shape[1]).float()
    weight = 1.0 / (counts.clamp_min(1).sqrt())
    weight = weight / weight.sum() * logits.shape[1]
    return cross_entropy(logits, target, weight=weight, valid=valid)


def tversky(logits, target, batch_dice=True, valid=None, alpha=0.3, beta=0.7):
    probs = logits.float().softmax(1)
    onehot = _one_hot(target, logits.shape[1])
    if valid is not None:
        probs, onehot = probs * valid, onehot * valid
    dims = _sum_dims(probs, batch_dice)
    tp = (probs * onehot).sum(dims)
    fp = (probs * (1 - onehot)).sum(dims)
    fn = ((1 - probs) * onehot).sum(dims)
    index = (tp + SMOOTH) / (tp + alpha * fp + beta * fn + SMOOTH)
    return 1 - index[..., 1:].mean() + cross_entropy(logits, target, valid=valid)


def generalised_dice(logits, target, batch_dice=True, valid=None):
    probs = logits.float().softmax(1)[:, 1:]
    onehot = _one_hot(target, logits.shape[1])[:, 1:]
    if valid is not None:
        probs, onehot = probs * valid, onehot * valid
    dims = _sum_dims(probs, True)
    weight = 1.0 / (onehot.sum(dims) ** 2).clamp_min(1.0)
    intersection = (weight * (probs * onehot).sum(dims)).sum()
    denominator = (weight * (probs.sum(dims) + onehot.sum(dims))).sum()
    return 1 - (2 * intersection + SMOOTH) / (denominator + SMOOTH) + cross_entropy(logits, target, valid=valid)


def focal(logits, target, batch_dice=True, valid=None, gamma=2.0):
    log_probs = F.log_softmax(logits.float(), 1)
    picked = log_probs.gather(1, target.long().unsqueeze(1)).squeeze(1)
    loss = -((1 - picked.exp()) ** gamma) * picked
    if valid is not None:
        mask = valid[:, 0]
        return (loss * mask).sum() / mask.sum().clamp_min(1) + soft_dice_loss(logits, target, batch_dice, valid)
    return loss.mean() + soft_dice_loss(logits, target, batch_dice, valid)


def signed_distance_maps(target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Per foreground class, signed distance to the class boundary (negative inside), normalised per sample."""
    target_np = target.detach().cpu().numpy()
    maps = np.zeros((target_np.shape[0], num_classes - 1, *target_np.shape[1:]), dtype=np.float32)
    for n in range(target_np.shape[0]):
        for k in range(1, num_classes):
            mask = target_np[n] == k
            if mask.any() and not mask.all():
                outside = ndimage.distance_transform_edt(~mask)
                inside = ndimage.distance_transform_edt(mask)
                signed = outside - inside
                maps[n, k - 1] = signed / max(np.abs(signed).max(), 1.0)
    return torch.from_numpy(maps).to(target.device)


def boundary_dice(logits, target, batch_dice=True, valid=None, weight=0.1):
    probs = logits.float().softmax(1)[:, 1:]
    boundary = (probs * signed_distance_maps(target, logits.shape[1])).mean()
    return dice_ce(logits, target, batch_dice, valid) + weight * boundary


LOSSES: dict[str, Callable] = {
    "dice_ce": dice_ce,
    "ce": lambda lg, t, batch_dice=True, valid=None: cross_entropy(lg, t, valid=valid),
    "weighted_ce": weighted_ce,
    "tversky": tversky,
    "generalised_dice": generalised_dice,
    "focal": focal,
    "boundary_dice": boundary_dice,
}


def get_loss(name: str) -> Callable:
    if name not in LOSSES:
        raise AutosegError(f"unknown loss '{name}' in plans.json (training.loss)", fix=f"use one of {sorted(LOSSES)}")
    return LOSSES[name]


def deep_supervision_weights(n: int) -> list[float]:
    """1, 1/2, 1/4 ... normalised; the coarsest of more than two outputs gets 0, as nnU-Net (too coarse to help)."""
    weights = np.array([0.5**i for i in range(n)])
    if n > 2:
        weights[-1] = 0
    return (weights / weights.sum()).tolist()


class DeepSupervisionLoss:
    def __init__(
        self,
        name: str,
        output_scales: Sequence[Sequence[int]],
        batch_dice: bool = True,
        levels: int = 0,
        ignore_label: int | None = None,
        regions: Sequence[Sequence[int]] | None = None,
    ):
        from autoseg.training.region_losses import get_region_loss

        self.region_values = [list(r) for r in regions] if regions else None  # LabelManager.loss_regions
        self.loss = get_region_loss(name, self.region_values) if self.region_values else get_loss(name)
        self.scales = [tuple(s) for s in output_scales]
        if levels:
            self.scales = self.scales[:levels]
        self.weights = deep_supervision_weights(len(self.scales))
        self.batch_dice = batch_dice
        self.ignore_label = ignore_label

    def targets(self, target: torch.Tensor) -> list[torch.Tensor]:
        """Targets at each output's resolution: every s-th voxel, the size `ceil(n / s)` networks produce."""
        return [target[(slice(None), *[slice(None, None, s) for s in scale])] for scale in self.scales]

    def __call__(self, outputs: torch.Tensor | list[torch.Tensor], target: torch.Tensor) -> torch.Tensor:
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        total = 0.0
        for output, target_at, weight in zip(outputs, self.targets(target), self.weights):
            if weight == 0:
                # Still part of the graph: DistributedDataParallel expects every parameter to get a gradient.
                total = total + 0.0 * output.sum()
                continue
            valid = None
            if self.ignore_label is not None:
                valid = (target_at != self.ignore_label).unsqueeze(1).float()
                target_at = torch.where(target_at == self.ignore_label, torch.zeros_like(target_at), target_at)
            total = total + weight * self.loss(output, target_at, batch_dice=self.batch_dice, valid=valid)
        return total
