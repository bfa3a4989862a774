"""autoseg.Predictor: segment images held in memory from Python, with the networks loaded once.

    predictor = autoseg.Predictor.load("model.zip", device="cpu", tta=True)
    labels = predictor.predict(sitk_image)                     # a SimpleITK label image, same geometry
    labels = predictor.predict(array, spacing=(3.0, 0.8, 0.8))  # numpy (Z, Y, X) in, numpy out
    result = predictor.predict_with_details(sitk_image)        # labels, probabilities, uncertainty

`model` is a zip written by `autoseg export` (unpacked into a temporary folder while loading, then removed),
an exported or imported model folder, or a WORK folder. Cases are segmented exactly as `autoseg predict` does
(the same selection, ensemble, postprocessing: inference/run.py), without reading or writing files.
"""

from __future__ import annotations

import dataclasses
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import SimpleITK as sitk

from autoseg.data.dicom.cases import series_folder_arrays
from autoseg.data.finite import refuse_non_finite
from autoseg.data.geometry import Geometry, default_geometry
from autoseg.data.image_io import _channels_of, label_dtype
from autoseg.errors import AutosegError
from autoseg.inference.backends import check_backend
from autoseg.inference.predict_options import ModelSource
from autoseg.inference.predictor import InferenceSettings
from autoseg.inference.run import choose_selection, compile_models, load_backend_models, segment_case
from autoseg.labels import label_manager
from autoseg.layout.model_folder import opened_model
from autoseg.layout.work import CHECKPOINT_FINAL
from autoseg.schema.plans import Plans, load_plans


@dataclass
class Prediction:
    labels: Any  # SimpleITK image for a SimpleITK input, else numpy (Z, Y, X) or (Y, X)
    probabilities: np.ndarray  # (K, Z, Y, X) on the input's grid (K classes, or regions); (K, Y, X) for 2D
    uncertainty: dict[str, float]


class Predictor:
    def __init__(self, plans: Plans, names: list[str], models: dict, rules, settings: InferenceSettings, source: str):
        self.plans, self.names, self.models, self.rules, self.settings = plans, names, models, rules, settings
        self.source = source

    @classmethod
    def load(
        cls,
        model: str | Path,
        *,
        device: str = "auto",
        tta: bool = True,
        step: float = 0.5,
        configurations: list[str] | None = None,
        folds: list[str] | None = None,
        checkpoint: str = CHECKPOINT_FINAL,
        postprocessing: bool = True,
        precision: str = "auto",
        compile: str = "off",
        backend: str = "torch",
    ) -> "Predictor":
        """`compile` "on" (or "auto": when the folds trained compiled) torch.compiles the networks: the first
        prediction then takes the compile, every later one of the same patch runs faster (inference/compiled.py).
        `backend` "onnxruntime" predicts with the ONNX networks of a model exported with --onnx, without torch."""
        settings = InferenceSettings(tta=tta, step=step, backend=check_backend(backend))
        with opened_model(model) as folder:
            plans = load_plans(folder)
            names, rules, selection = choose_selection(folder, plans, configurations, checkpoint, postprocessing)
            source = ModelSource(folder, plans, selection, configurations, folds, checkpoint)
            models = load_backend_models(source, settings, device, precision)
            if backend == "torch":
                from autoseg.inference.compiled import MIN_CASES

                compile_models(folder, models, compile, cases=MIN_CASES)  # a predictor is made for many calls
        return cls(plans, names, models, rules, settings, str(model))

    @property
    def folds(self) -> dict[str, list[str]]:
        return {name: [m.fold for m in models] for name, models in self.models.items()}

    def predict(
        self,
        image,
        spacing: Sequence[float] | None = None,
        origin: Sequence[float] | None = None,
        direction: Sequence[float] | None = None,
    ):
        """The label map of one image (see predict_with_details for the arguments)."""
        return self.predict_with_details(image, spacing, origin, direction).labels

    def predict_with_details(
        self,
        image,
        spacing: Sequence[float] | None = None,
        origin: Sequence[float] | None = None,
        direction: Sequence[float] | None = None,
    ) -> Prediction:
        """`image`: a SimpleITK image (channels as vector components or a 4th axis), a list of SimpleITK images
        (one per channel), or a numpy array (Z, Y, X) / (Y, X), with channels first (C, ...) when the model has
        several. For numpy, `spacing` (required) and `origin` are in the array's axis order; `direction` is the
        flat row-major matrix in ITK order, as SimpleITK's GetDirection() returns it."""
        array, geometry, as_sitk = self._arrays(image, spacing, origin, direction)
        with _inference_mode(self.settings.backend):
            probabilities, seg = segment_case(
                array, geometry, self.plans, self.names, self.models, self.settings, rules=self.rules
            )
        spread = label_manager(self.plans).uncertainty(probabilities, seg)
        labels = seg if geometry.ndim == 3 else seg[0]
        if as_sitk:
            labels = geometry.apply_to(
                sitk.GetImageFromArray(
                    labels.astype(label_dtype(int(labels.min(initial=0)), int(labels.max(initial=0))))
                )
            )
        return Prediction(labels, probabilities if geometry.ndim == 3 else probabilities[:, 0], spread)

    def _arrays(self, image, spacing, origin, direction) -> tuple[np.ndarray, Geometry, bool]:
        channels = len(self.plans.channel_names)
        if isinstance(image, sitk.Image) or (
            isinstance(image, (list, tuple)) and image and all(isinstance(i, sitk.Image) for i in image)
        ):
            array, geometry = sitk_arrays([image] if isinstance(image, sitk.Image) else list(image), channels)
            as_sitk = True
        elif isinstance(image, np.ndarray):
            array, geometry = numpy_arrays(image, spacing, origin, direction, channels)
            as_sitk = False
        elif isinstance(image, (str, Path)) and Path(image).is_dir():
            array, geometry = series_folder_arrays(Path(image), self.plans.channel_names)
            as_sitk = True  # the labels come back as a SimpleITK image on the series' grid
        else:
            raise AutosegError(
                f"cannot segment a {type(image).__name__}",
                fix="pass a SimpleITK image, a list of them (one per channel), a numpy array or "
                "a folder holding one DICOM series",
            )
        if array.shape[0] != channels:
            raise AutosegError(
                f"the image has {array.shape[0]} channel(s) but the model expects {channels} "
                f"{self.plans.channel_names}",
                fix="pass every channel, in the model's order",
            )
        refuse_non_finite(array)  # refused, not replaced: autoseg/data/finite.py says why
        return array, geometry, as_sitk


