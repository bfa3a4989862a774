"""The number format a prediction runs in: by default the one training chose for these models.

Training measures fp32 against bf16 autocast on its machine and records the winner in each fold's
training_summary.json ("precision"). Predicting in the same format is as fast as training found, and gives the
numbers the network was validated with. bf16 is only used on a CPU with bf16 units (AVX512-BF16 / AMX): a model
trained in bf16 elsewhere would be emulated here, many times slower than fp32.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from autoseg.errors import AutosegError
from autoseg.layout.work import TRAINING_SUMMARY, model_dir
from autoseg.utils.files import read_json

if TYPE_CHECKING:  # imported where used: predict's import path stays torch-free for the onnxruntime backend
    import torch

CHOICES = ("auto", "fp32", "bf16", "fp16")


def training_precision(work: str | Path, configuration: str, fold: str) -> str | None:
    """The precision a fold trained in (its training_summary.json), None when not recorded."""
    path = model_dir(work, configuration, fold) / TRAINING_SUMMARY
    try:
        value = read_json(path, "training summary").get("precision")  # a shipped model's file: bounded read
    except (AutosegError, OSError, ValueError, AttributeError):
        return None
    return value if value in CHOICES[1:] else None


def inference_precision(
    requested: str, device: "torch.device", trained: list[str | None], fast_bf16: bool | None = None
) -> str:
    """`requested` unless it is "auto"; then bf16 when every model trained in bf16 and this device runs bf16 at
    speed (a CUDA GPU with bf16, or a CPU with bf16 units: `fast_bf16`, detected when not given), fp16 on a GPU
    for models trained in fp16, else fp32."""
    if requested not in CHOICES:
        raise AutosegError(f"unknown precision {requested!r}", fix=f"use one of {', '.join(CHOICES)}")
    if requested != "auto":
        return requested
    if trained and all(p == "fp16" for p in trained) and device.type == "cuda":
        return "fp16"
    if not trained or any(p != "bf16" for p in trained):
        return "fp32"
    if device.type == "cuda":
        import torch

        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    from autoseg.planning.budget import cpu_has_fast_bf16

    return "bf16" if (cpu_has_fast_bf16() if fast_bf16 is None else fast_bf16) else "fp32"


def precision_of_models(work: str | Path, models: dict, requested: str, device: "torch.device") -> str:
    """inference_precision for the loaded models {configuration: [LoadedModel]} of a WORK (or model) folder."""
    trained = [training_precision(work, name, m.fold) for name, loaded in models.items() for m in loaded]
    return inference_precision(requested, device, trained)
