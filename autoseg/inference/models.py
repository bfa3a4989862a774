"""Trained models on disk: WORK/models/<configuration>/fold_<k>/checkpoint_*.pt (an exported model has the same
layout), loaded weights-only for prediction."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from autoseg.errors import AutosegError
from autoseg.layout.work import CHECKPOINT_FINAL, model_dir, trained_folds
from autoseg.schema.network import NetworkSpec
from autoseg.schema.plans import Configuration

if TYPE_CHECKING:  # torch is imported where a network is loaded: model_dir and trained_folds need no torch
    import torch


@dataclass
class LoadedModel:
    fold: str
    network: torch.nn.Module
    spec: NetworkSpec


def load_model(
    work: str | Path,
    configuration: str,
    fold: int | str,
    device: "torch.device",
    checkpoint: str = CHECKPOINT_FINAL,
    expected: Configuration | None = None,
) -> LoadedModel:
    path = model_dir(work, configuration, fold) / checkpoint
    if not path.is_file():
        available = trained_folds(work, configuration, checkpoint)
        raise AutosegError(
            f"no trained model for configuration '{configuration}' fold {fold}",
            path,
            f"train it with 'autoseg train {work} -c {configuration} -f {fold}'"
            + (f", or use the trained folds {available}" if available else ""),
        )
    from autoseg.utils.torch_files import safe_torch_load

    return network_from_state(safe_torch_load(path), str(fold), device, path, expected)


def network_from_state(
    state: dict, fold: str, device: "torch.device", path: str | Path, expected: Configuration | None = None
) -> LoadedModel:
    """The inference network of a checkpoint's state (a WORK's or an exported model's), ready to predict; its spec
    and weights are checked first (checkpoint_checks.py), against the plan's configuration `expected` if given."""
    if not isinstance(state, dict) or "weights" not in state or "network_spec" not in state:
        raise AutosegError(
            "not an autoseg checkpoint (no weights or network_spec)",
            path,
            "use a checkpoint_*.pt written by 'autoseg train' or 'autoseg export'",
        )
    from autoseg.inference.checkpoint_checks import checked_spec
    from autoseg.networks import build_network, reparameterize

    spec = checked_spec(state, path, expected)  # before anything is allocated
    network = build_network(spec)
    network.load_state_dict(state["weights"])
    network.eval()
    reparameterize(network)
    return LoadedModel(fold, network.to(device), spec)