def _inference_mode(backend: str):
    """torch's inference mode for torch networks; nothing to switch (and no torch to import) for onnxruntime."""
    if backend != "torch":
        return nullcontext()
    import torch

    return torch.inference_mode()


def sitk_arrays(images: list[sitk.Image], channels: int) -> tuple[np.ndarray, Geometry]:
    """(C, Z, Y, X) float32 and the geometry, as autoseg reads a case from files (data/image_io.py)."""
    geometry = _tidy(Geometry.of_image(images[0]))
    blocks = []
    for index, image in enumerate(images):
        other = _tidy(Geometry.of_image(image))
        if (difference := geometry.mismatch(other)) is not None:
            raise AutosegError(
                f"channel image {index} does not match channel 0: {difference}",
                fix="give every channel the voxel grid of the first",
            )
        blocks.append(_channels_of(image, Path(f"<channel {index}>"), channels if len(images) == 1 else None))
    return np.concatenate(blocks, axis=0) if len(blocks) > 1 else blocks[0], geometry


def _tidy(geometry: Geometry) -> Geometry:
    """Spacings stored as float32 (NIfTI, TIFF) read as their shortest decimal, as image_io does for such files,
    so an image read by the caller gives the same resampling, hence the same labels, as `autoseg predict`."""
    if all(float(np.float32(s)) == s for s in geometry.spacing_itk):
        return dataclasses.replace(geometry, spacing_itk=tuple(float(str(np.float32(s))) for s in geometry.spacing_itk))
    return geometry


def numpy_arrays(image: np.ndarray, spacing, origin, direction, channels: int) -> tuple[np.ndarray, Geometry]:
    if spacing is None:
        raise AutosegError(
            "a numpy image needs its spacing (in the array's axis order)",
            fix="pass spacing=(z, y, x) for a volume or (y, x) for a 2D image",
        )
    ndim = len(spacing)
    if ndim not in (2, 3) or image.ndim not in (ndim, ndim + 1) or (image.ndim == ndim and channels > 1):
        raise AutosegError(
            f"array of shape {image.shape} does not fit a {ndim}D spacing and {channels} channel(s)",
            fix=f"pass ({'C, ' if channels > 1 else ''}{'Z, ' if ndim == 3 else ''}Y, X) arrays",
        )
    array = image[None] if image.ndim == ndim else image
    geometry = default_geometry(array.shape[1:], tuple(float(s) for s in spacing))
    if origin is not None or direction is not None:
        geometry = dataclasses.replace(
            geometry,
            origin_itk=tuple(float(v) for v in reversed(origin)) if origin is not None else geometry.origin_itk,
            direction_itk=tuple(float(v) for v in direction) if direction is not None else geometry.direction_itk,
        )
    if ndim == 2:
        array = array[:, None]
    return np.ascontiguousarray(array, dtype=np.float32), geometry
