"""Intensity normalisation per channel, chosen from the channel's name and the fingerprint.

CT values are physical (Hounsfield units): clip to the foreground's 0.5-99.5 percentiles and z-score with the
dataset-wide foreground statistics. Any other modality has arbitrary units per scan: z-score each image on its
own, inside the nonzero mask when cropping showed that much of the image is empty background, or when the
background is a non-zero constant (data z-scored before distribution): then the image is cropped to, and
z-scored inside, the region that differs from that constant, and the background becomes 0 as with a zero one.
"""

from __future__ import annotations

from typing import Any

from autoseg.schema.plans import ChannelNormalization

# Cropping to nonzero keeping less than this share of the voxels means the zeros are background worth masking.
MASK_WHEN_CROP_KEEPS_LESS_THAN = 0.75
SCHEME_BY_NAME = {
    "ct": "ct",
    "none": "none",
    "nonorm": "none",
    "rescale": "rescale",
    "rescale_to_0_1": "rescale",
    "rgb": "rescale",
}


def scheme_for(channel_name: str) -> str:
    return SCHEME_BY_NAME.get(str(channel_name).lower().replace(" ", "_"), "zscore")


def may_use_constant_background(channel_name: str) -> bool:
    """Only per-image z-scored channels: CT air (-1000) is a physical value that stays in the data, and
    rescaled or unnormalised channels keep every pixel as it is."""
    return scheme_for(channel_name) == "zscore"


def choose_normalization(fingerprint: dict[str, Any]) -> tuple[list[ChannelNormalization], list[str]]:
    choices, reasons = [], []
    use_mask = fingerprint["median_crop_fraction"] < MASK_WHEN_CROP_KEEPS_LESS_THAN
    backgrounds = fingerprint.get("background") or [None] * len(fingerprint["foreground_intensity"])
    for stats, background in zip(fingerprint["foreground_intensity"], backgrounds):
        name = str(stats["channel"])
        scheme = scheme_for(name)
        if scheme == "ct":
            choices.append(
                ChannelNormalization(
                    scheme="ct",
                    mean=stats["mean"],
                    std=max(stats["std"], 1e-8),
                    clip=[stats["percentile_00_5"], stats["percentile_99_5"]],
                )
            )
            reasons.append(
                f"channel '{name}': CT -> clip to foreground [{stats['percentile_00_5']:.4g}, "
                f"{stats['percentile_99_5']:.4g}] and z-score with global foreground statistics"
                + _unused_background_words(background)
            )
        elif scheme == "zscore" and background and background.get("used"):
            choices.append(ChannelNormalization(scheme="zscore", use_mask=True, constant_background=True))
            reasons.append(f"channel '{name}': {constant_background_words(background)}")
        elif scheme == "zscore":
            choices.append(ChannelNormalization(scheme="zscore", use_mask=use_mask))
            why = (
                f"inside the nonzero mask (cropping keeps {fingerprint['median_crop_fraction']:.0%} of voxels)"
                if use_mask
                else "over the whole image"
            )
            reasons.append(f"channel '{name}': per-image z-score {why}")
        else:
            choices.append(ChannelNormalization(scheme=scheme))
            reasons.append(f"channel '{name}': '{scheme}' as its name asks" + _unused_background_words(background))
    return choices, reasons


def constant_background_words(background: dict[str, Any]) -> str:
    low, high = background["min"], background["max"]
    values = f"{low:.4g}" if low == high else f"{low:.4g} to {high:.4g}"
    return (
        f"the background is a constant, not 0 ({values}; it fills the image border in "
        f"{background['constant_cases']} of {background['cases']} case(s)) -> crop to where the image differs "
        "from it, per-image z-score inside that mask, background set to 0"
    )


def _unused_background_words(background: dict[str, Any] | None) -> str:
    if not background or not background.get("constant_cases"):
        return ""
    return (
        f"; its border is a constant {background['min']:.4g} in {background['constant_cases']} case(s), kept as "
        "data (cropping stays at nonzero), as this normalisation keeps every value's meaning"
    )
