"""Random training patches with foreground oversampling, as batchgenerators data loaders.

A share of every batch (`oversample_foreground`, the last samples) is centred on a voxel of a random foreground
class present in the case; the rest is drawn uniformly. Patches extending past the image are padded (image 0 --
the normalised mean -- and label 0). The patch drawn is the *sampling* patch, larger than the training patch
when rotations/scaling need room (see augmentation.py); the spatial transform crops it to the training patch.
2D configurations draw one slice (axis 0) of a case, then a 2D patch in it.
"""

from __future__ import annotations

import numpy as np
from batchgenerators.dataloading.data_loader import SlimDataLoaderBase

from autoseg.training.dataset import TrainingCase


class PatchSampler(SlimDataLoaderBase):
    def __init__(
        self,
        cases: list[TrainingCase],
        sample_patch: list[int],
        batch_size: int,
        oversample_foreground: float,
        spatial_dims: int,
        seed: int,
    ):
        super().__init__(cases, batch_size, number_of_threads_in_multithreaded=None)
        self.cases = cases
        self.sample_patch = [int(p) for p in sample_patch]
        self.oversample = oversample_foreground
        self.spatial_dims = spatial_dims
        self.rng = np.random.default_rng(seed)
        self.num_channels = cases[0].image.shape[0]

    def set_thread_id(self, thread_id: int) -> None:
        # batchgenerators calls this in each worker: give every worker its own random stream.
        super().set_thread_id(thread_id)
        self.rng = np.random.default_rng([int(self.rng.integers(2**31)), thread_id])

    def forced_foreground(self, index: int) -> bool:
        return index >= round(self.batch_size * (1 - self.oversample))

    def generate_train_batch(self) -> dict[str, np.ndarray]:
        data = np.zeros((self.batch_size, self.num_channels, *self.sample_patch), dtype=np.float32)
        seg = np.zeros((self.batch_size, 1, *self.sample_patch), dtype=np.int16)
        for b in range(self.batch_size):
            case = self.cases[int(self.rng.integers(len(self.cases)))]
            self.fill(case, self.forced_foreground(b), data[b], seg[b, 0])
        return {"data": data, "seg": seg}

    def fill(self, case: TrainingCase, foreground: bool, data_out: np.ndarray, seg_out: np.ndarray) -> None:
        centre = self.foreground_centre(case) if foreground else None
        image, labels = case.image, case.seg
        if self.spatial_dims == 2:
            z = int(centre[0]) if centre is not None else int(self.rng.integers(image.shape[1]))
            image, labels = image[:, z], labels[z]
            centre = None if centre is None else centre[1:]
        shape = np.array(labels.shape)
        patch = np.array(self.sample_patch)
        if centre is None:
            # Uniform: any placement overlapping the image (patches larger than the image are centred at random).
            low = np.minimum(0, shape - patch)
            high = np.maximum(0, shape - patch)
            start = np.array([self.rng.integers(lo, hi + 1) for lo, hi in zip(low, high)])
        else:
            start = np.asarray(centre) - patch // 2
        copy_into(image, labels, start, data_out, seg_out)

    def foreground_centre(self, case: TrainingCase) -> np.ndarray | None:
        present = [k for k, where in case.locations.items() if len(where)]
        if not present:
            return None
        where = case.locations[present[int(self.rng.integers(len(present)))]]
        return where[int(self.rng.integers(len(where)))]


def copy_into(
    image: np.ndarray, labels: np.ndarray, start: np.ndarray, data_out: np.ndarray, seg_out: np.ndarray
) -> None:
    """Copy the window starting at `start` (may lie partly outside) into zero-filled outputs."""
    shape = np.array(labels.shape)
    size = np.array(seg_out.shape)
    src_lo = np.maximum(start, 0)
    src_hi = np.minimum(start + size, shape)
    if np.any(src_hi <= src_lo):
        return
    dst_lo = src_lo - start
    dst_hi = dst_lo + (src_hi - src_lo)
    src = tuple(slice(a, b) for a, b in zip(src_lo, src_hi))
    dst = tuple(slice(a, b) for a, b in zip(dst_lo, dst_hi))
    data_out[(slice(None), *dst)] = image[(slice(None), *src)]
    seg_out[dst] = labels[src]
