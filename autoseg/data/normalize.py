"""Apply a channel's planned normalisation (see autoseg.planning.normalization for why each scheme).

Each channel is written into one preallocated float32 output and transformed there in place, so a large volume
costs its output plus one channel of scratch, not a float copy per arithmetic step (the values are the same:
the same float32 operations in the same order)."""

from __future__ import annotations

import numpy as np

from autoseg.schema.plans import ChannelNormalization


def normalize_channel(
    channel: np.ndarray, norm: ChannelNormalization, mask: np.ndarray | None, out: np.ndarray | None = None
) -> np.ndarray:
    out = np.empty(channel.shape, np.float32) if out is None else out
    if norm.scheme == "ct":
        np.clip(channel, norm.clip[0], norm.clip[1], out=out, casting="unsafe")
        out -= np.float32(norm.mean)
        out /= np.float32(max(norm.std, 1e-8))
        return out
    out[...] = channel
    if norm.scheme == "zscore":
        if norm.use_mask and mask is not None and mask.any():
            values = out[mask]
            mean, std = values.mean(), max(float(values.std()), 1e-8)
            del values
            out -= mean
            out /= np.float32(std)
            out[~mask] = 0
            return out
        mean, std = out.mean(), max(float(out.std()), 1e-8)
        out -= mean
        out /= np.float32(std)
        return out
    if norm.scheme == "rescale":  # 2D pictures: small, computed in float64 as it always was
        low, high = np.percentile(out, [0.5, 99.5])
        out[...] = (np.clip(out, low, high) - low) / max(high - low, 1e-8)
    return out


def normalize_image(image: np.ndarray, schemes: list[ChannelNormalization], mask: np.ndarray | None) -> np.ndarray:
    out = np.empty(image.shape, np.float32)
    for c in range(image.shape[0]):
        normalize_channel(image[c], schemes[c], mask, out=out[c])
    return out
