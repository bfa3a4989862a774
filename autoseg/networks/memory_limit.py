"""How much memory a network from a plan or a checkpoint would take, estimated from its spec alone, and the
refusal of one that would not fit: a model from someone else may declare widths or a patch that would allocate
terabytes, and that must be one line before anything is allocated, not an out-of-memory kill.

The estimate is analytic (no module is built): parameters from the first convolution of every stage (a lower
bound: every architecture has at least these), activations of predicting one patch from the feature maps a
U-Net keeps (every stage's skip) plus three of the largest (a convolution's input and output, and the decoder's
concatenation). Both are fp32. A real plan needs a small fraction of the machine; the limit is the machine's
RAM, or AUTOSEG_MAX_NETWORK_BYTES for a model meant for a bigger machine.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Sequence

import psutil

from autoseg.errors import AutosegError
from autoseg.schema.network import NetworkSpec

FP32_BYTES = 4
LIMIT_VARIABLE = "AUTOSEG_MAX_NETWORK_BYTES"


def network_bytes_limit() -> int:
    text = os.environ.get(LIMIT_VARIABLE)
    if text is None:
        return int(psutil.virtual_memory().total)
    if not text.strip().isdigit() or int(text) < 1:
        raise AutosegError(
            f"{LIMIT_VARIABLE}={text!r} is not a positive number of bytes",
            fix=f"unset it or set e.g. {LIMIT_VARIABLE}=68719476736 (64 GiB)",
        )
    return int(text)


def parameter_lower_bound(spec: NetworkSpec) -> int:
    """Weights of each stage's first convolution (input width x output width x kernel volume)."""
    widths = [spec.in_channels, *spec.features]
    return sum(widths[i] * widths[i + 1] * math.prod(kernel) for i, kernel in enumerate(spec.kernel_sizes))


def inference_activation_bytes(spec: NetworkSpec, patch_size: Sequence[int], batch_size: int = 1) -> int:
    """fp32 bytes of the feature maps a U-Net holds while predicting `batch_size` patches (see module doc)."""
    voxels, per_stage = list(patch_size), []
    for width, stride in zip(spec.features, spec.strides):
        voxels = [max(1, v // s) for v, s in zip(voxels, stride)]
        per_stage.append(width * math.prod(voxels))
    if not per_stage:
        return 0
    return FP32_BYTES * batch_size * (sum(per_stage) + 3 * max(per_stage))


def check_network_fits(
    spec: NetworkSpec,
    patch_size: Sequence[int] | None,
    what: str,
    source: str | Path | None,
    parameters: int | None = None,
) -> None:
    """Refuse (one line) a network whose weights and, with a patch, prediction activations exceed the limit.
    `parameters`: the exact count when known (a network built on the meta device), else the lower bound."""
    count = parameter_lower_bound(spec) if parameters is None else parameters
    weights = FP32_BYTES * count
    activations = inference_activation_bytes(spec, patch_size) if patch_size is not None else 0
    limit = network_bytes_limit()
    if weights + activations <= limit:
        return
    patch = f" and {_gib(activations)} of feature maps for one {list(patch_size)} patch" if patch_size else ""
    raise AutosegError(
        f"the network of {what} would need {_gib(weights + activations)}: {count:,} parameters "
        f"({_gib(weights)}){patch}, above this machine's limit of {_gib(limit)}; nothing was "
        f"allocated",
        source,
        f"check that the model is the one you meant (widths {spec.features}); to run a genuinely "
        f"larger model on a machine with the memory, set {LIMIT_VARIABLE} to its bytes",
    )


def _gib(n: int) -> str:
    return f"{n / 2**30:.3g} GiB"
