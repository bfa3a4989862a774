"""Non-finite voxels in an image to predict are refused, not replaced.

A NaN or Inf voxel spreads through normalisation (the mean and deviation become NaN) and every convolution that
touches it, so the network returns an arbitrary map, typically all background, with nothing to say so. Replacing
them by some value (0, the minimum) would hide a broken conversion or a failed scanner reconstruction behind a
plausible-looking segmentation. Like nnU-Net, which does not knowingly produce garbage quietly, autoseg stops
with the count and the first location, so the user repairs the input and knows the result can be trusted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from autoseg.errors import AutosegError


def refuse_non_finite(image: np.ndarray, files: Sequence[Path] | Path | None = None) -> None:
    """Raise AutosegError when the (C, Z, Y, X) `image` holds NaN or Inf, naming the count and the first voxel."""
    for channel in range(image.shape[0]):
        finite = np.isfinite(image[channel])
        if finite.all():
            continue
        bad = ~finite
        nan = int(np.count_nonzero(np.isnan(image[channel][bad])))
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        where = ", ".join(f"{axis}={i}" for axis, i in zip("zyx"[-len(first) :], first))
        raise AutosegError(
            f"the image to predict holds {int(bad.sum())} non-finite voxel(s) in channel {channel} "
            f"({nan} NaN, {int(bad.sum()) - nan} Inf), the first at {where}; a prediction from it "
            "would be silently wrong",
            _file_of(files, channel, image.shape[0]),
            "replace the NaN/Inf voxels with real values (or fix the conversion that made them) and predict again",
        )


def _file_of(files: Sequence[Path] | Path | None, channel: int, channels: int) -> Path | None:
    if files is None or isinstance(files, (str, Path)):
        return files
    files = list(files)
    if not files:
        return None
    return files[channel] if len(files) == channels else files[0]
