"""Where and in what number format sliding-window results live.

A 512x512x400 CT with 3 classes has 315 M logits: 1.26 GB in float32 for the logits alone, more for the
weights and the probabilities made from them. Above COMPACT_ABOVE_BYTES the accumulators are float16 (as
nnU-Net's), which halves that and changes a probability by ~1e-3 at most; small cases keep float32, so their
results do not change at all.

On a GPU the accumulators go on the GPU when they fit in its free memory, and on the CPU otherwise; if the GPU
still runs out of memory the whole case is predicted again with CPU accumulation (nnU-Net does the same). The
decisions take the device facts as arguments, so they are tested on a machine without a GPU.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable, TypeVar

from autoseg.utils.logs import get_logger

if TYPE_CHECKING:  # torch is imported where it is used: the ONNX backend predicts without it (compact_results)
    import torch

log = get_logger("predict")

COMPACT_ABOVE_BYTES = 512 * 1024**2  # float32 results above this size are kept in float16
GPU_RESULTS_SHARE = 0.5  # results may take this share of the GPU's free memory (the network needs the rest)
T = TypeVar("T")


def compact_results(channels: int, spatial_shape, compact_above: int = COMPACT_ABOVE_BYTES) -> bool:
    """Whether `channels` float32 maps of this shape would exceed `compact_above` bytes (then float16)."""
    return channels * math.prod(spatial_shape) * 4 > compact_above


def accumulation_dtype(channels: int, spatial_shape, compact_above: int = COMPACT_ABOVE_BYTES) -> "torch.dtype":
    """float16 when `channels` float32 maps of this shape would exceed `compact_above` bytes, else float32."""
    import torch

    return torch.float16 if compact_results(channels, spatial_shape, compact_above) else torch.float32


def results_device(device: "torch.device", nbytes: int, free_bytes: int | None = None) -> "torch.device":
    """Accumulate on `device` when it is the CPU, or when `nbytes` fits in GPU_RESULTS_SHARE of its free memory
    (`free_bytes`; asked of CUDA when not given); the CPU otherwise."""
    if device.type != "cuda":
        return device
    import torch

    if free_bytes is None:
        free_bytes = torch.cuda.mem_get_info(device)[0]
    return device if nbytes <= GPU_RESULTS_SHARE * free_bytes else torch.device("cpu")


def run_with_cpu_fallback(
    run: Callable[["torch.device"], T],
    device: "torch.device",
    nbytes: int,
    free_bytes: int | None = None,
    empty_cache: Callable[[], None] | None = None,
) -> T:
    """run(results device) on the device results_device chose; on a GPU out-of-memory, run(cpu) again."""
    import torch

    chosen = results_device(device, nbytes, free_bytes)
    if chosen.type == "cpu":
        return run(chosen)
    try:
        return run(chosen)
    except torch.OutOfMemoryError:
        log.warning(
            "the GPU ran out of memory keeping this case's results (%.2f GB); predicting it again with "
            "the results on the CPU",
            nbytes / 1e9,
        )
        (empty_cache or torch.cuda.empty_cache)()
        return run(torch.device("cpu"))
