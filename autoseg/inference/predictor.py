"""Predict one case with one configuration (one or several folds): preprocess exactly as in training, slide the
networks over it, average folds, and undo preprocessing so probabilities sit on the input's own voxel grid."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable

import numpy as np

from autoseg.data.geometry import Geometry
from autoseg.inference.channel_stack import ChannelStack
from autoseg.inference.models import LoadedModel
from autoseg.inference.placement import compact_results
from autoseg.inference.window_splitter import MAX_BATCH_VOXELS, check_step
from autoseg.labels import LabelManager, label_manager
from autoseg.preprocessing.case import preprocess_arrays
from autoseg.preprocessing.undo import restore_probabilities
from autoseg.schema.plans import Configuration, Plans

if TYPE_CHECKING:  # torch is imported where the torch backend runs: the onnxruntime backend runs without it
    import torch


PLAIN_LABELS = LabelManager({})  # plain labels: a softmax over classes


@dataclass
class InferenceSettings:
    device: Any = None  # a torch.device (the CPU when not given); None for the onnxruntime backend
    tta: bool = True
    step: float = 0.5
    batch_size: int = 2
    precision: str = "fp32"
    max_batch_voxels: int = MAX_BATCH_VOXELS  # network inputs per forward pass (windows x mirror variants)
    tta_axes: tuple[int, ...] | None = None  # mirror only these of the plan's mirror axes (None: all of them)
    backend: str = "torch"  # or "onnxruntime" (inference/backends/): the networks are then ONNX graphs

    def __post_init__(self):
        self.step = check_step(self.step)  # refuse a bad step before any model is loaded or case read
        if self.device is None and self.backend == "torch":
            import torch

            self.device = torch.device("cpu")

    def autocast(self):
        if self.precision == "fp32":
            return None
        import torch

        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)


def mirror_axes(config: Configuration, tta: bool, only: tuple[int, ...] | None = None) -> tuple[int, ...]:
    """The plan's mirror axes (those training augmented with), or those of them in `only` (-1: the last
    spatial axis); none without TTA."""
    axes = tuple(config.augmentation.mirror_axes) if tta else ()
    if only is None:
        return axes
    wanted = {a % config.spatial_dims for a in only}
    return tuple(a for a in axes if a in wanted)


def predict_preprocessed(
    models: list[LoadedModel],
    data: np.ndarray,
    config: Configuration,
    settings: InferenceSettings,
    labels: LabelManager | None = None,
    activation: Callable[[Any], np.ndarray] | None = None,
) -> np.ndarray:
    """Probabilities (K, *data spatial) averaged over the models (folds), by the `labels`' activation (a sigmoid
    per region, or a softmax over classes, the default); `activation` (logits (K, ...) -> probabilities) replaces
    it. float16 for large volumes (see inference/placement.py), float32 otherwise."""
    activation = activation or (labels or PLAIN_LABELS).probabilities
    if settings.backend == "onnxruntime":
        return mean_in_place(_onnx_probabilities(model, data, config, settings, activation) for model in models)
    from autoseg.inference.sliding_window import sliding_window_logits

    def one(model: LoadedModel) -> np.ndarray:
        logits = sliding_window_logits(
            model.network,
            data,
            config.patch_size,
            model.spec.num_classes,
            config.spatial_dims,
            step=settings.step,
            mirror_axes=mirror_axes(config, settings.tta, settings.tta_axes),
            batch_size=settings.batch_size,
            device=settings.device,
            autocast=settings.autocast(),
            channels_last=settings.device.type == "cpu",
            max_batch_voxels=settings.max_batch_voxels,
        )
        return activate_in_place(logits, activation)

    return mean_in_place(one(model) for model in models)


def _onnx_probabilities(
    model,
    data: np.ndarray,
    config: Configuration,
    settings: InferenceSettings,
    activation: Callable[[np.ndarray], np.ndarray],
) -> np.ndarray:
    """One fold's probabilities with the onnxruntime backend (inference/backends/onnx_backend.py)."""
    from autoseg.inference.backends.onnx_backend import onnx_window_logits

    logits = onnx_window_logits(
        model.network,
        data,
        config.patch_size,
        model.num_classes,
        config.spatial_dims,
        step=settings.step,
        mirror_axes=mirror_axes(config, settings.tta, settings.tta_axes),
        batch_size=settings.batch_size,
        max_batch_voxels=settings.max_batch_voxels,
    )
    return activate_array_in_place(logits, activation)


def activate_array_in_place(
    logits: np.ndarray, activation: Callable[[np.ndarray], np.ndarray], chunk_voxels: int = 1 << 22
) -> np.ndarray:
    """activate_in_place for numpy logits: a block of voxels at a time, written back into the logits' memory."""
    buffer = np.ascontiguousarray(logits)
    flat = buffer.reshape(buffer.shape[0], -1)
    for start in range(0, flat.shape[1], chunk_voxels):
        block = flat[:, start : start + chunk_voxels]
        block[...] = activation(block.astype(np.float32))
    return buffer


def mean_in_place(arrays: Iterable[np.ndarray]) -> np.ndarray:
    """The mean of arrays made one after another, summed into the first (only one full-size array alive at a
    time beyond the one being made)."""
    total, count = None, 0
    for array in arrays:
        if total is None:
            total = array
        else:
            total += array
        count += 1
    if count > 1:
        total /= count
    return total


def activate_in_place(
    logits: "torch.Tensor", activation: Callable[["torch.Tensor"], np.ndarray], chunk_voxels: int = 1 << 22
) -> np.ndarray:
    """activation over every voxel, a block of voxels at a time, written back into the logits' own memory: no
    second K x volume array (softmax and sigmoid act per voxel, so blocks give the same numbers)."""
    import torch

    buffer = logits.contiguous()
    flat = buffer.view(buffer.shape[0], -1)
    for start in range(0, flat.shape[1], chunk_voxels):
        block = flat[:, start : start + chunk_voxels]
        block.copy_(torch.as_tensor(activation(block.float())))
    return buffer.numpy()


def predict_case(
    image: np.ndarray,
    geometry: Geometry,
    plans: Plans,
    config: Configuration,
    models: list[LoadedModel],
    settings: InferenceSettings,
    *,
    extra_channels: Callable[[dict[str, Any]], np.ndarray] | np.ndarray | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Probabilities (K, *original shape) for a raw image (C, Z, Y, X) and its geometry. `extra_channels`: a
    cascade stage's previous-stage masks on the preprocessed grid, or a function of the case's preprocessing
    properties that makes them (so the image is preprocessed once). Large outputs come back in float16."""
    data, _, properties = preprocess_arrays(image, geometry, plans, config)
    if callable(extra_channels):
        extra_channels = extra_channels(properties)
    if extra_channels is not None:
        data = ChannelStack(data, extra_channels)
    labels = label_manager(plans)
    probs = predict_preprocessed(models, data, config, settings, labels)
    del data, extra_channels
    original = [properties["shape_transposed"][a] for a in plans.transpose_backward]
    if compact_results(probs.shape[0], original):
        probs = probs.astype(np.float16, copy=False)  # a small grid (a low-resolution stage) restored to a large one
    return restore_probabilities(
        probs, properties, plans.transpose_backward, background=labels.background_outside_crop
    ), properties
