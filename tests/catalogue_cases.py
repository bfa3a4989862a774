"""The catalogue of malformed and quirky datasets (issue 20), each made on the fly from a tiny synthetic one.

Every entry is (name, build): build(folder) writes a dataset under `folder` and returns (dataset root, the file
the error must name) -- or (root, None) when autoseg must accept the dataset because real data looks like that.
Bad files, bad geometry, bad labels, bad dataset.json; both layouts, 2D and 3D, one and several channels.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import SimpleITK as sitk

from autoseg.data.synthetic import make_synthetic_dataset

Built = tuple[Path, "Path | None"]


@dataclass(frozen=True)
class Entry:
    name: str
    build: Callable[[Path], Built]

    def __str__(self) -> str:
        return self.name


def tiny(folder: Path, **options) -> Path:
    settings = dict(num_cases=3, shape=(6, 16, 16), spacing=(2.0, 1.0, 1.0), seed=7)
    settings.update(options)
    return make_synthetic_dataset(folder, **settings)


def image(root: Path, case: int = 1, channel: int = 0, ending: str = ".nii.gz") -> Path:
    return root / "imagesTr" / f"case_{case:03d}_{channel:04d}{ending}"


def label(root: Path, case: int = 1, ending: str = ".nii.gz") -> Path:
    return root / "labelsTr" / f"case_{case:03d}{ending}"


def msd_image(root: Path, case: int = 1) -> Path:
    return root / "imagesTr" / f"case_{case:03d}.nii.gz"


def edit_json(root: Path, change: Callable[[dict], None]) -> None:
    data = json.loads((root / "dataset.json").read_text())
    change(data)
    (root / "dataset.json").write_text(json.dumps(data, indent=1))


def rewrite(path: Path, change: Callable[[sitk.Image], sitk.Image]) -> None:
    written = change(sitk.ReadImage(str(path)))
    sitk.WriteImage(written, str(path), useCompression=True)


def with_array(img: sitk.Image, array: np.ndarray) -> sitk.Image:
    out = sitk.GetImageFromArray(array, isVector=img.GetNumberOfComponentsPerPixel() > 1)
    out.CopyInformation(img)
    return out


def cut(path: Path, fraction: float = 0.6) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])


# --- bad files -------------------------------------------------------------------------------------------------


def truncated_gz_image(folder):
    root = tiny(folder)
    cut(image(root))
    return root, image(root)


def truncated_gz_label(folder):
    root = tiny(folder)
    cut(label(root))
    return root, label(root)


def truncated_plain_nii(folder):
    root = tiny(folder, file_ending=".nii")
    cut(image(root, ending=".nii"), 0.8)
    return root, image(root, ending=".nii")


def damaged_gzip_crc(folder):
    """One byte flipped in the middle of the compressed stream: only the CRC (or inflate) can tell."""
    root = tiny(folder)
    path = image(root)
    raw = bytearray(gzip.compress(gzip.decompress(path.read_bytes()), compresslevel=0))  # stored blocks
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    return root, path


def empty_image_file(folder):
    root = tiny(folder)
    image(root).write_bytes(b"")
    return root, image(root)


def garbage_image_file(folder):
    root = tiny(folder)
    image(root).write_bytes(b"this is not an image, it is a text file saved with the wrong name\n" * 10)
    return root, image(root)


def missing_image_file(folder):
    root = tiny(folder)
    image(root).unlink()
    return root, image(root)


def missing_label_file(folder):
    root = tiny(folder)
    label(root).unlink()
    return root, label(root)


def truncated_nrrd(folder):
    root = tiny(folder, file_ending=".nrrd")
    cut(image(root, ending=".nrrd"))
    return root, image(root, ending=".nrrd")


def truncated_mha(folder):
    root = tiny(folder, file_ending=".mha")
    cut(image(root, ending=".mha"))
    return root, image(root, ending=".mha")


def nan_in_image(folder):
    # .nrrd: ITK's NIfTI reader itself turns NaN/Inf into 0, so a NIfTI never shows them to autoseg.
    root = tiny(folder, file_ending=".nrrd")

    def poison(img):
        array = sitk.GetArrayFromImage(img)
        array[2, 5, 5] = np.nan
        return with_array(img, array)

    rewrite(image(root, ending=".nrrd"), poison)
    return root, image(root, ending=".nrrd")


def inf_in_second_channel(folder):
    root = tiny(folder, num_channels=2, file_ending=".mha")

    def poison(img):
        array = sitk.GetArrayFromImage(img)
        array[0, 0, 0] = np.inf
        return with_array(img, array)

    rewrite(image(root, channel=1, ending=".mha"), poison)
    return root, image(root, channel=1, ending=".mha")


def fractional_label_values(folder):
    root = tiny(folder)
    rewrite(label(root), lambda img: with_array(img, sitk.GetArrayFromImage(img).astype(np.float32) * 0.5))
    return root, label(root)


def nan_in_label(folder):
    root = tiny(folder, file_ending=".nrrd")

    def poison(img):
        array = sitk.GetArrayFromImage(img).astype(np.float32)
        array[1, 1, 1] = np.nan
        return with_array(img, array)

    rewrite(label(root, ending=".nrrd"), poison)
    return root, label(root, ending=".nrrd")


# --- bad geometry ----------------------------------------------------------------------------------------------


def label_shape_differs(folder):
    root = tiny(folder)
    rewrite(label(root), lambda img: sitk.GetImageFromArray(sitk.GetArrayFromImage(img)[:, :-2]))
    return root, label(root)


def label_spacing_differs(folder):
    root = tiny(folder)

    def respace(img):
        img.SetSpacing((1.0, 1.0, 3.0))
        return img

    rewrite(label(root), respace)
    return root, label(root)


def label_origin_differs(folder):
    root = tiny(folder)

    def move(img):
        img.SetOrigin(tuple(o + 5.0 for o in img.GetOrigin()))
        return img

    rewrite(label(root), move)
    return root, label(root)


def label_direction_differs(folder):
    root = tiny(folder)

    def flip(img):
        img.SetDirection((-1, 0, 0, 0, 1, 0, 0, 0, 1))
        return img

    rewrite(label(root), flip)
    return root, label(root)


def channel_spacing_differs(folder):
    root = tiny(folder, num_channels=2)

    def respace(img):
        img.SetSpacing((0.5, 0.5, 2.0))
        return img

    rewrite(image(root, channel=1), respace)
    return root, image(root, channel=1)


def channel_shape_differs(folder):
    root = tiny(folder, num_channels=2)
    rewrite(image(root, channel=1), lambda img: sitk.GetImageFromArray(sitk.GetArrayFromImage(img)[:, :, :-3]))
    return root, image(root, channel=1)


def two_d_case_in_3d_set(folder):
    root = tiny(folder)
    for path in (image(root), label(root)):
        rewrite(path, lambda img: sitk.GetImageFromArray(sitk.GetArrayFromImage(img)[3]))
    return root, image(root)


def single_slice_case_in_3d_set(folder):
    root = tiny(folder)
    for path in (image(root), label(root)):
        rewrite(path, lambda img: sitk.GetImageFromArray(sitk.GetArrayFromImage(img)[3:4]))
    return root, image(root)


def msd_channels_differ_from_modality(folder):
    root = tiny(folder, layout="msd", num_channels=2)
    edit_json(root, lambda d: d["modality"].update({"2": "extra"}))
    return root, msd_image(root, 0)  # every case is named by verify; the first by plan


# --- bad labels ------------------------------------------------------------------------------------------------


def undeclared_label_value(folder):
    root = tiny(folder)

    def add_class(img):
        array = sitk.GetArrayFromImage(img)
        array[0, 0, :3] = 7
        return with_array(img, array)

    rewrite(label(root), add_class)
    return root, label(root)


def negative_label_value(folder):
    root = tiny(folder)

    def negative(img):
        array = sitk.GetArrayFromImage(img).astype(np.int16)
        array[0, 0, 0] = -1
        return with_array(img, array)

    rewrite(label(root), negative)
    return root, label(root)


def colour_label_picture(folder):
    root = tiny(folder, shape=(16, 16), file_ending=".png")
    path = label(root, ending=".png")
    grey = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
    rgb = np.stack([grey, grey * 0, grey * 2], axis=-1).astype(np.uint8)
    sitk.WriteImage(sitk.GetImageFromArray(rgb, isVector=True), str(path))
    return root, path


def four_d_label(folder):
    root = tiny(folder)
    img = sitk.ReadImage(str(label(root)))
    sitk.WriteImage(sitk.JoinSeries([img, img]), str(label(root)))
    return root, label(root)


# --- bad dataset.json ------------------------------------------------------------------------------------------


def invalid_json(folder):
    root = tiny(folder)
    (root / "dataset.json").write_text('{"channel_names": {"0": "MRI"}, "labels": {"background": 0,}')
    return root, root / "dataset.json"


def missing_dataset_json(folder):
    root = tiny(folder)
    (root / "dataset.json").unlink()
    return root, root / "dataset.json"


def labels_without_background(folder):
    root = tiny(folder)
    edit_json(root, lambda d: d.update(labels={"organ": 1, "lesion": 2}))
    return root, root / "dataset.json"


def no_channel_names(folder):
    root = tiny(folder)
    edit_json(root, lambda d: d.pop("channel_names"))
    return root, root / "dataset.json"


def num_training_mismatch(folder):
    root = tiny(folder)
    edit_json(root, lambda d: d.update(numTraining=5))
    return root, root / "dataset.json"


def file_ending_does_not_match(folder):
    root = tiny(folder)
    edit_json(root, lambda d: d.update(file_ending=".nrrd"))
    return root, root / "imagesTr"  # the first of 3 problems: each case then lacks files


def msd_entry_points_to_missing_file(folder):
    root = tiny(folder, layout="msd")
    edit_json(root, lambda d: d["training"][1].update(image="./imagesTr/no_such_case.nii.gz"))
    return root, root / "imagesTr" / "no_such_case.nii.gz"


def no_training_cases(folder):
    root = tiny(folder)
    for path in [*(root / "imagesTr").iterdir(), *(root / "labelsTr").iterdir()]:
        path.unlink()
    edit_json(root, lambda d: d.update(numTraining=0))
    return root, root / "imagesTr"


def image_without_channel_suffix(folder):
    root = tiny(folder)
    image(root).rename(root / "imagesTr" / "case_001.nii.gz")
    return root, root / "imagesTr" / "case_001.nii.gz"


def ignore_label_not_largest(folder):
    root = tiny(folder)
    edit_json(root, lambda d: d["labels"].update(ignore=1, organ=3))
    return root, root / "dataset.json"


def labels_with_a_gap(folder):
    root = tiny(folder)
    edit_json(root, lambda d: d["labels"].update(lesion=5))
    return root, root / "dataset.json"


# --- accepted: real data looks like this -----------------------------------------------------------------------


def accept(build):
    def built(folder):
        return build(folder), None

    built.__name__ = build.__name__
    return built


@accept
def clean_nnunet_3d(folder):
    return tiny(folder)


@accept
def clean_msd_two_channels(folder):
    return tiny(folder, layout="msd", num_channels=2)


@accept
def clean_msd_plain_nii(folder):
    return tiny(folder, layout="msd", file_ending=".nii")


@accept
def float_labels_with_integer_values(folder):
    root = tiny(folder)
    for case in range(3):
        rewrite(label(root, case), lambda img: sitk.Cast(img, sitk.sitkFloat32))
    return root


@accept
def uint8_images(folder):
    root = tiny(folder)
    for case in range(3):
        rewrite(image(root, case), lambda img: sitk.Cast(sitk.RescaleIntensity(img, 0, 255), sitk.sitkUInt8))
    return root


@accept
def int16_ct_like_images(folder):
    root = tiny(folder)
    for case in range(3):
        rewrite(image(root, case), lambda img: sitk.Cast(img * 400 - 1000, sitk.sitkInt16))
    return root


@accept
def direction_round_off(folder):
    root = tiny(folder)

    def wobble(img):
        direction = np.array(img.GetDirection())
        img.SetDirection(tuple(direction + 1e-7))
        return img

    rewrite(label(root), wobble)
    return root


@accept
def origin_round_off(folder):
    root = tiny(folder)

    def nudge(img):
        img.SetOrigin(tuple(o + 1e-5 for o in img.GetOrigin()))
        return img

    rewrite(label(root), nudge)
    return root


@accept
def spacing_round_off(folder):
    root = tiny(folder, file_ending=".nrrd")

    def nudge(img):
        img.SetSpacing(tuple(s * (1 + 1e-7) for s in img.GetSpacing()))
        return img

    rewrite(label(root, ending=".nrrd"), nudge)
    return root


@accept
def uncompressed_nii(folder):
    return tiny(folder, file_ending=".nii")


@accept
def nrrd_files(folder):
    return tiny(folder, file_ending=".nrrd")


@accept
def mha_files(folder):
    return tiny(folder, file_ending=".mha")


@accept
def path_with_spaces(folder):
    return tiny(folder / "my data set" / "Task 01 Brain")


@accept
def path_with_non_ascii_letters(folder):
    return tiny(folder / "Datensätze" / "Gehirn_ünd_Leber_日本")


@accept
def png_two_channel_2d(folder):
    return tiny(folder, shape=(16, 16), file_ending=".png", num_channels=2)


@accept
def grey_picture_saved_as_rgb(folder):
    root = tiny(folder, shape=(16, 16), file_ending=".png")
    for case in range(3):
        path = image(root, case, ending=".png")
        grey = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
        sitk.WriteImage(sitk.GetImageFromArray(np.stack([grey] * 3, axis=-1), isVector=True), str(path))
    return root


@accept
def nifti_2d_dataset(folder):
    return tiny(folder, shape=(16, 16))


@accept
def images_smaller_than_the_smallest_network(folder):
    return tiny(folder, shape=(3, 5, 5))


@accept
def labels_stored_as_int32(folder):
    root = tiny(folder)
    for case in range(3):
        rewrite(label(root, case), lambda img: sitk.Cast(img, sitk.sitkInt32))
    return root


@accept
def extra_keys_in_dataset_json(folder):
    root = tiny(folder)
    edit_json(root, lambda d: d.update(description="from a hospital", licence="CC-BY", reference="someone"))
    return root


@accept
def anisotropic_thick_slices(folder):
    return tiny(folder, spacing=(6.0, 0.7, 0.7))


REFUSED = [
    truncated_gz_image,
    truncated_gz_label,
    truncated_plain_nii,
    damaged_gzip_crc,
    empty_image_file,
    garbage_image_file,
    missing_image_file,
    missing_label_file,
    truncated_nrrd,
    truncated_mha,
    nan_in_image,
    inf_in_second_channel,
    fractional_label_values,
    nan_in_label,
    label_shape_differs,
    label_spacing_differs,
    label_origin_differs,
    label_direction_differs,
    channel_spacing_differs,
    channel_shape_differs,
    two_d_case_in_3d_set,
    single_slice_case_in_3d_set,
    msd_channels_differ_from_modality,
    undeclared_label_value,
    negative_label_value,
    colour_label_picture,
    four_d_label,
    invalid_json,
    missing_dataset_json,
    labels_without_background,
    no_channel_names,
    num_training_mismatch,
    file_ending_does_not_match,
    msd_entry_points_to_missing_file,
    no_training_cases,
    image_without_channel_suffix,
    ignore_label_not_largest,
    labels_with_a_gap,
]
ACCEPTED = [
    clean_nnunet_3d,
    clean_msd_two_channels,
    clean_msd_plain_nii,
    float_labels_with_integer_values,
    uint8_images,
    int16_ct_like_images,
    direction_round_off,
    origin_round_off,
    spacing_round_off,
    uncompressed_nii,
    nrrd_files,
    mha_files,
    path_with_spaces,
    path_with_non_ascii_letters,
    png_two_channel_2d,
    grey_picture_saved_as_rgb,
    nifti_2d_dataset,
    images_smaller_than_the_smallest_network,
    labels_stored_as_int32,
    extra_keys_in_dataset_json,
    anisotropic_thick_slices,
]
CATALOGUE = [Entry(build.__name__, build) for build in REFUSED + ACCEPTED]
