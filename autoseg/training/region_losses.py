"""Losses for region-based training (LabelManager.loss_regions): one sigmoid output per region, as nnU-Net v2.

The targets stay integer label maps (N, *spatial) through sampling and augmentation; each loss turns them into
one binary mask per region here, so deep supervision's strided targets are the downsampled region masks.
- dice_ce: soft Dice of every region's sigmoid (batch Dice as configured) + binary cross-entropy per voxel and
  region (nnU-Net's DC_and_BCE_loss);
- ce: binary cross-entropy alone.
`valid` (N, 1, *spatial) leaves voxels out of both terms (the ignore label).
"""

from __future__ import annotations

from functools import partial
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from autoseg.errors import AutosegError
from autoseg.labels.region_sets import batch_region_masks

SMOOTH = 1e-5


def region_dice(logits, masks, batch_dice=True, valid=None):
    probs = torch.sigmoid(logits.float())
    if valid is not None:
        probs, masks = probs * valid, masks * valid
    dims = (0, *range(2, probs.dim())) if batch_dice else tuple(range(2, probs.dim()))
    intersection = (probs * masks).sum(dims)
    denominator = probs.sum(dims) + masks.sum(dims)
    return 1 - ((2 * intersection + SMOOTH) / (denominator + SMOOTH)).mean()


def region_bce(logits, masks, valid=None):
    if valid is None:
        return F.binary_cross_entropy_with_logits(logits.float(), masks)
    loss = F.binary_cross_entropy_with_logits(logits.float(), masks, reduction="none")
    weight = valid.expand_as(loss)
    return (loss * weight).sum() / weight.sum().clamp_min(1)


def region_dice_bce(logits, target, regions: Sequence[Sequence[int]], batch_dice=True, valid=None):
    masks = batch_region_masks(target, regions)
    return region_dice(logits, masks, batch_dice, valid) + region_bce(logits, masks, valid)


def region_bce_only(logits, target, regions: Sequence[Sequence[int]], batch_dice=True, valid=None):
    return region_bce(logits, batch_region_masks(target, regions), valid)


REGION_LOSSES: dict[str, Callable] = {"dice_ce": region_dice_bce, "ce": region_bce_only}


def get_region_loss(name: str, regions: Sequence[Sequence[int]]) -> Callable:
    """The loss `name` for these regions, called as loss(logits, integer target, batch_dice=, valid=)."""
    if name not in REGION_LOSSES:
        raise AutosegError(
            f"loss '{name}' (plans.json training.loss) has no region-based form",
            fix=f"with regions use one of {sorted(REGION_LOSSES)} (dice_ce = Dice + BCE per region)",
        )
    return partial(REGION_LOSSES[name], regions=[list(r) for r in regions])
