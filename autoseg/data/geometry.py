"""Where an image sits in physical space: everything needed to write a prediction back exactly like its input.

Values are kept as SimpleITK reports them (ITK axis order, x fastest); the properties give numpy order
(z slowest), which is what the rest of autoseg works in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import SimpleITK as sitk

# nnU-Net's convention for the fake z axis of 2D images: so coarse that no rule ever resamples or pools along it.
SPACING_OF_2D_Z_AXIS = 999.0

# Two files "agree" when their spacing, origin and direction differ by less than this (relative) amount:
# scanners and converters round these values differently, and such noise must not be reported as a mismatch.
GEOMETRY_TOLERANCE = 1e-4
# Origins agree when they differ by less than this fraction of a voxel (along the finest axis).
ORIGIN_VOXEL_FRACTION = 0.05
_FLOAT32_ROUNDING = 4 * float(np.finfo(np.float32).eps)


@dataclass(frozen=True)
class Geometry:
    ndim: int  # the image's own spatial dimension: 2 or 3
    size_itk: tuple[int, ...]  # (X, Y) or (X, Y, Z)
    spacing_itk: tuple[float, ...]
    origin_itk: tuple[float, ...]
    direction_itk: tuple[float, ...]  # flat row-major ndim x ndim matrix

    def __post_init__(self):
        if self.ndim not in (2, 3):
            raise ValueError(f"Geometry.ndim must be 2 or 3, got {self.ndim}")
        for name, n in (
            ("size_itk", self.ndim),
            ("spacing_itk", self.ndim),
            ("origin_itk", self.ndim),
            ("direction_itk", self.ndim * self.ndim),
        ):
            if len(getattr(self, name)) != n:
                raise ValueError(f"Geometry.{name} must have {n} entries for a {self.ndim}D image")

    @property
    def shape(self) -> tuple[int, int, int]:
        """Spatial shape in numpy order, always 3 entries (a 2D image is (1, Y, X))."""
        reversed_size = tuple(int(s) for s in reversed(self.size_itk))
        return reversed_size if self.ndim == 3 else (1, *reversed_size)

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Spacing in numpy order, always 3 entries (a 2D image gets SPACING_OF_2D_Z_AXIS along z)."""
        reversed_spacing = tuple(float(s) for s in reversed(self.spacing_itk))
        return reversed_spacing if self.ndim == 3 else (SPACING_OF_2D_Z_AXIS, *reversed_spacing)

    @classmethod
    def of_image(cls, image: sitk.Image) -> "Geometry":
        """The spatial geometry of a SimpleITK image; a 4D image (MSD channels on the 4th axis) keeps x, y, z."""
        ndim = min(image.GetDimension(), 3)
        full = image.GetDimension()
        direction = image.GetDirection()
        spatial_direction = tuple(float(direction[row * full + col]) for row in range(ndim) for col in range(ndim))
        return cls(
            ndim=ndim,
            size_itk=tuple(int(s) for s in image.GetSize()[:ndim]),
            spacing_itk=tuple(float(s) for s in image.GetSpacing()[:ndim]),
            origin_itk=tuple(float(s) for s in image.GetOrigin()[:ndim]),
            direction_itk=spatial_direction,
        )

    def apply_to(self, image: sitk.Image) -> sitk.Image:
        """Stamp spacing, origin and direction on `image` (same spatial dimension; a 4D image gets a unit 4th axis)."""
        extra = image.GetDimension() - self.ndim
        image.SetSpacing(self.spacing_itk + (1.0,) * extra)
        image.SetOrigin(self.origin_itk + (0.0,) * extra)
        image.SetDirection(_embed_direction(self.direction_itk, self.ndim, image.GetDimension()))
        return image

    def mismatch(self, other: "Geometry", tolerance: float = GEOMETRY_TOLERANCE) -> str | None:
        """None when both describe the same voxel grid, else a short text saying what differs."""
        if self.ndim != other.ndim:
            return f"dimension {self.ndim}D vs {other.ndim}D"
        if self.size_itk != other.size_itk:
            return f"shape {self.shape} vs {other.shape}"
        a_spacing, b_spacing = np.array(self.spacing_itk), np.array(other.spacing_itk)
        if np.any(np.abs(a_spacing - b_spacing) > tolerance * np.maximum(np.abs(a_spacing), np.abs(b_spacing))):
            return f"spacing {self.spacing} vs {other.spacing}"
        # Origins are compared in voxels, as nnU-Net's verify does: a fraction of the smallest voxel, plus the
        # rounding of a float32 header at that distance from zero. Relative to the origin's magnitude alone, a label
        # 6 voxels off passed when the origin was far from zero.
        a_origin, b_origin = np.array(self.origin_itk), np.array(other.origin_itk)
        origin_tolerance = ORIGIN_VOXEL_FRACTION * float(np.min(np.abs(a_spacing))) + _FLOAT32_ROUNDING * np.maximum(
            np.abs(a_origin), np.abs(b_origin)
        )
        if np.any(np.abs(a_origin - b_origin) > origin_tolerance):
            return f"origin {self.origin_itk} vs {other.origin_itk} (ITK order)"
        if np.any(np.abs(np.array(self.direction_itk) - np.array(other.direction_itk)) > tolerance):
            return f"direction {self.direction_itk} vs {other.direction_itk} (ITK order)"
        return None

    def to_dict(self) -> dict[str, Any]:
        # Python floats print with the shortest repr that reads back identically, so JSON keeps them exact.
        return {
            "ndim": self.ndim,
            "size_itk": list(self.size_itk),
            "spacing_itk": list(self.spacing_itk),
            "origin_itk": list(self.origin_itk),
            "direction_itk": list(self.direction_itk),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Geometry":
        return cls(
            ndim=int(data["ndim"]),
            size_itk=tuple(int(v) for v in data["size_itk"]),
            spacing_itk=tuple(float(v) for v in data["spacing_itk"]),
            origin_itk=tuple(float(v) for v in data["origin_itk"]),
            direction_itk=tuple(float(v) for v in data["direction_itk"]),
        )


def default_geometry(shape: tuple[int, ...], spacing: tuple[float, ...] | None = None) -> Geometry:
    """Identity direction, zero origin; `shape`/`spacing` in numpy order, 2 entries for a 2D image, 3 for 3D."""
    ndim = len(shape)
    spacing = tuple(float(s) for s in (spacing or (1.0,) * ndim))
    return Geometry(
        ndim=ndim,
        size_itk=tuple(int(s) for s in reversed(shape)),
        spacing_itk=tuple(reversed(spacing)),
        origin_itk=(0.0,) * ndim,
        direction_itk=tuple(float(v) for v in np.eye(ndim).ravel()),
    )


def _embed_direction(direction: tuple[float, ...], ndim: int, target_ndim: int) -> tuple[float, ...]:
    matrix = np.eye(target_ndim)
    matrix[:ndim, :ndim] = np.array(direction).reshape(ndim, ndim)
    return tuple(float(v) for v in matrix.ravel())
