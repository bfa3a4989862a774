"""build_network: the one way to turn a NetworkSpec (or its plans.json dict) into a torch module."""
from __future__ import annotations

import contextlib

import torch
from torch import nn

from autoseg.errors import AutosegError
from autoseg.networks.ops import ACTIVATIONS, NORMS, kaiming_init
from autoseg.networks.registry import get_builder
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
    def fail(message: str, fix: str) -> None:
        raise AutosegError(f"network spec: {message}", fix=fix)

    d = spec.spatial_dims
    n = spec.num_stages
    if d not in (2, 3):
        fail(f"spatial_dims must be 2 or 3, got {d}", "set network.spatial_dims to 2 or 3")
    if n < 2:
        fail(f"need at least 2 stages, got features={spec.features}", "give network.features one width per stage")
    if any(int(f) < 1 for f in spec.features):
        fail(f"features must be positive, got {spec.features}", "fix network.features")
    if spec.in_channels < 1 or spec.num_classes < 1:
        fail("in_channels and num_classes must be >= 1", "fix network.in_channels / network.num_classes")
    for name in ("kernel_sizes", "strides"):
        value = getattr(spec, name)
        if len(value) != n or any(len(v) != d for v in value):
            fail(f"{name} must have {n} entries (one per stage) of {d} values each, got {value}",
                 f"give network.{name} one [{', '.join(['k'] * d)}] list per stage")
    if any(k < 1 or k % 2 == 0 for ks in spec.kernel_sizes for k in ks):
        fail(f"kernel sizes must be odd and positive, got {spec.kernel_sizes}", "use odd kernels such as 1 or 3")
    if any(s < 1 for ss in spec.strides for s in ss):
        fail(f"strides must be >= 1, got {spec.strides}", "fix network.strides")
    if any(s != 1 for s in spec.strides[0]):
        fail(f"strides[0] must be all ones (stage 0 is full resolution), got {spec.strides[0]}",
             "set network.strides[0] to ones and move the downsampling to the next stage")
    if len(spec.encoder_blocks()) != n or any(b < 1 for b in spec.encoder_blocks()):
        fail(f"blocks_per_stage must be empty or {n} positive counts, got {spec.blocks_per_stage}",
             "fix network.blocks_per_stage")
    if spec.decoder_blocks < 1:
        fail(f"decoder_blocks must be >= 1, got {spec.decoder_blocks}", "fix network.decoder_blocks")
    if spec.norm not in NORMS:
        fail(f"unknown norm '{spec.norm}'", f"use one of {list(NORMS)}")
    if spec.activation not in ACTIVATIONS:
        fail(f"unknown activation '{spec.activation}'", f"use one of {list(ACTIVATIONS)}")
    if not 0.0 <= spec.dropout < 1.0:
        fail(f"dropout must be in [0, 1), got {spec.dropout}", "fix network.dropout")
    if not isinstance(spec.options, dict):
        fail("options must be a JSON object", "fix network.options")
