"""A small synthetic dataset with region-based labels: three nested spheres per case, for tests and demos.

Label values 1 (outer shell), 2 (middle shell), 3 (core) sit inside one another, as BraTS's tumour parts do; the
dataset.json declares the nested regions "outer" [1, 2, 3], "middle" [2, 3] and "core" [3] with
regions_class_order [1, 2, 3]. Each label has its own intensity (plus noise and a random per-case scale), and the
spheres' centres and radii vary per case, so a network has to find them rather than memorise a place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from autoseg.data.geometry import Geometry
from autoseg.data.image_io import write_image, write_label
from autoseg.data.naming import channel_file_name
from autoseg.utils.files import write_json

REGIONS = {"outer": [1, 2, 3], "middle": [2, 3], "core": [3]}
REGIONS_CLASS_ORDER = [1, 2, 3]
# Intensity of background and of labels 1..3; neighbours differ by about 0.6, well above the noise.
CONTRAST = (0.0, 1.0, 1.6, 0.4)
# Radii of the three spheres as fractions of the smallest half-extent of the image.
RADII = (0.75, 0.5, 0.28)


def nested_spheres_case(
    rng: np.random.Generator, shape: Sequence[int], noise: float = 0.15
) -> tuple[np.ndarray, np.ndarray]:
    """(image float32 (1, *shape), label uint8 (*shape)): nested spheres labelled 1, 2, 3 from the outside in."""
    shape = tuple(int(s) for s in shape)
    grids = np.meshgrid(*[np.arange(n, dtype=np.float32) for n in shape], indexing="ij", sparse=True)
    half = min(shape) / 2
    centre = np.array(shape) / 2 + rng.uniform(-0.15, 0.15, len(shape)) * half
    label = np.zeros(shape, np.uint8)
    offset = np.zeros(len(shape))
    for value, fraction in enumerate(RADII, start=1):
        radius = fraction * half * rng.uniform(0.85, 1.1)
        # Inner spheres wander a little inside their parent, staying within it.
        offset = offset + rng.uniform(-0.1, 0.1, len(shape)) * radius
        distance = sum(((g - c) / radius) ** 2 for g, c in zip(grids, centre + offset))
        label[distance < 1.0] = value
    image = np.asarray(CONTRAST, np.float32)[label] + rng.normal(0.0, noise, shape).astype(np.float32)
    return (image * rng.uniform(50, 150))[None].astype(np.float32), label


def make_region_dataset(
    out_dir: str | Path,
    *,
    num_cases: int = 6,
    shape: Sequence[int] = (24, 24, 24),
    spacing: Sequence[float] = (1.0, 1.0, 1.0),
    seed: int = 0,
    noise: float = 0.15,
    name: str = "SyntheticRegions",
) -> Path:
    """Write `num_cases` nested-sphere cases (nnU-Net v2 layout, .nii.gz) and a region dataset.json."""
    out_dir = Path(out_dir)
    rng = np.random.default_rng(seed)
    geometry = Geometry(
        ndim=len(shape),
        size_itk=tuple(reversed([int(s) for s in shape])),
        spacing_itk=tuple(float(s) for s in reversed(spacing)),
        origin_itk=tuple(0.0 for _ in shape),
        direction_itk=tuple(float(v) for v in np.eye(len(shape)).ravel()),
    )
    for index in range(num_cases):
        case_id = f"case_{index:03d}"
        image, label = nested_spheres_case(rng, shape, noise)
        write_image(image, geometry, out_dir / "imagesTr" / channel_file_name(case_id, 0, ".nii.gz"))
        write_label(label, geometry, out_dir / "labelsTr" / f"{case_id}.nii.gz")
    write_json(
        out_dir / "dataset.json",
        {
            "name": name,
            "description": "nested spheres with region-based labels (autoseg.data.synthetic_regions)",
            "channel_names": {"0": "MRI"},
            "labels": {"background": 0, **REGIONS},
            "regions_class_order": REGIONS_CLASS_ORDER,
            "numTraining": num_cases,
            "file_ending": ".nii.gz",
            "autoseg_synthetic": {"seed": seed, "shape": list(shape), "spacing": list(spacing), "noise": noise},
        },
    )
    return out_dir
