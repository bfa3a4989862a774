"""Batches for training and validation: patch sampling + augmentation, in background processes.

On a 2-core CPU the model already uses both cores, so one background process is enough to keep it fed (it
overlaps augmentation with the model's less parallel parts); more would just steal cores from the model.
"""
from __future__ import annotations

import os

from batchgenerators.dataloading.nondet_multi_threaded_augmenter import NonDetMultiThreadedAugmenter
from batchgenerators.dataloading.single_threaded_augmenter import SingleThreadedAugmenter

from autoseg.schema.plans import Configuration
from autoseg.training.augmentation import build_transforms, build_validation_transforms, sampling_patch_size
from autoseg.training.dataset import TrainingCase
from autoseg.training.sampling import PatchSampler


def choose_workers(setting: str | int, device: str) -> int:
    if setting != "auto":
        return int(setting)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if device == "cuda":
        return max(1, min(12, cores - 1))
    return 1 if cores <= 4 else max(1, cores // 4)


def make_loaders(config: Configuration, train_cases: list[TrainingCase], val_cases: list[TrainingCase],
                 workers: int, seed: int, batch_size: int | None = None):
    patch = config.patch_size
    batch = batch_size or config.batch_size
    aug = config.augmentation
    sampler = PatchSampler(train_cases, sampling_patch_size(patch, aug), batch,
                           config.training.oversample_foreground, config.spatial_dims, seed)
    transforms = build_transforms(patch, aug, config.spatial_dims)
    val_sampler = PatchSampler(val_cases or train_cases, patch, batch, config.training.oversample_foreground,
                               config.spatial_dims, seed + 1)
    val_transforms = build_validation_transforms()
    if workers <= 0:
        return SingleThreadedAugmenter(sampler, transforms), SingleThreadedAugmenter(val_sampler, val_transforms)
    train = NonDetMultiThreadedAugmenter(sampler, transforms, workers, num_cached=max(2, 2 * workers),
                                         seeds=[seed + i for i in range(workers)])
    # Validation patches need no augmentation: sampled in the main process, at almost no cost.
    return train, SingleThreadedAugmenter(val_sampler, val_transforms)
