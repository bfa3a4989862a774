"""`plan DATASET --plans-from OTHER_WORK[/plans.json]`: nnU-Net's plans transfer. The new dataset is verified,
fingerprinted and preprocessed for itself, but with the other plan's configurations -- axis order, spacing,
patch and batch size, network and training choices -- so that `train --init-from` weights of the other model
fit. Only what must follow the new data changes: channel normalisation (from the new fingerprint), input
channels and output classes (their layers are re-initialised by init-from), and the median shapes."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np

from autoseg.errors import AutosegError
from autoseg.layout.work import PLANS
from autoseg.schema.plans import Configuration, Plans, load_plans


def load_source_plans(source: str | Path) -> tuple[Plans, Path]:
    source = Path(source)
    folder = source.parent if source.name == PLANS else source
    if not (folder / PLANS).is_file():
        raise AutosegError(
            "--plans-from: no plans.json there",
            source,
            "pass another WORK folder (or an exported model folder) or its plans.json",
        )
    return load_plans(folder), folder / PLANS


def transfer_configurations(
    source: Plans, origin: Path, decided: dict[str, Any], fingerprint: dict[str, Any]
) -> dict[str, Any]:
    """`decided` (what the planner chose for the new data) with the source plan's transpose and configurations."""
    own = next(iter(decided["configurations"].values()))
    configurations = {}
    for name, config in source.configurations.items():
        if fingerprint["is_2d"] and config.spatial_dims == 3:
            continue  # a 3D network has no use on 2D images
        configurations[name] = _transferred(config, own, fingerprint, source, origin)
    if not configurations:
        raise AutosegError(
            "--plans-from: none of its configurations fits this dataset (3D plans, 2D images)",
            origin,
            "transfer from a plan with a 2d configuration",
        )
    return {
        **decided,
        "transpose_forward": list(source.transpose_forward),
        "transpose_backward": list(source.transpose_backward),
        "configurations": configurations,
    }


def _transferred(
    config: Configuration, own: Configuration, fingerprint: dict[str, Any], source: Plans, origin: Path
) -> Configuration:
    """The source plan's `config` for this dataset: its channels, classes, normalisation (`own`) and median shape
    (on the source's axis order)."""
    num_classes, channels = len(fingerprint["labels"]), fingerprint["num_channels"]
    forward, backward = source.transpose_forward, source.transpose_backward
    new = copy.deepcopy(config)
    new.normalization = copy.deepcopy(own.normalization)
    new.network.in_channels = channels + (num_classes - 1 if config.previous_stage else 0)
    new.network.num_classes = num_classes  # regions, when planned, are applied afterwards (region_choice.py)
    new.median_shape = _median_shape(fingerprint, [config.spacing[b] for b in backward], forward)
    changed = [f"in_channels {config.network.in_channels}->{new.network.in_channels}"] * (
        new.network.in_channels != config.network.in_channels
    ) + [f"classes {config.network.num_classes}->{num_classes}"] * (config.network.num_classes != num_classes)
    new.reasons = [
        f"transferred from {origin}: spacing, patch, batch, network and training as planned there; "
        "normalisation from this dataset" + (f"; {', '.join(changed)}" if changed else "")
    ]
    return new


def _median_shape(fingerprint: dict[str, Any], spacing: list[float], forward: list[int]) -> list[int]:
    """Median cropped shape of the new cases at the transferred spacing, in the transferred axis order."""
    shapes = np.array([c["cropped_shape"] for c in fingerprint["cases"]], dtype=float)
    spacings = np.array([c["spacing"] for c in fingerprint["cases"]], dtype=float)
    at_target = shapes * spacings / np.asarray(spacing, dtype=float)
    if fingerprint["is_2d"]:
        at_target[:, 0] = 1
    median = np.maximum(np.round(np.median(at_target, axis=0)), 1)
    return [int(median[a]) for a in forward]
