"""Apply a channel's planned normalisation (see autoseg.planning.normalization for why each scheme)."""
from __future__ import annotations

import numpy as np

from autoseg.schema.plans import ChannelNormalization


def normalize_channel(channel: np.ndarray, norm: ChannelNormalization, mask: np.ndarray | None) -> np.ndarray:
    channel = channel.astype(np.float32, copy=False)
    if norm.scheme == "ct":
        clipped = np.clip(channel, norm.clip[0], norm.clip[1])
        return ((clipped - norm.mean) / max(norm.std, 1e-8)).astype(np.float32)
    if norm.scheme == "zscore":
        if norm.use_mask and mask is not None and mask.any():
            values = channel[mask]
            out = (channel - values.mean()) / max(float(values.std()), 1e-8)
            out[~mask] = 0
            return out.astype(np.float32)
        return ((channel - channel.mean()) / max(float(channel.std()), 1e-8)).astype(np.float32)
    if norm.scheme == "rescale":
        low, high = np.percentile(channel, [0.5, 99.5])
        return ((np.clip(channel, low, high) - low) / max(high - low, 1e-8)).astype(np.float32)
    return channel


def normalize_image(image: np.ndarray, schemes: list[ChannelNormalization], mask: np.ndarray | None) -> np.ndarray:
    return np.stack([normalize_channel(image[c], schemes[c], mask) for c in range(image.shape[0])])
