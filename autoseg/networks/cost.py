"""Cost of one training step of any registered architecture, without computing anything.

The model is built on PyTorch's "meta" device (tensors with shapes but no data) and run forward and backward
once in train mode: FlopCounterMode counts the FLOPs (a multiply-add = 2) and a saved_tensors_hooks pair records
every tensor autograd keeps for the backward pass, deduplicated by storage (views and in-place results share
one), so activation memory comes from the real graph of every architecture rather than from a formula.

Returned keys (all per training step of `batch_size` patches, fp32):
- parameters: trainable parameter count
- flops_forward, flops_train (forward + backward), gflops_forward, gflops_train
- activation_bytes: memory held for backward (saved tensors, excluding the parameters themselves), including
  a cross-entropy loss on every output as the trainer computes
- largest_activation_bytes: the biggest single saved storage
- parameter_bytes: weights + gradients + one momentum buffer (SGD with momentum, nnU-Net's optimiser)
- peak_bytes_estimate: parameter_bytes + input + activation_bytes + 2 x largest_activation_bytes (the
  gradient buffers alive at once during backward; calibrated against measured CPU peaks, see
  benchmarks/networks/results.md)
Adam would add one more parameter-sized buffer; bf16 autocast roughly halves the activation part.
"""

from __future__ import annotations

import functools
import json
from typing import Sequence

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from autoseg.networks.factory import as_spec, build_network, validate_spec
from autoseg.schema.convert import to_dict
from autoseg.schema.network import NetworkSpec

FP32_BYTES = 4
TRANSIENT_GRADIENT_BUFFERS = 2


def estimate_cost(spec: NetworkSpec | dict, patch_size: Sequence[int], batch_size: int) -> dict:
    """Parameters, FLOPs and training memory of `spec` for `batch_size` patches of `patch_size` (numpy order)."""
    spec = as_spec(spec)
    validate_spec(spec)
    if len(patch_size) != spec.spatial_dims:
        raise ValueError(f"patch_size {tuple(patch_size)} has {len(patch_size)} axes, the network {spec.spatial_dims}")
    key = json.dumps(to_dict(spec), sort_keys=True)
    return dict(_estimate(key, tuple(int(s) for s in patch_size), int(batch_size)))


@functools.lru_cache(maxsize=16)
def _meta_model(spec_json: str) -> torch.nn.Module:
    with torch.device("meta"):
        model = build_network(json.loads(spec_json))
    return model.train()


@functools.lru_cache(maxsize=1024)
def _estimate(spec_json: str, patch_size: tuple[int, ...], batch_size: int) -> dict:
    model = _meta_model(spec_json)
    parameters = [p for p in model.parameters() if p.requires_grad]
    x = torch.empty((batch_size, model.in_channels, *patch_size), device="meta")
    # weights and the input batch are resident anyway and counted separately
    counted_elsewhere = {t.untyped_storage()._cdata for t in [x, *model.parameters()]}
    saved: dict[int, tuple[int, torch.Tensor]] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage._cdata not in counted_elsewhere:
            saved.setdefault(storage._cdata, (storage.nbytes(), tensor))  # keep it alive: ids stay unique
        return tensor

    try:
        with FlopCounterMode(display=False) as counter:
            with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
                outputs = model(x)
                flops_forward = counter.get_total_flops()
                outputs = outputs if isinstance(outputs, list) else [outputs]
                # cross-entropy like the trainer: its log-softmax is held for backward too
                loss = sum(
                    F.cross_entropy(o, torch.zeros((o.shape[0], *o.shape[2:]), dtype=torch.long, device="meta"))
                    for o in outputs
                )
            loss.backward()
            flops_train = counter.get_total_flops()
    finally:
        model.zero_grad(set_to_none=True)
    sizes = [nbytes for nbytes, _ in saved.values()]
    saved.clear()
    n_params = sum(p.numel() for p in parameters)
    activation_bytes = sum(sizes)
    largest = max(sizes, default=0)
    parameter_bytes = 3 * n_params * FP32_BYTES
    input_bytes = x.numel() * FP32_BYTES
    return {
        "parameters": n_params,
        "flops_forward": int(flops_forward),
        "flops_train": int(flops_train),
        "gflops_forward": flops_forward / 1e9,
        "gflops_train": flops_train / 1e9,
        "activation_bytes": int(activation_bytes),
        "largest_activation_bytes": int(largest),
        "parameter_bytes": int(parameter_bytes),
        "peak_bytes_estimate": int(
            parameter_bytes + input_bytes + activation_bytes + TRANSIENT_GRADIENT_BUFFERS * largest
        ),
    }
