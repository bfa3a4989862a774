"""Large CT-like synthetic datasets: whole-volume scans to exercise planning, preprocessing, the cascade and
inference at real sizes (512x512x400 and up) without real patient data.

Each case is an int16 volume in Hounsfield-like units, as CT scanners store them:
- air at exactly -1000 outside the body (a constant, non-zero background, like real CT);
- the body: an elliptic cylinder along z whose radii change slowly from slice to slice, soft tissue ~40 HU;
- a spine-like bright disc (~700 HU) at the back of the body, so intensities span bone to air;
- class 1 "organ": a large perturbed ellipsoid inside the body, ~60 HU (liver-like);
- class 2 "lesion" (when num_classes == 3): a smaller hypodense ellipsoid inside the organ, ~15 HU;
- Gaussian noise (~12 HU) inside the body.
Shapes are built slice by slice from 2D cross-sections, so a 512x512x400 case needs the int16 image and the
uint8 label map (~320 MB) plus one slice of scratch, and is made in seconds. Sizes are fractions of the field of
view, so any shape gives a plausible scan. All randomness comes from `seed` (recorded in dataset.json).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import SimpleITK as sitk

from autoseg.data.geometry import Geometry
from autoseg.data.naming import channel_file_name
from autoseg.utils.files import atomic_write, write_json

AIR_HU = -1000
TISSUE_HU = 40
ORGAN_HU = 60
LESION_HU = 15
BONE_HU = 700
NOISE_HU = 12.0
CT_CLASS_NAMES = ("background", "organ", "lesion")


def make_ct_dataset(
    folder: str | Path,
    *,
    cases: int = 4,
    shape: Sequence[int] = (160, 256, 256),
    spacing: Sequence[float] = (1.5, 0.8, 0.8),
    num_classes: int = 3,
    num_test: int = 0,
    seed: int = 0,
    name: str = "SyntheticCT",
) -> Path:
    """Write an nnU-Net v2 dataset of `cases` training (+ `num_test` test, labelled) CT-like cases; returns it.

    `shape` and `spacing` are numpy order (z, y, x): the default spacing 1.5 mm between slices and 0.8 mm in-plane
    is a typical abdominal CT; pass shape=(400, 512, 512) for a full-size scan. num_classes 2 (organ) or 3
    (organ and a lesion inside it)."""
    shape = tuple(int(s) for s in shape)
    spacing = tuple(float(s) for s in spacing)
    if len(shape) != 3 or len(spacing) != 3 or min(shape) < 8:
        raise ValueError(f"shape and spacing need 3 entries (z, y, x), each axis >= 8 voxels; got {shape}, {spacing}")
    if num_classes not in (2, 3):
        raise ValueError("num_classes must be 2 (organ) or 3 (organ and lesion)")
    folder = Path(folder)
    rng = np.random.default_rng(seed)
    case_ids = [f"ct_{i:03d}" for i in range(cases + num_test)]
    for index, case_id in enumerate(case_ids):
        image, label = ct_case(rng, shape, spacing, num_classes)
        geometry = Geometry(
            ndim=3,
            size_itk=tuple(reversed(shape)),
            spacing_itk=tuple(reversed(spacing)),
            origin_itk=(0.0, 0.0, 0.0),
            direction_itk=(1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0),
        )
        split = "Tr" if index < cases else "Ts"
        _write_volume(image, geometry, folder / f"images{split}" / channel_file_name(case_id, 0, ".nii.gz"))
        _write_volume(label, geometry, folder / f"labels{split}" / f"{case_id}.nii.gz")
        del image, label
    write_json(
        folder / "dataset.json",
        {
            "name": name,
            "description": "synthetic CT-like scans made by autoseg.data.synthetic_ct (int16 HU, air -1000, body, "
            "organ with a lesion)",
            "channel_names": {"0": "CT"},
            "labels": {n: k for k, n in enumerate(CT_CLASS_NAMES[:num_classes])},
            "numTraining": cases,
            "file_ending": ".nii.gz",
            "autoseg_synthetic": {
                "generator": "ct",
                "seed": seed,
                "shape": list(shape),
                "spacing": list(spacing),
                "num_test": num_test,
            },
        },
    )
    return folder


def ct_case(
    rng: np.random.Generator, shape: tuple[int, int, int], spacing: tuple[float, float, float], num_classes: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """(image int16 (Z, Y, X) in HU, label uint8 (Z, Y, X)) of one CT-like scan."""
    nz, ny, nx = shape
    half = np.array([nz * spacing[0], ny * spacing[1], nx * spacing[2]]) / 2  # mm
    yy = ((np.arange(ny) - (ny - 1) / 2) * spacing[1])[:, None]
    xx = ((np.arange(nx) - (nx - 1) / 2) * spacing[2])[None, :]
    # The body: radii (mm) in-plane, varying smoothly along z like a torso narrowing and widening.
    body_radii = np.array([half[1] * rng.uniform(0.6, 0.75), half[2] * rng.uniform(0.8, 0.92)])
    body_wave = rng.uniform(0.04, 0.1), rng.uniform(0.5, 1.5), rng.uniform(0, 2 * np.pi)
    organ = _ellipsoid_in(rng, half, body_radii, size=(0.35, 0.5))
    lesion = None
    if num_classes == 3:
        lesion_centre = organ[0] + rng.uniform(-0.3, 0.3, 3) * organ[1]
        lesion = (lesion_centre, organ[1] * rng.uniform(0.3, 0.45, 3))
    spine_centre = np.array([body_radii[0] * 0.65, rng.uniform(-0.05, 0.05) * body_radii[1]])
    spine_radius = 0.12 * body_radii.min()

    image = np.full(shape, AIR_HU, np.int16)
    label = np.zeros(shape, np.uint8)
    for z in range(nz):
        zmm = (z - (nz - 1) / 2) * spacing[0]
        scale = 1 + body_wave[0] * np.sin(body_wave[1] * np.pi * zmm / half[0] + body_wave[2])
        body = (yy / (body_radii[0] * scale)) ** 2 + (xx / (body_radii[1] * scale)) ** 2 < 1
        slice_hu = np.where(body, np.float32(TISSUE_HU), np.float32(AIR_HU))
        slice_hu[body & ((yy - spine_centre[0]) ** 2 + (xx - spine_centre[1]) ** 2 < spine_radius**2)] = BONE_HU
        organ_in = _cross_section(organ, zmm, yy, xx) & body
        slice_hu[organ_in] = ORGAN_HU
        label[z][organ_in] = 1
        if lesion is not None:
            lesion_in = _cross_section(lesion, zmm, yy, xx) & organ_in
            slice_hu[lesion_in] = LESION_HU
            label[z][lesion_in] = 2
        noise = rng.standard_normal(body.shape, dtype=np.float32) * np.float32(NOISE_HU)
        slice_hu[body] += noise[body]
        image[z] = np.clip(np.rint(slice_hu), -1024, 3071).astype(np.int16)
    return image, label


def _ellipsoid_in(rng, half: np.ndarray, body_radii: np.ndarray, size: tuple[float, float]):
    """(centre, radii) in mm (z, y, x) of an ellipsoid well inside the body and the scanned slab."""
    radii = np.array([half[0] * rng.uniform(0.3, 0.5), *(body_radii * rng.uniform(*size, 2))])
    centre = np.array([rng.uniform(-0.2, 0.2) * half[0], *(rng.uniform(-0.3, 0.3, 2) * (body_radii - radii[1:]))])
    return centre, radii


def _cross_section(ellipsoid, zmm: float, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """The ellipsoid's (Y, X) cross-section at height zmm (empty above or below it)."""
    (cz, cy, cx), (rz, ry, rx) = ellipsoid
    left = 1 - ((zmm - cz) / rz) ** 2
    if left <= 0:
        return np.zeros((yy.shape[0], xx.shape[1]), bool)
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < left


def _write_volume(array: np.ndarray, geometry: Geometry, path: Path) -> None:
    """Write in the array's own pixel type (int16 HU, uint8 labels), as a scanner's export would."""
    image = geometry.apply_to(sitk.GetImageFromArray(array))
    atomic_write(path, lambda tmp: sitk.WriteImage(image, tmp, useCompression=True), suffix=".nii.gz")
