"""Channels-last or not, decided by measurement on CPU, like the precision.

oneDNN's convolutions are faster channels-last for some shapes and CPUs and not for others. Measured on this
project's machines: 3D U-Net steps 1.4x faster channels-last on a 2-core Xeon (AMX, bf16) and 1.3-1.45x on a
2-core EPYC (AVX2, fp32); the ISBI 2D U-Net (patch 128x160, batch 4, fp32, compiled) 10% more iterations in
10 minutes on the EPYC, where a fixed "3D only" rule had left it off. So "auto" on CPU times a few
steps both ways and keeps channels-last when it is clearly faster. On CUDA cuDNN picks its own layouts: off.
Deterministic runs (tests) skip the timing, so that a noisy measurement cannot change their numbers.
"""
from __future__ import annotations

import time

import torch

from autoseg.errors import AutosegError
from autoseg.utils.logs import get_logger

log = get_logger("train")

CHOICES = ("off", "on")  # what choose_channels_last resolves to
CLEARLY_FASTER = 0.95    # channels-last must take at most this share of the default layout's step time


def memory_format_for(dims: int) -> torch.memory_format:
    return torch.channels_last_3d if dims == 3 else torch.channels_last


def choose_channels_last(setting: str, device: torch.device, model: torch.nn.Module, patch: list[int],
                         batch: int, in_channels: int, deterministic: bool) -> str:
    """The plan's `training.channels_last` ("auto", "on", "off") resolved to "on" or "off" for this run."""
    if setting in CHOICES:
        return setting
    if setting != "auto":
        raise AutosegError(f"unknown training.channels_last value {setting!r} in plans.json", fix="use auto, on or off")
    dims = len(patch)
    if device.type != "cpu":
        return "off"
    if deterministic:
        return "on" if dims == 3 else "off"
    example = torch.randn(batch, in_channels, *patch)
    default, last = _interleaved_times(model, example, memory_format_for(dims))
    choice = "on" if last <= CLEARLY_FASTER * default else "off"
    log.info("channels-last: %s (measured step %.3f s default layout, %.3f s channels-last)", choice, default, last)
    return choice


def _interleaved_times(model: torch.nn.Module, example: torch.Tensor, fmt: torch.memory_format,
                       rounds: int = 3) -> tuple[float, float]:
    """Fastest step in each layout, alternating after one warm-up of each (see precision.py for why)."""
    times: dict[bool, list[float]] = {False: [], True: []}
    for round_ in range(rounds + 1):
        for last in times:
            model.to(memory_format=fmt if last else torch.contiguous_format)
            x = example.contiguous(memory_format=fmt) if last else example
            start = time.perf_counter()
            out = model(x)
            sum(o.float().mean() for o in (out if isinstance(out, list) else [out])).backward()
            if round_ > 0:
                times[last].append(time.perf_counter() - start)
    model.to(memory_format=torch.contiguous_format)
    model.zero_grad(set_to_none=True)
    return min(times[False]), min(times[True])
