"""The augmentation pipeline, built with batchgenerators from the plan's probabilities.

Order (nnU-Net's): spatial (rotation, scaling, optional elastic; crops the larger sampling patch to the training
patch), Gaussian noise, Gaussian blur, brightness, contrast, simulated low resolution, inverted and plain gamma,
mirroring. For flat anisotropic 3D patches (`dummy_2d`) the spatial part runs per slice (in-plane only), because
rotating across thick slices invents anatomy.
"""

from __future__ import annotations

import math

import numpy as np
from batchgenerators.transforms.abstract_transforms import AbstractTransform, Compose
from batchgenerators.transforms.color_transforms import (
    BrightnessMultiplicativeTransform,
    ContrastAugmentationTransform,
    GammaTransform,
)
from batchgenerators.transforms.noise_transforms import GaussianBlurTransform, GaussianNoiseTransform
from batchgenerators.transforms.resample_transforms import SimulateLowResolutionTransform
from batchgenerators.transforms.spatial_transforms import MirrorTransform, SpatialTransform
from batchgenerators.transforms.utility_transforms import NumpyToTensor, RemoveLabelTransform

from autoseg.schema.plans import AugmentationPlan


def sampling_patch_size(patch: list[int], aug: AugmentationPlan) -> list[int]:
    """The patch to cut before the spatial transform: big enough that rotated/scaled corners hold real data."""
    patch = np.asarray(patch, dtype=float)
    if aug.rotation_p <= 0 and aug.scale_p <= 0:
        return patch.astype(int).tolist()
    angle = math.radians(min(max(abs(a) for a in aug.rotation_deg), 90.0)) if aug.rotation_p > 0 else 0.0
    grow = abs(math.cos(angle)) + abs(math.sin(angle))
    shrink = min(aug.scale_range) if aug.scale_p > 0 else 1.0
    factor = grow / min(shrink, 1.0) ** 0.5  # scaling down shows a bit of padding at the border, as in nnU-Net
    out = patch.copy()
    axes = range(1, len(out)) if (aug.dummy_2d and len(out) == 3) else range(len(out))
    for a in axes:
        out[a] = np.ceil(patch[a] * factor)
    return out.astype(int).tolist()


class ToDummy2D(AbstractTransform):
    """Fold axis 0 of 3D patches into channels, so a 2D spatial transform acts in-plane."""

    def __call__(self, **data):
        for key in ("data", "seg"):
            array = data[key]
            data[f"{key}_shape"] = array.shape
            data[key] = array.reshape(array.shape[0], array.shape[1] * array.shape[2], *array.shape[3:])
        return data


class FromDummy2D(AbstractTransform):
    def __call__(self, **data):
        for key in ("data", "seg"):
            n, c, z = data.pop(f"{key}_shape")[:3]
            array = data[key]
            data[key] = array.reshape(n, c, z, *array.shape[2:])
        return data


def build_transforms(patch: list[int], aug: AugmentationPlan, spatial_dims: int) -> Compose:
    dummy = aug.dummy_2d and spatial_dims == 3
    spatial_patch = patch[1:] if dummy else patch
    transforms: list[AbstractTransform] = []
    if dummy:
        transforms.append(ToDummy2D())
    transforms.append(_spatial_transform(spatial_patch, aug, spatial_dims, dummy))
    if dummy:
        transforms.append(FromDummy2D())
    transforms += _intensity_transforms(aug, dummy)
    if aug.mirror_axes:
        transforms.append(MirrorTransform(tuple(aug.mirror_axes)))
    # Voxels the spatial transform brought in from outside the image are background.
    transforms.append(RemoveLabelTransform(-1, 0))
    transforms.append(NumpyToTensor(["data", "seg"], "float"))
    return Compose(transforms)


def _spatial_transform(spatial_patch: list[int], aug: AugmentationPlan, spatial_dims: int, dummy: bool):
    angle = tuple(math.radians(a) for a in aug.rotation_deg)
    no_angle = (0.0, 0.0)
    return SpatialTransform(
        spatial_patch,
        patch_center_dist_from_border=None,
        do_elastic_deform=aug.elastic_p > 0,
        alpha=(0.0, 200.0),
        sigma=(9.0, 13.0),
        do_rotation=aug.rotation_p > 0,
        angle_x=angle,
        angle_y=angle if (spatial_dims == 3 and not dummy) else no_angle,
        angle_z=angle if (spatial_dims == 3 and not dummy) else no_angle,
        do_scale=aug.scale_p > 0,
        scale=tuple(aug.scale_range),
        border_mode_data="constant",
        border_cval_data=0,
        order_data=3,
        border_mode_seg="constant",
        border_cval_seg=-1,
        order_seg=1,
        random_crop=False,
        p_el_per_sample=aug.elastic_p,
        p_scale_per_sample=aug.scale_p,
        p_rot_per_sample=aug.rotation_p,
        independent_scale_for_each_axis=False,
    )


def _intensity_transforms(aug: AugmentationPlan, dummy: bool) -> list[AbstractTransform]:
    """Noise, blur, brightness, contrast, low resolution and gamma, in nnU-Net's order, each only when planned."""
    transforms: list[AbstractTransform] = []
    if aug.noise_p > 0:
        transforms.append(GaussianNoiseTransform(noise_variance=(0, 0.1), p_per_sample=aug.noise_p))
    if aug.blur_p > 0:
        transforms.append(
            GaussianBlurTransform(
                (0.5, 1.0), different_sigma_per_channel=True, p_per_sample=aug.blur_p, p_per_channel=0.5
            )
        )
    if aug.brightness_p > 0:
        transforms.append(BrightnessMultiplicativeTransform((0.75, 1.25), p_per_sample=aug.brightness_p))
    if aug.contrast_p > 0:
        transforms.append(ContrastAugmentationTransform(p_per_sample=aug.contrast_p))
    if aug.lowres_p > 0:
        transforms.append(
            SimulateLowResolutionTransform(
                zoom_range=(0.5, 1.0),
                per_channel=True,
                p_per_channel=0.5,
                order_downsample=0,
                order_upsample=3,
                p_per_sample=aug.lowres_p,
                ignore_axes=(0,) if dummy else None,
            )
        )
    if aug.gamma_inverted_p > 0:
        transforms.append(GammaTransform((0.7, 1.5), True, True, retain_stats=True, p_per_sample=aug.gamma_inverted_p))
    if aug.gamma_p > 0:
        transforms.append(GammaTransform((0.7, 1.5), False, True, retain_stats=True, p_per_sample=aug.gamma_p))
    return transforms


def build_validation_transforms() -> Compose:
    return Compose([NumpyToTensor(["data", "seg"], "float")])
