"""What a benchmark ran on: machine, software versions and load, so that runs can be compared over time."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import psutil

from autoseg.planning.budget import cpu_has_fast_bf16, cpu_name

PACKAGES = ("torch", "numpy", "scipy", "SimpleITK", "scikit-image", "batchgenerators", "psutil")


def machine_info() -> dict[str, Any]:
    import torch

    return {
        "cpu": cpu_name(),
        "logical_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu_fast_bf16": cpu_has_fast_bf16(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "os": platform.platform(),
        "hostname": platform.node(),
    }


def software_versions() -> dict[str, Any]:
    from autoseg import __version__

    versions: dict[str, Any] = {
        "autoseg": __version__,
        "autoseg_commit": _git_commit(),
        "python": platform.python_version(),
    }
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def load_average() -> float:
    """1-minute load average: timings are only comparable when it is well below the core count."""
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else float("nan")


def _git_commit() -> str | None:
    """The commit of the autoseg checkout (with '+dirty' when it has uncommitted changes), if it is one."""
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (commit + ("+dirty" if dirty else "")) or None
