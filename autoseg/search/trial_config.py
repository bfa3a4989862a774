"""A trial's Configuration: the base configuration with the search parameters' values laid over it.

The trial keeps the base's data_identifier (so the preprocessed cache is reused), spacing, normalisation,
augmentation and schedule; it changes the network, loss, optimiser, batch and patch. A shallower network drops
the deepest stages of the planned topology, so the patch stays divisible by the remaining strides.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from autoseg.schema.convert import from_dict, to_dict
from autoseg.schema.plans import Configuration

# Weight decay when a trial switches optimiser away from the plan's: nnU-Net's for SGD, the CPU preset's (measured
# on Hippocampus) for AdamW. When the optimiser stays the plan's, the plan's weight decay is kept.
WEIGHT_DECAY = {"sgd": 3e-5, "adamw": 1e-4}
# The smallest bottleneck edge a scaled patch may leave (the planner's min_feature_map_edge).
MIN_BOTTLENECK_EDGE = 4


def trial_configuration(base: Configuration, values: dict[str, Any], name: str) -> Configuration:
    """`base` with `values` (see space.py; "learning_rate" is the chosen optimiser's) applied, named `name`."""
    config = from_dict(Configuration, to_dict(base), "configuration")
    config.name = name
    config.variant_of = None  # a search result is a configuration of its own, trained by default like any other
    _apply_network(config, base, values)
    _apply_patch_and_batch(config, base, float(values["patch_scale"]), int(values["batch_size"]))
    training = config.training
    # The base plan's epoch cap counts its own patch and batch; a trial is judged within its own budget.
    training.max_epochs = None
    if values["optimizer"] != base.training.optimizer:
        training.weight_decay = WEIGHT_DECAY[values["optimizer"]]
    training.optimizer = values["optimizer"]
    training.learning_rate = float(values["learning_rate"])
    training.loss = values["loss"]
    return config


def total_stride(strides: list[list[int]]) -> list[int]:
    return np.prod(np.array(strides), axis=0).astype(int).tolist()


def _apply_network(config: Configuration, base: Configuration, values: dict[str, Any]) -> None:
    net, planned = config.network, base.network
    stages = int(values["stages"])
    width = int(values["base_features"])
    # The plan's width cap (e.g. 320 for 32 base channels) scales with the base width.
    cap = max(planned.features) * width / planned.features[0]
    net.architecture = values["architecture"]
    net.features = [int(min(width * 2**i, cap)) for i in range(stages)]
    net.strides = [list(s) for s in planned.strides[:stages]]
    kernel = int(values["kernel_size"])
    net.kernel_sizes = [[1 if k == 1 else kernel for k in ks] for ks in planned.kernel_sizes[:stages]]
    blocks = values["blocks_per_stage"]
    net.blocks_per_stage = list(blocks)[:stages] if isinstance(blocks, list) else [int(blocks)] * stages
    net.decoder_blocks = int(values["decoder_blocks"])
    net.norm = values["norm"]
    net.activation = values["activation"]
    net.dropout = float(values["dropout"])
    net.deep_supervision = bool(values["deep_supervision"])
    # Architecture-specific options belong to the plan's architecture only.
    net.options = dict(planned.options) if net.architecture == planned.architecture else {}


def scaled_patch(patch: list[int], scale: float, stride: list[int], median: list[int]) -> list[int]:
    """`patch` scaled by `scale` per axis, rounded to a multiple of the network's stride; never larger than the
    median image (rounded up to the stride) unless the planned patch already was, never smaller than a bottleneck
    of MIN_BOTTLENECK_EDGE voxels (or the planned patch's bottleneck when that is smaller)."""
    out = []
    for p, s, m in zip(patch, stride, median):
        units = max(1, round(p * scale / s))
        largest = max(p // s, math.ceil(m / s))
        smallest = min(MIN_BOTTLENECK_EDGE, max(1, p // s))
        out.append(int(min(max(units, smallest), largest) * s))
    return out


def _apply_patch_and_batch(config: Configuration, base: Configuration, scale: float, batch: int) -> None:
    stride = total_stride(config.network.strides)
    median = list(base.median_shape)[-config.spatial_dims :]
    config.patch_size = scaled_patch(list(base.patch_size), scale, stride, median)
    config.batch_size = batch
    training = config.training
    small = base.training.progressive_patch_size
    if small:
        # Progressive resizing keeps the plan's ratio of small to full patch, and of small to full batch.
        ratio = [a / b for a, b in zip(small, base.patch_size)]
        new_small = [max(s, round(p * r / s) * s) for p, r, s in zip(config.patch_size, ratio, stride)]
        if new_small == config.patch_size:
            training.progressive_fraction = 0.0
            training.progressive_patch_size = None
            training.progressive_batch_size = None
        else:
            training.progressive_patch_size = new_small
            planned_batch = base.training.progressive_batch_size or base.batch_size
            training.progressive_batch_size = max(1, round(planned_batch * batch / base.batch_size))


def describe_changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """'name: old -> new' for every search parameter whose value differs (both as from space.plan_values)."""
    return [f"{k}: {before[k]} -> {after[k]}" for k in after if k in before and before[k] != after[k]]
