"""A cascade stage's network input without the whole-volume copy: the preprocessed image and the previous
stage's masks side by side, joined one window at a time.

np.concatenate of a 1-channel 512x512x400 CT and two float32 one-hot channels makes a 1.26 GB array next to the
0.84 GB it was made from; here the masks stay uint8 (105 MB a channel) and each window is joined as the sliding
window cuts it (issue 18: predict one such case in <= 4 GB).
"""

from __future__ import annotations

import numpy as np


class ChannelStack:
    """Reads like the (C_image + C_masks, *spatial) float32 array np.concatenate([image, masks]) would be, for the
    indexing the sliding window does (`stack[:, z0:z1, y0:y1, x0:x1]`) and np.asarray."""

    def __init__(self, image: np.ndarray, masks: np.ndarray):
        if image.shape[1:] != masks.shape[1:]:
            raise ValueError(f"image {image.shape} and masks {masks.shape} differ in spatial shape")
        self.image, self.masks = image, masks
        self.shape = (image.shape[0] + masks.shape[0], *image.shape[1:])
        self.ndim = len(self.shape)
        self.dtype = np.dtype(np.float32)

    def __getitem__(self, key) -> np.ndarray:
        key = key if isinstance(key, tuple) else (key,)
        if key and key[0] != slice(None):
            raise IndexError("ChannelStack is read whole-channel: index it as stack[:, spatial slices...]")
        return np.concatenate(
            [np.asarray(self.image[key], dtype=np.float32), np.asarray(self.masks[key], dtype=np.float32)]
        )

    def __array__(self, dtype=None, copy=None):
        joined = self[:]
        return joined if dtype is None else joined.astype(dtype, copy=False)
