"""Small synthetic datasets on disk, in either layout, for `autoseg demo` and for tests; make_ct_dataset
(synthetic_ct.py) makes large CT-like volumes.

The images come from synthetic_case(); this module chooses per-case geometry, writes the files and
dataset.json. All randomness comes from `seed`, which is recorded in dataset.json.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from autoseg.data.dataset_json import MSD, NNUNET_V2
from autoseg.data.geometry import Geometry
from autoseg.data.image_io import write_image, write_label
from autoseg.data.naming import PLAIN_2D_ENDINGS, channel_file_name
from autoseg.data.synthetic_case import synthetic_case
from autoseg.data.synthetic_ct import make_ct_dataset  # noqa: F401  (large CT-like volumes, same module API)
from autoseg.utils.files import write_json

MRI_CHANNEL_NAMES = ("T1", "T2", "FLAIR", "T1c")
CLASS_NAMES = ("background", "organ", "lesion")


def make_synthetic_dataset(
    out_dir: str | Path,
    *,
    num_cases: int = 8,
    shape: Sequence[int] = (24, 64, 64),
    spacing: Sequence[float] = (3.0, 0.8, 0.8),
    num_classes: int = 3,
    num_channels: int = 1,
    layout: str = NNUNET_V2,
    file_ending: str = ".nii.gz",
    seed: int = 0,
    noise: float = 0.08,
    random_geometry: bool = False,
    num_test: int = 0,
    name: str = "Synthetic",
) -> Path:
    """Write a dataset of `num_cases` training (+ `num_test` test) cases and return its folder.

    `shape`/`spacing` are numpy order; a 2-entry shape makes 2D images (a 3-entry spacing then loses its
    first entry). `random_geometry` gives every case its own shape and spacing (+-15 %) and, where the
    format can store them, a random origin and rotated direction. MSD layout needs a NIfTI ending.
    """
    shape = tuple(int(s) for s in shape)
    spacing = tuple(float(s) for s in spacing)[-len(shape) :]
    _check_arguments(shape, spacing, num_classes, num_channels, layout, file_ending)
    out_dir = Path(out_dir)
    rng = np.random.default_rng(seed)
    case_ids = [f"case_{i:03d}" for i in range(num_cases + num_test)]
    for index, case_id in enumerate(case_ids):
        folder = "Tr" if index < num_cases else "Ts"
        case_shape, geometry = _case_geometry(rng, shape, spacing, file_ending, random_geometry)
        image, label = synthetic_case(
            rng, case_shape, geometry.spacing[-len(shape) :], num_classes, num_channels, noise
        )
        if file_ending in PLAIN_2D_ENDINGS:
            image = np.clip(image, 0, 255)  # 8-bit pictures: keep every case in one pixel type
        _write_case(
            out_dir,
            folder,
            case_id,
            image.reshape((num_channels, *geometry.shape)),
            label,
            geometry,
            layout,
            file_ending,
        )
    description = dict(
        seed=seed, shape=list(shape), spacing=list(spacing), noise=noise, random_geometry=random_geometry
    )
    dataset_json = (_nnunet_json if layout == NNUNET_V2 else _msd_json)(
        name, case_ids[:num_cases], case_ids[num_cases:], num_classes, num_channels, file_ending
    )
    dataset_json["autoseg_synthetic"] = description
    write_json(out_dir / "dataset.json", dataset_json)
    return out_dir


def channel_names(num_channels: int) -> list[str]:
    if num_channels == 1:
        return ["MRI"]
    return [MRI_CHANNEL_NAMES[c] if c < len(MRI_CHANNEL_NAMES) else f"MRI_{c}" for c in range(num_channels)]


def class_names(num_classes: int) -> list[str]:
    return [CLASS_NAMES[k] if k < len(CLASS_NAMES) else f"structure_{k}" for k in range(num_classes)]


def _check_arguments(shape, spacing, num_classes, num_channels, layout, file_ending) -> None:
    if len(shape) not in (2, 3) or len(spacing) != len(shape):
        raise ValueError(f"shape must have 2 or 3 entries with a spacing for each, got {shape} / {spacing}")
    if num_classes < 2 or num_channels < 1:
        raise ValueError("need num_classes >= 2 (background + one class) and num_channels >= 1")
    if layout not in (NNUNET_V2, MSD):
        raise ValueError(f"layout must be '{NNUNET_V2}' or '{MSD}', got {layout!r}")
    if layout == MSD and file_ending not in (".nii.gz", ".nii"):
        raise ValueError("the MSD layout stores NIfTI files: use file_ending '.nii.gz' or '.nii'")
    if file_ending in PLAIN_2D_ENDINGS and len(shape) != 2:
        raise ValueError(f"{file_ending} holds 2D images only: give a 2-entry shape")


def _case_geometry(rng, shape, spacing, file_ending, random_geometry) -> tuple[tuple[int, ...], Geometry]:
    ndim = len(shape)
    case_shape, case_spacing = list(shape), list(spacing)
    origin, direction = np.zeros(ndim), np.eye(ndim)
    if random_geometry:
        case_shape = [max(8, int(round(n * rng.uniform(0.85, 1.15)))) for n in shape]
        if file_ending not in PLAIN_2D_ENDINGS:  # .png/.bmp keep no origin or direction
            case_spacing = [s * rng.uniform(0.85, 1.15) for s in spacing]
            origin = rng.uniform(-100.0, 100.0, ndim)
            direction = _random_rotation(rng, ndim)
    geometry = Geometry(
        ndim=ndim,
        size_itk=tuple(reversed(case_shape)),
        spacing_itk=tuple(float(s) for s in reversed(case_spacing)),
        origin_itk=tuple(float(o) for o in origin),
        direction_itk=tuple(float(v) for v in direction.ravel()),
    )
    return tuple(case_shape), geometry


def _random_rotation(rng, ndim: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(ndim, ndim)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:  # a proper rotation, as scanners report
        q[:, 0] = -q[:, 0]
    return q


def _write_case(out_dir, folder, case_id, image, label, geometry, layout, file_ending) -> None:
    images_dir, labels_dir = out_dir / f"images{folder}", out_dir / f"labels{folder}"
    if layout == MSD:
        write_image(image, geometry, images_dir / f"{case_id}{file_ending}")
    else:
        for channel in range(image.shape[0]):
            write_image(
                image[channel : channel + 1], geometry, images_dir / channel_file_name(case_id, channel, file_ending)
            )
    write_label(label, geometry, labels_dir / f"{case_id}{file_ending}")


def _nnunet_json(name, training_ids, test_ids, num_classes, num_channels, file_ending) -> dict:
    return {
        "name": name,
        "description": "synthetic scans made by autoseg.data.synthetic (organ with a nested lesion)",
        "channel_names": {str(c): n for c, n in enumerate(channel_names(num_channels))},
        "labels": {n: k for k, n in enumerate(class_names(num_classes))},
        "numTraining": len(training_ids),
        "file_ending": file_ending,
    }


def _msd_json(name, training_ids, test_ids, num_classes, num_channels, file_ending) -> dict:
    return {
        "name": name,
        "description": "synthetic scans made by autoseg.data.synthetic (organ with a nested lesion)",
        "tensorImageSize": "4D" if num_channels > 1 else "3D",
        "modality": {str(c): n for c, n in enumerate(channel_names(num_channels))},
        "labels": {str(k): n for k, n in enumerate(class_names(num_classes))},
        "numTraining": len(training_ids),
        "numTest": len(test_ids),
        "training": [
            {"image": f"./imagesTr/{i}{file_ending}", "label": f"./labelsTr/{i}{file_ending}"} for i in training_ids
        ],
        "test": [f"./imagesTs/{i}{file_ending}" for i in test_ids],
    }
