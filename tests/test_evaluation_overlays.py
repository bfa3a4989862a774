"""Overlay PNGs: one per case, three panels, on the slice with most foreground, from arrays or files."""

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image

from autoseg.errors import AutosegError
from autoseg.evaluation.overlays import LABEL_COLOURS, most_foreground_slice, save_overlays


def _volume_case(seed):
    rng = np.random.default_rng(seed)
    image = rng.normal(size=(1, 5, 24, 20)).astype(np.float32)
    ref = np.zeros((5, 24, 20), np.uint8)
    ref[3, 4:16, 4:12] = 1
    ref[1, 5:7, 5:7] = 1
    pred = np.roll(ref, 2, axis=2)
    return image, ref, pred


def _contains_colour(png_path, colour, tolerance=8):
    pixels = np.asarray(Image.open(png_path).convert("RGB")).astype(int)
    return bool(np.any(np.all(np.abs(pixels - np.round(colour * 255)) <= tolerance, axis=-1)))


def test_slice_with_most_reference_foreground_then_prediction_then_middle():
    ref = np.zeros((5, 4, 4), int)
    pred = np.zeros((5, 4, 4), int)
    assert most_foreground_slice(ref, pred) == 2
    pred[4, 0, 0] = 1
    assert most_foreground_slice(ref, pred) == 4
    ref[1, :2, :2] = 1
    ref[3, 0, 0] = 2
    assert most_foreground_slice(ref, pred) == 1


def test_overlays_from_arrays_3d_and_2d(tmp_path):
    image, ref, pred = _volume_case(0)
    flat_image = image[0, 3]  # a 2D (Y, X) case
    flat_ref, flat_pred = ref[3], pred[3]
    written = save_overlays([image, flat_image], [ref, flat_ref], [pred, flat_pred], tmp_path, names=["vol", "flat"])
    assert [p.name for p in written] == ["vol.png", "flat.png"]
    for path in written:
        with Image.open(path) as png:
            assert png.format == "PNG" and png.width > 2 * png.height
        assert _contains_colour(path, LABEL_COLOURS[0])  # label 1's outline is drawn


def test_overlays_from_files_and_only_the_first_n(tmp_path):
    cases = []
    for i in range(3):
        image, ref, pred = _volume_case(i)
        paths = [tmp_path / f"{kind}" / f"case_{i}.nii.gz" for kind in ("img", "ref", "pred")]
        for path, array in zip(paths, (image[0], ref, pred)):
            path.parent.mkdir(exist_ok=True)
            volume = sitk.GetImageFromArray(array)
            volume.SetSpacing((0.5, 1.0, 3.0))
            sitk.WriteImage(volume, str(path))
        cases.append(paths)
    images, refs, preds = zip(*cases)
    written = save_overlays(images, refs, preds, tmp_path / "png", n=2)
    assert sorted(p.name for p in (tmp_path / "png").iterdir()) == ["case_0.png", "case_1.png"]
    assert written == [tmp_path / "png" / "case_0.png", tmp_path / "png" / "case_1.png"]


def test_mismatched_case_is_refused(tmp_path):
    image, ref, pred = _volume_case(0)
    with pytest.raises(AutosegError, match="differ in shape"):
        save_overlays([image], [ref], [pred[:, :10]], tmp_path)
