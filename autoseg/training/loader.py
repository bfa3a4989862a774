"""Batches for training and validation: patch sampling + augmentation, in background processes.

On a 2-core CPU the model already uses both cores, so one background process is enough to keep it fed (it
overlaps augmentation with the model's less parallel parts); more would just steal cores from the model.
"""

from __future__ import annotations

import os

from batchgenerators.dataloading.nondet_multi_threaded_augmenter import NonDetMultiThreadedAugmenter
from batchgenerators.dataloading.single_threaded_augmenter import SingleThreadedAugmenter

from autoseg.schema.plans import AugmentationPlan, Configuration
from autoseg.training.augmentation import build_transforms, build_validation_transforms, sampling_patch_size
from autoseg.training.dataset import TrainingCase
from autoseg.training.sampling import PatchSampler


def choose_workers(setting: str | int, device: str, aug: AugmentationPlan | None = None) -> int:
    if setting != "auto":
        return int(setting)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if device == "cuda":
        return max(1, min(12, cores - 1))
    if aug is not None and max(aug.rotation_p, aug.scale_p, aug.elastic_p, aug.lowres_p, aug.blur_p) == 0:
        # Cropping and mirroring take ~7 ms a batch (Hippocampus): cheaper inline than a process competing
        # with the model for the two cores.
        return 0
    return 1 if cores <= 4 else max(1, cores // 4)


def make_train_loader(
    config: Configuration,
    cases: list[TrainingCase],
    workers: int,
    seed: int,
    patch: list[int] | None = None,
    batch_size: int | None = None,
):
    """Augmented training batches; `patch`/`batch_size` override the plan's (progressive resizing)."""
    patch = list(patch or config.patch_size)
    batch = batch_size or config.batch_size
    aug = config.augmentation
    sampler = PatchSampler(
        cases, sampling_patch_size(patch, aug), batch, config.training.oversample_foreground, config.spatial_dims, seed
    )
    transforms = build_transforms(patch, aug, config.spatial_dims)
    if workers <= 0:
        return SingleThreadedAugmenter(sampler, transforms)
    return NonDetMultiThreadedAugmenter(
        sampler, transforms, workers, num_cached=max(2, 2 * workers), seeds=[seed + i for i in range(workers)]
    )


def make_val_loader(config: Configuration, cases: list[TrainingCase], seed: int):
    """Validation patches need no augmentation: sampled in the main process, at almost no cost."""
    sampler = PatchSampler(
        cases, config.patch_size, config.batch_size, config.training.oversample_foreground, config.spatial_dims, seed
    )
    return SingleThreadedAugmenter(sampler, build_validation_transforms())
