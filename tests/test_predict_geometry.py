"""`predict` writes every label map on its input's exact voxel grid.

50 random geometries -- odd shapes (smaller and larger than the patch), random spacings (other than the plan's,
so prediction resamples), origins, and directions (rotations, flips, axis permutations, improper ones), 2D and
3D, in several file formats -- are segmented by tiny models (a few training iterations: quality does not matter
here), and the output header must equal the input header: size, spacing, origin, direction.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from autoseg.data.geometry import Geometry
from autoseg.data.image_io import write_image
from autoseg.data.synthetic import make_synthetic_dataset
from autoseg.data.synthetic_case import synthetic_case
from autoseg.inference.run import predict
from autoseg.plan_command import plan
from autoseg.training.loop import train

NUM_3D, NUM_2D = 30, 20
ENDINGS_3D = (".nii.gz", ".nrrd", ".mha")
ENDINGS_2D = (".png", ".nii.gz", ".nrrd", ".mha", ".tif")
# What each format can store exactly; see header_differences.
NO_GEOMETRY = (".png",)


def _tiny_model(tmp: Path, name: str, shape, spacing, ending: str, configurations: list[str]) -> Path:
    dataset = make_synthetic_dataset(
        tmp / name, num_cases=4, shape=shape, spacing=spacing, file_ending=ending, seed=5, name=name
    )
    work = tmp / f"work_{name}"
    plan(
        dataset,
        work,
        preset="cpu-fast",
        cpu_gflops=40,
        time_budget="1m",
        folds=2,
        progress=False,
        workers=1,
        configurations=configurations,
    )
    plans_path = work / "plans.json"
    plans = json.loads(plans_path.read_text())
    for cfg in plans["configurations"].values():
        cfg["training"]["iterations_per_epoch"] = 2
        cfg["training"]["val_iterations"] = 0
    plans_path.write_text(json.dumps(plans))
    for configuration in configurations:
        train(work, configuration, 0, epochs=1, workers=0, validate=False, progress=False)
    return work


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("geometry")
    # Coarse axis last, so the plan transposes it to the front and prediction must transpose back.
    volumes = _tiny_model(tmp, "Vol", (16, 20, 7), (1.0, 0.9, 3.0), ".nii.gz", ["2d", "3d_fullres"])
    pictures = _tiny_model(tmp, "Pic", (24, 20), (1.0, 1.0), ".png", ["2d"])
    return {"3d": volumes, "2d": pictures}


def _direction(rng: np.random.Generator, ndim: int, kind: int) -> np.ndarray:
    """Identity, an axis flip, an axis permutation, a rotation, or a rotation with a reflection."""
    if kind == 0:
        return np.eye(ndim)
    if kind == 1:
        return np.diag(rng.choice([-1.0, 1.0], ndim))
    if kind == 2:
        return np.eye(ndim)[rng.permutation(ndim)] * rng.choice([-1.0, 1.0], ndim)
    q, r = np.linalg.qr(rng.normal(size=(ndim, ndim)))
    q = q * np.sign(np.diag(r))
    if (np.linalg.det(q) < 0) != (kind == 4):
        q[:, 0] = -q[:, 0]
    return q


def random_inputs(folder: Path, ndim: int, count: int, seed: int) -> list[Path]:
    """`count` single-channel images named <case>_0000<ending> with random grids; returns their paths."""
    rng = np.random.default_rng(seed)
    endings = ENDINGS_3D if ndim == 3 else ENDINGS_2D
    paths = []
    for i in range(count):
        ending = endings[i % len(endings)]
        shape = tuple(int(s) for s in rng.integers(5, 28, ndim))
        spacing = tuple(float(s) for s in rng.uniform(0.4, 2.5, ndim))
        if ending in NO_GEOMETRY:
            origin, direction = np.zeros(ndim), np.eye(ndim)
        else:
            origin, direction = rng.uniform(-500, 500, ndim), _direction(rng, ndim, i % 5)
        image, _ = synthetic_case(rng, shape, spacing)
        if ending == ".png":
            image = np.clip(image, 0, 255)
        geometry = Geometry(
            ndim=ndim,
            size_itk=tuple(reversed(shape)),
            spacing_itk=tuple(reversed(spacing)),
            origin_itk=tuple(float(o) for o in origin),
            direction_itk=tuple(float(v) for v in direction.ravel()),
        )
        array = image.reshape((1, *geometry.shape))
        paths.append(write_image(array, geometry, folder / f"geo{ndim}d_{i:02d}_0000{ending}"))
    return paths


def header_differences(source: Path, output: Path) -> list[str]:
    """What differs between the two files' headers, beyond what the format itself rounds.

    .mha and .png keep every value exactly, so they must be identical. NRRD stores spacing x direction as one
    matrix: splitting it again may move the last bit (1e-16). NIfTI keeps the direction as float32 (1e-7).
    autoseg reads TIFF spacing as if float32 (autoseg.data.image_io), but TIFF stores 1/spacing: 1e-7 relative.
    """
    expected, actual = sitk.ReadImage(str(source)), sitk.ReadImage(str(output))
    ending = "".join(source.suffixes[-2:]) if source.name.endswith(".nii.gz") else source.suffix
    spacing_rtol = {".nrrd": 1e-14, ".tif": 1e-6}.get(ending, 0.0)
    direction_atol = {".nrrd": 1e-14, ".nii.gz": 1e-6}.get(ending, 0.0)
    problems = []
    if actual.GetSize() != expected.GetSize():
        problems.append(f"size {actual.GetSize()} != {expected.GetSize()}")
    if not np.allclose(actual.GetSpacing(), expected.GetSpacing(), rtol=spacing_rtol, atol=0):
        problems.append(f"spacing {actual.GetSpacing()} != {expected.GetSpacing()}")
    if actual.GetOrigin() != expected.GetOrigin():
        problems.append(f"origin {actual.GetOrigin()} != {expected.GetOrigin()}")
    if not np.allclose(actual.GetDirection(), expected.GetDirection(), rtol=0, atol=direction_atol):
        problems.append(f"direction {actual.GetDirection()} != {expected.GetDirection()}")
    return problems


def _predict_and_compare(work: Path, inputs: list[Path], out: Path, configuration: str) -> None:
    report = predict(work, inputs[0].parent, out, configurations=[configuration], tta=False, progress=False)
    assert len(report["cases"]) == len(inputs)
    failures = {}
    for source in inputs:
        case_id = source.name.split("_0000")[0]
        output = out / f"{case_id}{source.name.split('_0000')[1]}"
        assert output.is_file(), f"no prediction for {source.name}"
        problems = header_differences(source, output)
        labels = np.unique(sitk.GetArrayFromImage(sitk.ReadImage(str(output))))
        if not set(labels.tolist()) <= {0, 1, 2}:
            problems.append(f"label values {labels}")
        if problems:
            failures[source.name] = problems
    assert not failures, failures


@pytest.mark.parametrize("configuration", ["3d_fullres", "2d"])
def test_volumes_come_back_on_their_own_grid(tiny_models, tmp_path, configuration):
    inputs = random_inputs(tmp_path / "in", 3, NUM_3D, seed=11)
    _predict_and_compare(tiny_models["3d"], inputs, tmp_path / "out", configuration)


def test_pictures_come_back_on_their_own_grid(tiny_models, tmp_path):
    inputs = random_inputs(tmp_path / "in", 2, NUM_2D, seed=12)
    _predict_and_compare(tiny_models["2d"], inputs, tmp_path / "out", "2d")
