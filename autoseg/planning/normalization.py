"""Intensity normalisation per channel, chosen from the channel's name and the fingerprint.

CT values are physical (Hounsfield units): clip to the foreground's 0.5-99.5 percentiles and z-score with the
dataset-wide foreground statistics. Any other modality has arbitrary units per scan: z-score each image on its
own, inside the nonzero mask when cropping showed that much of the image is empty background.
"""
from __future__ import annotations

from typing import Any

from autoseg.schema.plans import ChannelNormalization

# Cropping to nonzero keeping less than this share of the voxels means the zeros are background worth masking.
MASK_WHEN_CROP_KEEPS_LESS_THAN = 0.75
SCHEME_BY_NAME = {"ct": "ct", "none": "none", "nonorm": "none", "rescale": "rescale", "rescale_to_0_1": "rescale",
                  "rgb": "rescale"}


def choose_normalization(fingerprint: dict[str, Any]) -> tuple[list[ChannelNormalization], list[str]]:
    choices, reasons = [], []
    use_mask = fingerprint["median_crop_fraction"] < MASK_WHEN_CROP_KEEPS_LESS_THAN
    for stats in fingerprint["foreground_intensity"]:
        name = str(stats["channel"])
        scheme = SCHEME_BY_NAME.get(name.lower().replace(" ", "_"), "zscore")
        if scheme == "ct":
            choices.append(ChannelNormalization(scheme="ct", mean=stats["mean"], std=max(stats["std"], 1e-8),
                                                clip=[stats["percentile_00_5"], stats["percentile_99_5"]]))
            reasons.append(f"channel '{name}': CT -> clip to foreground [{stats['percentile_00_5']:.4g}, "
                           f"{stats['percentile_99_5']:.4g}] and z-score with global foreground statistics")
        elif scheme == "zscore":
            choices.append(ChannelNormalization(scheme="zscore", use_mask=use_mask))
            why = (f"inside the nonzero mask (cropping keeps {fingerprint['median_crop_fraction']:.0%} of voxels)"
                   if use_mask else "over the whole image")
            reasons.append(f"channel '{name}': per-image z-score {why}")
        else:
            choices.append(ChannelNormalization(scheme=scheme))
            reasons.append(f"channel '{name}': '{scheme}' as its name asks")
    return choices, reasons
