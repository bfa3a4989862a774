"""torch.compile for prediction: one compiled shape per network, chosen like training's, safe to fail.

Inductor fuses the instance norms and activations that dominate a narrow U-Net (training on this project's CPU:
0.214 s a step eager, 0.100 s compiled). Compiling costs seconds to tens of seconds per input shape, so:
- every forward pass is given the same shape: the first batch fixes it, smaller batches (a case's last windows)
  are zero-padded up to it and larger ones split, so a whole predict compiles once per network;
- `--compile auto` compiles when the fold was trained compiled (so the compiler works on this machine and the
  network profits) and the command has enough cases to earn the start-up back (MIN_CASES); "on" and "off" force;
- a compiler failure logs why and the prediction goes on eagerly.
"""

from __future__ import annotations

from typing import Any

import torch

from autoseg.errors import AutosegError
from autoseg.utils.files import read_json
from autoseg.utils.logs import get_logger

log = get_logger("predict")

CHOICES = ("auto", "on", "off")
# auto: fewer cases do not earn back a cold compile. Measured (benchmarks/large_volume/results.md, Hippocampus
# 3d_fullres, mirror TTA, 2-core EPYC): first case 13.3 s cold / 2.7 s with Inductor's disk cache warm, then
# ~0.45 s a case against 0.66 s eager: break-even after ~60 cases cold, ~10 warm.
MIN_CASES = 50


def use_inference_compile(setting: str, trained_compiled: list[bool | None], cases: int) -> bool:
    if setting not in CHOICES:
        raise AutosegError(f"unknown --compile value {setting!r}", fix=f"use one of {', '.join(CHOICES)}")
    if setting != "auto":
        return setting == "on"
    return bool(trained_compiled) and all(trained_compiled) and cases >= MIN_CASES


def trained_compiled(summary_path) -> bool | None:
    """Whether a fold's training ran compiled (its training_summary.json), None when not recorded."""
    try:
        value = read_json(summary_path, "training summary").get("compiled")  # size and nesting bounded
    except (AutosegError, OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, bool) else None


class CompiledNetwork:
    """Calls `network` compiled on one fixed batch size (the first one seen), padding or splitting other batches;
    after a compiler failure, calls it eagerly."""

    def __init__(self, network: torch.nn.Module):
        self.network = network
        self.compiled: Any = torch.compile(network, dynamic=False)
        self.batch: int | None = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.compiled is None:
            return self.network(x)
        try:
            return self._fixed_batches(x)
        except Exception as error:  # noqa: BLE001 -- any compiler failure: predict on, eagerly
            log.warning(
                "torch.compile failed at prediction (%s: %s); going on without it",
                type(error).__name__,
                str(error).splitlines()[0][:200] if str(error) else "",
            )
            self.compiled = None
            return self.network(x)

    def _fixed_batches(self, x: torch.Tensor) -> torch.Tensor:
        self.batch = self.batch or x.shape[0]
        outputs = []
        for start in range(0, x.shape[0], self.batch):
            chunk = x[start : start + self.batch]
            n = chunk.shape[0]
            if n < self.batch:
                pad = chunk.new_zeros((self.batch - n, *chunk.shape[1:]))
                chunk = torch.cat([chunk, pad]).contiguous(memory_format=_memory_format(x))
            outputs.append(self.compiled(chunk)[:n])
        return outputs[0] if len(outputs) == 1 else torch.cat(outputs)


def _memory_format(x: torch.Tensor) -> torch.memory_format:
    if x.dim() == 5 and x.is_contiguous(memory_format=torch.channels_last_3d) and not x.is_contiguous():
        return torch.channels_last_3d
    return torch.contiguous_format
