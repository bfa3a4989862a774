"""Measured training speed, remembered: each (network, patch, batch, number formats, device) is timed once.

Sizing a configuration re-checks the plan against a measurement after every step, and the low-resolution
search walks through many spacings that end at the same capped patch and network, so without a memory the
same 3D step was timed over and over (14 times, ~150 s of a 184 s plan of the BraTS sample). Results are kept
for the run and in WORK/measurements.json, so re-planning the same data on the same machine measures nothing.
The key holds everything the speed depends on (the whole network spec, the CPU's name, torch's threads and
version, the formats tried), so a changed network or machine is measured afresh.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import torch

from autoseg.layout.work import MEASUREMENTS
from autoseg.networks.cost import estimate_cost
from autoseg.planning import budget as budget_module
from autoseg.planning.patch_and_batch import Sizing
from autoseg.schema.convert import to_dict
from autoseg.utils.files import write_json

log = logging.getLogger("autoseg.plan")

CACHE_FILE = MEASUREMENTS
CACHE_VERSION = 1


def measurement_key(sizing: Sizing) -> tuple[str, dict[str, Any]]:
    """(short hash, the plain description it hashes) of what one measurement's speed depends on."""
    described = {
        "network": to_dict(sizing.network),
        "patch_size": [int(p) for p in sizing.patch_size],
        "batch_size": int(sizing.batch_size),
        "bf16_tried": budget_module.cpu_has_fast_bf16(),
        "cpu": budget_module.cpu_name(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    text = json.dumps(described, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20], described


class MeasurementCache:
    """Training FLOP/s per sizing, measured at most once; `path` (optional) keeps them between runs."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else None
        self.entries: dict[str, dict[str, Any]] = self._load()
        self.measured = 0
        self.reused = 0

    def rate(self, key: str, sizing: Sizing) -> float:
        """The planner's RateFunction: FLOP/s of the `key` ('2d'/'3d') network of `sizing` on this CPU."""
        digest, described = measurement_key(sizing)
        entry = self.entries.get(digest)
        if entry is not None:
            self.reused += 1
            log.info(
                "device: %.0f GFLOP/s training %s network (patch %s, batch %d), measured before%s",
                entry["flops_per_s"] / 1e9,
                key,
                sizing.patch_size,
                sizing.batch_size,
                f" ({self.path})" if self.path and entry.get("from_file") else "",
            )
            return float(entry["flops_per_s"])
        if not self.measured:  # once a plan: a shared CPU measures slow and sizes every patch too small
            warning = budget_module.busy_cpu_warning(budget_module.training_threads())
            if warning:
                log.warning("%s", warning)
        rate = budget_module.measure_cpu_flops(sizing.network, sizing.patch_size, sizing.batch_size)
        self.measured += 1
        cost = estimate_cost(sizing.network, sizing.patch_size, sizing.batch_size)
        self.entries[digest] = {
            "flops_per_s": rate,
            "seconds_per_iteration": cost["flops_train"] / rate,
            "patch_size": described["patch_size"],
            "batch_size": described["batch_size"],
            "cpu": described["cpu"],
            "threads": described["threads"],
        }
        log.info(
            "device: measured %.0f GFLOP/s training %s network (patch %s, batch %d)",
            rate / 1e9,
            key,
            sizing.patch_size,
            sizing.batch_size,
        )
        self._save()
        return rate

    def summary(self) -> str:
        return f"{self.measured} training-speed measurement(s), {self.reused} reused"

    def _load(self) -> dict[str, dict[str, Any]]:
        if self.path is None or not self.path.is_file():
            return {}
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            log.info("device: ignoring unreadable %s (it is only a cache)", self.path)
            return {}
        if not isinstance(data, dict) or data.get("version") != CACHE_VERSION:
            return {}
        return {
            k: {**v, "from_file": True}
            for k, v in data.get("entries", {}).items()
            if isinstance(v, dict) and isinstance(v.get("flops_per_s"), (int, float)) and v["flops_per_s"] > 0
        }

    def _save(self) -> None:
        if self.path is None:
            return
        entries = {k: {f: v for f, v in e.items() if f != "from_file"} for k, e in self.entries.items()}
        write_json(self.path, {"version": CACHE_VERSION, "entries": entries})
