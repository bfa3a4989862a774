"""Before a model predicts, its plans are checked for sense: a plans.json from someone else may be well-formed
(schema/plans_file.py) yet describe a network that cannot run on its patch, or one that would not fit in memory.
Each problem is one line naming plans.json, the configuration and the fix, before any network is built."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from autoseg.errors import AutosegError
from autoseg.networks.memory_limit import check_network_fits
from autoseg.schema.plans import Configuration, Plans

FIX = "export the model again from the plan it was trained with, or correct plans.json"


def check_plans_for_prediction(plans: Plans, names: list[str], source: str | Path | None) -> None:
    """Every configuration in `names` (and the previous stages of cascades) checked; raises on the first problem."""
    todo = list(names)
    for name in todo:
        if name not in plans.configurations:
            raise AutosegError(
                f"configuration '{name}' (named by -c, inference.json or a cascade stage) is not in plans.json",
                source,
                f"choose one of {sorted(plans.configurations)}",
            )
        config = plans.configuration(name)
        check_configuration(plans, config, source)
        if config.previous_stage and config.previous_stage not in todo:
            todo.append(config.previous_stage)


def check_configuration(plans: Plans, config: Configuration, source: str | Path | None) -> None:
    where = f"configuration '{config.name}'"
    spacing = np.asarray(config.spacing, dtype=float)
    if not np.all(np.isfinite(spacing)) or np.any(spacing <= 0):
        raise AutosegError(
            f"{where} has spacing {config.spacing}: every spacing must be positive and finite", source, FIX
        )
    check_spec_structure(config.network, where, source)
    check_patch_divisible(config.patch_size, config.network.strides, where, source)
    if config.network.num_classes != plans.num_outputs:
        raise AutosegError(
            f"{where}: the network has {config.network.num_classes} outputs but the plan's labels "
            f"need {plans.num_outputs}",
            source,
            FIX,
        )
    channels = len(plans.channel_names)
    if config.network.in_channels < channels or (not config.previous_stage and config.network.in_channels != channels):
        raise AutosegError(
            f"{where}: the network takes {config.network.in_channels} input channel(s) but the plan "
            f"lists {channels} ({plans.channel_names})",
            source,
            FIX,
        )
    check_network_fits(config.network, config.patch_size, where, source)


def check_spec_structure(spec, where: str, source: str | Path | None) -> None:
    """networks.spec_checks.validate_structure (one kernel and stride list per stage, odd kernels, ...) naming the
    file; torch-free, so the onnxruntime backend checks a plan too (norm and activation names are checked when a
    torch network is built)."""
    from autoseg.networks.spec_checks import validate_structure

    try:
        validate_structure(spec)
    except AutosegError as error:
        raise AutosegError(f"{where}: {error.problem}", source, error.fix) from None


def check_patch_divisible(
    patch_size: list[int], strides: list[list[int]], where: str, source: str | Path | None
) -> None:
    """A U-Net needs whole feature maps at every stage: each patch axis a multiple of the total stride."""
    total = [math.prod(axis) for axis in zip(*strides)]
    if len(total) != len(patch_size) or any(p % t for p, t in zip(patch_size, total)):
        raise AutosegError(
            f"{where}: patch_size {patch_size} is not divisible by the network's total downsampling {total} per axis",
            source,
            "make each patch axis a multiple of the total stride, or " + FIX,
        )
