"""A checkpoint from someone else is checked before its network is allocated: its network_spec against the
declared schema and the plan, its size against the machine, and every weight tensor against the shape the
network built from that spec has (built on PyTorch's meta device, which allocates nothing). A mismatch is one
line naming the tensor and both shapes, not load_state_dict's page of traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autoseg.errors import AutosegError
from autoseg.inference.plans_sanity import check_patch_divisible, check_spec_structure
from autoseg.networks.memory_limit import check_network_fits
from autoseg.schema.convert import from_dict
from autoseg.schema.load import validate_data
from autoseg.schema.network import NetworkSpec
from autoseg.schema.network_file import NetworkSpecFile
from autoseg.schema.plans import Configuration

FIX = "export or copy the model again; this checkpoint does not belong to its plan"


def checked_spec(state: dict[str, Any], path: str | Path, expected: Configuration | None = None) -> NetworkSpec:
    """The checkpoint's NetworkSpec once its schema, structure, agreement with the plan's configuration
    (`expected`), memory need and weight shapes are checked."""
    validate_data(state["network_spec"], NetworkSpecFile, "checkpoint", path, FIX, within="network_spec")
    spec = from_dict(NetworkSpec, state["network_spec"], "checkpoint.network_spec", str(path))
    check_spec_structure(spec, "the checkpoint's network_spec", path)
    if expected is not None:
        _check_against_plan(spec, expected, path)
    patch = expected.patch_size if expected is not None else None
    check_network_fits(spec, patch, "this checkpoint", path)
    parameters = check_weight_shapes(spec, state["weights"], path)
    check_network_fits(spec, patch, "this checkpoint", path, parameters=parameters)
    return spec


def _check_against_plan(spec: NetworkSpec, config: Configuration, path: str | Path) -> None:
    planned = config.network
    for field in ("spatial_dims", "in_channels", "num_classes"):
        if getattr(spec, field) != getattr(planned, field):
            raise AutosegError(
                f"the checkpoint's network has {field} {getattr(spec, field)} but plans.json's "
                f"configuration '{config.name}' has {getattr(planned, field)}",
                path,
                FIX,
            )
    check_patch_divisible(config.patch_size, spec.strides, f"configuration '{config.name}' with this checkpoint", path)


def check_weight_shapes(spec: NetworkSpec, weights: Any, path: str | Path) -> int:
    """Every tensor of `weights` against the network built from `spec` on the meta device; returns the
    network's parameter count."""
    import torch

    from autoseg.networks import build_network

    if not isinstance(weights, dict) or not all(isinstance(k, str) for k in weights):
        raise AutosegError("the checkpoint's weights are not a dict of named tensors", path, FIX)
    with torch.device("meta"):
        network = build_network(spec)
    wanted = network.state_dict()
    for name, tensor in wanted.items():
        found = weights.get(name)
        if not isinstance(found, torch.Tensor):
            raise AutosegError(
                f"the checkpoint has no tensor '{name}' (the network needs shape {tuple(tensor.shape)})", path, FIX
            )
        if tuple(found.shape) != tuple(tensor.shape):
            raise AutosegError(
                f"tensor '{name}' has shape {tuple(found.shape)} in the checkpoint but the network "
                f"built from its network_spec needs {tuple(tensor.shape)}",
                path,
                FIX,
            )
    extra = sorted(set(weights) - set(wanted))
    if extra:
        raise AutosegError(f"the checkpoint has tensor(s) the network does not: {extra[:3]}", path, FIX)
    return sum(p.numel() for p in network.parameters())
