"""Several training processes (torchrun): one per GPU, or several CPU processes on the gloo backend.

Each rank samples its own patches (seed + rank); gradients are averaged by DistributedDataParallel; rank 0
writes checkpoints and logs and decides when the time budget is spent, so every rank stops at the same step.
"""

from __future__ import annotations

import atexit
import os

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(device_kind: str) -> tuple[int, int]:
    """(rank, world_size); initialises the process group when launched by torchrun."""
    if not is_distributed():
        return 0, 1
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device_kind == "cuda" else "gloo")
        # Kept for the process's life: a second init_process_group after a destroy waits forever on torchrun's
        # store, and a process may train several times (-f 0 1 2, a --total-budget schedule).
        atexit.register(teardown)
    if device_kind == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return dist.get_rank(), dist.get_world_size()


def teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def _scalar(value: float) -> torch.Tensor:
    # NCCL only moves GPU tensors; gloo moves CPU ones.
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
    return torch.tensor([value], dtype=torch.float64, device=device)


def broadcast_float(value: float) -> float:
    """Rank 0's value on every rank (elapsed time drives the schedule and the stop)."""
    if not dist.is_initialized():
        return value
    tensor = _scalar(value)
    dist.broadcast(tensor, 0)
    return float(tensor.item())


def broadcast_choice(value: str, options: tuple[str, ...]) -> str:
    """Rank 0's pick among `options` on every rank (each rank measures its own precision; they must agree)."""
    if not dist.is_initialized():
        return value
    return options[int(broadcast_float(float(options.index(value))))]


def average(value: float) -> float:
    if not dist.is_initialized():
        return value
    tensor = _scalar(value)
    dist.all_reduce(tensor)
    return float(tensor.item()) / dist.get_world_size()


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def ranks_agree(model: torch.nn.Module) -> bool:
    """True when every rank holds the same weights (DDP keeps them in step; a check worth its microseconds)."""
    if not dist.is_initialized():
        return True
    checksum = torch.stack([p.detach().double().sum() for p in model.parameters()]).sum().reshape(1)
    gathered = [torch.zeros_like(checksum) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, checksum)
    return all(torch.allclose(g, gathered[0], rtol=1e-9, atol=1e-9) for g in gathered)
