"""build_network: the one way to turn a NetworkSpec (or its plans.json dict) into a torch module."""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from autoseg.networks.ops import ACTIVATIONS, NORMS, kaiming_init
from autoseg.networks.registry import get_builder
from autoseg.networks.spec_checks import spec_problem, validate_structure
from autoseg.schema.convert import from_dict
from autoseg.schema.network import NetworkSpec


def as_spec(spec: NetworkSpec | dict) -> NetworkSpec:
    if isinstance(spec, NetworkSpec):
        return spec
    return from_dict(NetworkSpec, spec, "network")


def build_network(spec: NetworkSpec | dict, seed: int | None = None) -> nn.Module:
    """Build the registered architecture `spec.architecture` with He-initialised weights.

    With a seed, weights depend only on (spec, seed) and the global RNG is left untouched; without one the
    global torch RNG is used.
    """
    spec = as_spec(spec)
    builder = get_builder(spec.architecture)
    validate_spec(spec)
    rng = torch.random.fork_rng(devices=[]) if seed is not None else contextlib.nullcontext()
    with rng:
        if seed is not None:
            torch.manual_seed(seed)
        model = builder(spec)
        kaiming_init(model, spec.activation)
        reset_special_parameters(model)
    return model


def reset_special_parameters(model: nn.Module) -> None:
    """Blocks with parameters outside conv/linear layers (e.g. RepMLP's grouped FC) initialise them here, after
    the generic He init, in a fixed module order so seeding stays deterministic."""
    for m in model.modules():
        if m is not model and hasattr(m, "reset_special_parameters"):
            m.reset_special_parameters()


def validate_spec(spec: NetworkSpec) -> None:
    """Raise AutosegError naming the field and the fix for a spec no architecture can build."""
    validate_structure(spec)  # stages, kernels, strides, blocks, dropout (spec_checks.py: no torch needed)
    if spec.norm not in NORMS:
        spec_problem(f"unknown norm '{spec.norm}'", f"use one of {list(NORMS)}")
    if spec.activation not in ACTIVATIONS:
        spec_problem(f"unknown activation '{spec.activation}'", f"use one of {list(ACTIVATIONS)}")
