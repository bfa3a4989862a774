"""Predict one case with one configuration (one or several folds): preprocess exactly as in training, slide the
networks over it, average folds, and undo preprocessing so probabilities sit on the input's own voxel grid."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from autoseg.data.geometry import Geometry
from autoseg.inference.models import LoadedModel
from autoseg.inference.regions import probabilities_from_logits, restore_output
from autoseg.inference.sliding_window import check_step, sliding_window_logits
from autoseg.preprocessing.case import preprocess_arrays
from autoseg.schema.plans import Configuration, Plans


@dataclass
class InferenceSettings:
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    tta: bool = True
    step: float = 0.5
    batch_size: int = 2
    precision: str = "fp32"

    def __post_init__(self):
        self.step = check_step(self.step)  # refuse a bad step before any model is loaded or case read

    def autocast(self):
        if self.precision == "fp32":
            return None
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)


def mirror_axes(config: Configuration, tta: bool) -> tuple[int, ...]:
    return tuple(config.augmentation.mirror_axes) if tta else ()


def predict_preprocessed(models: list[LoadedModel], data: np.ndarray, config: Configuration,
                         settings: InferenceSettings, regions: bool = False) -> np.ndarray:
    """Probabilities (K, *data spatial) averaged over the models (folds); `regions`: sigmoid per region output
    (plans.regions) instead of a softmax over classes."""
    probabilities = None
    for model in models:
        logits = sliding_window_logits(model.network, data, config.patch_size, model.spec.num_classes,
                                       config.spatial_dims, settings.step, mirror_axes(config, settings.tta),
                                       settings.batch_size, settings.device, settings.autocast(),
                                       channels_last=settings.device.type == "cpu")
        probs = probabilities_from_logits(logits, regions)
        probabilities = probs if probabilities is None else probabilities + probs
    return probabilities / len(models)


def predict_case(image: np.ndarray, geometry: Geometry, plans: Plans, config: Configuration,
                 models: list[LoadedModel], settings: InferenceSettings,
                 extra_channels: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Probabilities (K, *original shape) for a raw image (C, Z, Y, X) and its geometry."""
    data, _, properties = preprocess_arrays(image, geometry, plans, config)
    if extra_channels is not None:
        data = np.concatenate([data, extra_channels], axis=0)
    probs = predict_preprocessed(models, data, config, settings, bool(plans.regions))
    return restore_output(probs, properties, plans.transpose_backward, bool(plans.regions)), properties
