"""The CT-like generator: int16 HU with an air background of -1000, labels nested inside the body."""

import json

import numpy as np
import SimpleITK as sitk

from autoseg.data.dataset import load_dataset
from autoseg.data.synthetic import make_ct_dataset
from autoseg.data.synthetic_ct import AIR_HU, ct_case
from autoseg.data.verify import verify_dataset


def test_ct_case_has_air_body_organ_and_lesion():
    image, label = ct_case(np.random.default_rng(0), (24, 64, 64), (1.5, 0.8, 0.8))
    assert image.dtype == np.int16 and label.dtype == np.uint8 and image.shape == label.shape == (24, 64, 64)
    assert set(np.unique(label)) == {0, 1, 2}
    assert (image[:, 0, :] == AIR_HU).all()  # air all around the body
    assert 0.2 < (image == AIR_HU).mean() < 0.8
    assert (image[label > 0] > -200).all()  # labels lie inside the body
    organ, lesion = image[label == 1].mean(), image[label == 2].mean()
    assert 45 < organ < 75 and 0 < lesion < 30


def test_make_ct_dataset_writes_int16_files_that_verify(tmp_path):
    folder = make_ct_dataset(tmp_path / "CT", cases=2, num_test=1, shape=(16, 40, 48), num_classes=2, seed=3)
    info = load_dataset(folder)
    assert [c.case_id for c in info.training] == ["ct_000", "ct_001"] and info.channel_names == ["CT"]
    written = sitk.ReadImage(str(folder / "imagesTr" / "ct_000_0000.nii.gz"))
    assert written.GetPixelID() == sitk.sitkInt16 and written.GetSize() == (48, 40, 16)
    assert np.allclose(written.GetSpacing(), (0.8, 0.8, 1.5))
    assert (folder / "labelsTs" / "ct_002.nii.gz").is_file()
    assert json.loads((folder / "dataset.json").read_text())["labels"] == {"background": 0, "organ": 1}
    assert verify_dataset(folder, progress=False).ok
