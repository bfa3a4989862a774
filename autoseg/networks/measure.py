"""Measured cost of real training steps on this machine, to check `cost.estimate_cost` against.

`measure_training_step` runs SGD steps (cross-entropy on every deep-supervision output, like the trainer) and
reports seconds per iteration and the peak resident-memory increase, from the kernel's resident high-water
mark (reset just before the step on Linux). Memory freed earlier but kept by the allocator hides part of a
peak, so the cleanest number comes from a fresh process: `measure_in_subprocess` runs it in one
(`python -m autoseg.networks.measure '<json args>'`), optionally with
glibc's allocator told to return freed memory at once, which makes the peak reproducible (see there).
Timings on a shared CPU are noisy; callers should say so.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from typing import Sequence

import psutil
import torch
import torch.nn.functional as F

from autoseg.networks.factory import as_spec, build_network
from autoseg.schema.convert import to_dict
from autoseg.schema.network import NetworkSpec


def _reset_peak_rss() -> str:
    """Restart the kernel's resident high-water mark for this process; returns how the peak will be read.

    Linux >= 4.0: writing 5 to /proc/self/clear_refs resets VmHWM. Elsewhere fall back to ru_maxrss, which
    cannot be reset and, after fork/vfork + exec, starts at the *parent's* peak (the kernel carries the old
    memory map's high-water mark over exec), so a measurement in a child of a big process would be hidden.
    """
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return "VmHWM"
    except OSError:
        return "ru_maxrss"


def _peak_rss_bytes(method: str) -> int:
    if method == "VmHWM":
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def _training_step(model, optimizer, x: torch.Tensor, num_classes: int, autocast_bf16: bool) -> None:
    # gradients are zeroed in place, not freed, so their memory stays the same before and during the step
    optimizer.zero_grad(set_to_none=False)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast_bf16):
        outputs = model(x)
    outputs = outputs if isinstance(outputs, list) else [outputs]
    targets = [torch.randint(0, num_classes, (o.shape[0], *o.shape[2:])) for o in outputs]
    loss = sum(F.cross_entropy(o.float(), t) for o, t in zip(outputs, targets))
    loss.backward()
    optimizer.step()


def measure_training_step(
    spec: NetworkSpec | dict,
    patch_size: Sequence[int],
    batch_size: int,
    iterations: int = 2,
    warmup: int = 1,
    autocast_bf16: bool = False,
    channels_last: bool = False,
    seed: int = 0,
) -> dict:
    """Seconds per SGD step (mean over `iterations` after `warmup` steps) and peak memory of the step.

    A first step on a minimal input pages in the kernels and creates the gradient and momentum buffers, then
    the resident size is taken; peak_rss_increase_bytes is the high-water mark above it (activations and
    transients), peak_training_bytes adds weights, gradients, momentum and input back, to compare with
    estimate_cost's peak_bytes_estimate."""
    spec = as_spec(spec)
    torch.manual_seed(seed)
    model = build_network(spec, seed=seed).train()
    memory_format = {2: torch.channels_last, 3: torch.channels_last_3d}[spec.spatial_dims]
    if channels_last:
        model = model.to(memory_format=memory_format)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.99, nesterov=True)

    def batch(size):
        x = torch.randn(batch_size, spec.in_channels, *size)
        return x.contiguous(memory_format=memory_format) if channels_last else x

    _training_step(model, optimizer, batch([2 * m for m in model.size_multiple]), spec.num_classes, autocast_bf16)
    x = batch(patch_size)
    peak_method = _reset_peak_rss()
    rss_before = psutil.Process().memory_info().rss
    hidden_by_earlier_peak = max(0, _peak_rss_bytes(peak_method) - rss_before)
    resident_before = 3 * sum(p.numel() for p in model.parameters()) * 4 + x.numel() * 4
    times = []
    for step in range(warmup + iterations):
        start = time.perf_counter()
        _training_step(model, optimizer, x, spec.num_classes, autocast_bf16)
        if step >= warmup:
            times.append(time.perf_counter() - start)
    increase = max(0, _peak_rss_bytes(peak_method) - rss_before)
    return {
        "seconds_per_iteration": sum(times) / len(times),
        "fastest_seconds_per_iteration": min(times),
        "peak_rss_increase_bytes": increase,
        "peak_training_bytes": increase + resident_before,
        "hidden_by_earlier_peak_bytes": hidden_by_earlier_peak,
        "peak_method": peak_method,
        "iterations": iterations,
        "threads": torch.get_num_threads(),
    }


def measure_in_subprocess(
    spec: NetworkSpec | dict,
    patch_size: Sequence[int],
    batch_size: int,
    timeout: float | None = None,
    exact_memory: bool = False,
    **kwargs,
) -> dict:
    """measure_training_step in a fresh interpreter, so the memory high-water mark is this step's alone.

    exact_memory: make glibc serve every allocation above 64 KiB with its own mmap (MALLOC_MMAP_THRESHOLD_),
    so freed tensors leave the resident set at once and the peak is the tensors' own (stable to a few %).
    With glibc's default (adaptive) threshold, freed blocks up to 32 MiB stay in the heap and the measured
    peak varies run to run by up to ~2x above that; the default is what a training process sees, and it is
    also faster (fewer page faults), so time with the default and measure memory with exact_memory.
    """
    spec_dict = to_dict(as_spec(spec))
    args = json.dumps({"spec": spec_dict, "patch_size": list(patch_size), "batch_size": batch_size, **kwargs})
    env = {**os.environ, **({"MALLOC_MMAP_THRESHOLD_": str(64 * 1024)} if exact_memory else {})}
    done = subprocess.run(
        [sys.executable, "-m", "autoseg.networks.measure", args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )
    if done.returncode != 0:
        raise RuntimeError(f"measurement subprocess failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _main(argv: list[str]) -> None:
    args = json.loads(argv[0])
    result = measure_training_step(args.pop("spec"), args.pop("patch_size"), args.pop("batch_size"), **args)
    print(json.dumps(result))


if __name__ == "__main__":
    _main(sys.argv[1:])
