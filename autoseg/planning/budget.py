"""Compute budgets: what a plan must fit into.

- GPU: memory. The networks' cost model estimates training memory of a patch/batch; the plan must fit.
- CPU: time. Memory is plentiful but a CPU trains ~50x slower than a GPU, so the binding constraint is how many
  iterations fit into the user's time budget. We measure this machine's training speed (FLOP/s of a real
  training step of the network family) and require a minimum number of iterations within the budget.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import torch

from autoseg.networks.cost import estimate_cost
from autoseg.networks.measure import measure_training_step
from autoseg.schema.network import NetworkSpec


@dataclass
class DeviceBudget:
    kind: str  # "cpu" or "cuda"
    name: str
    memory_bytes: float | None = None  # cuda: memory the plan may use
    time_budget_s: float | None = None  # cpu: training wall time the plan is sized for
    usable_fraction: float = 0.9  # share of the budget that is training steps (rest: validation, I/O)
    flops_per_s: dict[str, float] = field(default_factory=dict)  # cpu: measured training FLOP/s, "2d"/"3d"
    threads: int = 1
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


def detect_device(requested: str = "auto") -> str:
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested not in ("cpu", "cuda"):
        from autoseg.errors import AutosegError

        raise AutosegError(f"unknown device '{requested}'", fix="use auto, cpu or cuda")
    return requested


def cpu_name() -> str:
    """The CPU's model name, with its family and model numbers where it has them: a cloud CPU's name ("AMD EPYC")
    does not tell a Zen 3 (AVX2 only, fp32) from a Zen 4 (AVX512-BF16), which train at very different speeds."""
    try:
        with open("/proc/cpuinfo") as f:
            first_cpu = f.read().split("\n\n")[0].splitlines()
    except OSError:
        return "cpu"
    fields = {key.strip(): value.strip() for key, value in (line.split(":", 1) for line in first_cpu if ":" in line)}
    name = fields.get("model name", "cpu")
    if "cpu family" in fields and "model" in fields:
        return f"{name}, family {fields['cpu family']} model {fields['model']}"
    return name


@lru_cache(maxsize=1)
def cpu_has_fast_bf16() -> bool:
    """True when the CPU has bf16 matrix hardware (AMX or AVX512-BF16); without it bf16 is emulated and slow
    (measured here on an AVX2-only EPYC: 25x slower than fp32)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def training_threads() -> int:
    """Threads for the model: all cores but what augmentation workers need (they get their own processes)."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def measure_cpu_flops(spec: NetworkSpec, patch_size: list[int], batch_size: int, iterations: int = 3) -> float:
    """Training FLOP/s of `spec` on this CPU: a few real SGD steps, channels-last (3D), in the number format the
    trainer will pick (bf16 autocast where the CPU has bf16 matrix units and it is faster, else fp32).

    The fastest step counts: other programs can only slow a step down, so the minimum is the machine's speed."""
    cost = estimate_cost(spec, patch_size, batch_size)
    formats = [False, True] if cpu_has_fast_bf16() else [False]
    fastest = min(
        measure_training_step(
            spec,
            patch_size,
            batch_size,
            iterations=iterations,
            warmup=1,
            autocast_bf16=bf16,
            channels_last=spec.spatial_dims == 3,
        )["fastest_seconds_per_iteration"]
        for bf16 in formats
    )
    return cost["flops_train"] / max(fastest, 1e-6)


def cuda_budget(memory_gb: float | None) -> DeviceBudget:
    props = torch.cuda.get_device_properties(0)
    total = props.total_memory
    usable = min(total * 0.9, memory_gb * 1024**3) if memory_gb else total * 0.9
    return DeviceBudget(
        kind="cuda",
        name=props.name,
        memory_bytes=usable,
        notes=[f"GPU {props.name} with {total / 1024**3:.1f} GB; plans use up to {usable / 1024**3:.1f} GB"],
    )


def planned_gpu_budget(memory_gb: float | None) -> DeviceBudget:
    """A GPU budget for planning on a machine without CUDA (plan here, train elsewhere): only the memory the
    user names can be planned for, as there is no device to ask."""
    if not memory_gb:
        from autoseg.errors import AutosegError

        raise AutosegError(
            "--device cuda was asked for, but this machine has no CUDA GPU",
            fix="pass --gpu-memory GB to plan for a GPU of that size elsewhere, or use --device cpu",
        )
    return DeviceBudget(
        kind="cuda",
        name="planned without a GPU",
        memory_bytes=memory_gb * 1024**3,
        notes=[f"planned without a GPU for one with {memory_gb:g} GB (--gpu-memory)"],
    )


def busy_cpu_warning(cores: int, load: float | None = None) -> str | None:
    """A warning when other programs keep the CPU busy: the plan measures this machine's training speed, and a
    shared CPU measures slow, which sizes every patch and network too small for the idle machine (seen: a BraTS
    plan of 16x24x24 under a load of 8 on 2 cores, 48x64x64 on the quiet machine)."""
    if load is None:
        if not hasattr(os, "getloadavg"):
            return None
        load = os.getloadavg()[0]
    if load <= 0.5 * cores + 0.5:
        return None
    return (
        f"the CPU is busy (load average {load:.1f} on {cores} core(s)): speeds measured now are lower than "
        f"this machine's, so patches and networks come out smaller; plan when nothing else runs, or pass "
        f"--cpu-gflops with the speed an earlier plan measured (its plan.log)"
    )
