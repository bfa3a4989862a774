"""Which number format to train in, decided by measurement, not by assumption.

- CUDA: bf16 autocast where supported, else fp16 with a gradient scaler.
- CPU: bf16 autocast only where the CPU has bf16 matrix units (AMX / AVX512-BF16) *and* a measured step is
  faster than fp32. Without those units bf16 is emulated: 25x slower on the AVX2 EPYC we measured.
"""

from __future__ import annotations

import time
from contextlib import nullcontext

import torch

from autoseg.planning.budget import cpu_has_fast_bf16
from autoseg.utils.logs import get_logger

log = get_logger("train")

PRECISIONS = ("fp32", "bf16", "fp16")  # what choose_precision returns


def choose_precision(setting: str, device: torch.device, model: torch.nn.Module, example) -> str:
    """`example` is a callable giving one training batch; it is only drawn when a measurement is needed."""
    if setting != "auto":
        return setting
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if not cpu_has_fast_bf16():
        log.info("precision: fp32 (this CPU has no bf16 matrix units; emulated bf16 is far slower)")
        return "fp32"
    batch = example()
    fp32, bf16 = _interleaved_times(model, batch)
    choice = "bf16" if bf16 < 0.9 * fp32 else "fp32"
    log.info("precision: %s (measured step fp32 %.3f s, bf16 autocast %.3f s)", choice, fp32, bf16)
    return choice


def autocast(device: torch.device, precision: str):
    if precision == "fp32":
        return nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype)


def _interleaved_times(model: torch.nn.Module, example: torch.Tensor, rounds: int = 4) -> tuple[float, float]:
    """Fastest fp32 and bf16 step, measured in alternation after one warm-up step of each.

    Alternating matters: oneDNN builds its kernels on first use, and whatever else runs on the machine slows
    whichever format happens to be timed then; three steps of one, then three of the other, once made bf16
    look slower than fp32 on a CPU where it is 1.5x faster."""
    times: dict[object, list[float]] = {None: [], torch.bfloat16: []}
    for round_ in range(rounds + 1):
        for dtype in times:
            start = time.perf_counter()
            with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
                out = model(example)
                loss = sum(o.float().mean() for o in (out if isinstance(out, list) else [out]))
            loss.backward()
            if round_ > 0:
                times[dtype].append(time.perf_counter() - start)
    model.zero_grad(set_to_none=True)
    return min(times[None]), min(times[torch.bfloat16])
