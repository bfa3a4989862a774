import json
from pathlib import Path

import numpy as np
import pytest

from autoseg.data.dataset import list_input_cases, load_dataset, read_case
from autoseg.data.geometry import default_geometry
from autoseg.data.image_io import write_image
from autoseg.data.synthetic import make_synthetic_dataset
from autoseg.errors import AutosegError

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
HIPPOCAMPUS = SHARED_DATA / "Task04_Hippocampus"
ISBI = SHARED_DATA / "Dataset002_ISBIMembranes"


def tiny_dataset(folder: Path, **options) -> Path:
    settings = dict(num_cases=3, shape=(6, 16, 16), spacing=(2.0, 1.0, 1.0))
    settings.update(options)
    return make_synthetic_dataset(folder, **settings)


def test_nnunet_layout_lists_channel_files_per_case(tmp_path):
    info = load_dataset(tiny_dataset(tmp_path / "ds", num_channels=2, num_test=1))
    assert info.layout == "nnunet_v2" and info.num_channels == 2 and info.channel_names == ["T1", "T2"]
    assert info.labels == {"background": 0, "organ": 1, "lesion": 2} and info.num_classes == 3
    assert [c.case_id for c in info.training] == ["case_000", "case_001", "case_002"]
    first = info.training[0]
    assert [p.name for p in first.image_files] == ["case_000_0000.nii.gz", "case_000_0001.nii.gz"]
    assert first.label_file == tmp_path / "ds" / "labelsTr" / "case_000.nii.gz"
    assert [c.case_id for c in info.test] == ["case_003"] and info.test[0].label_file.is_file()


def test_msd_layout_reads_the_training_list_and_4d_images(tmp_path):
    info = load_dataset(tiny_dataset(tmp_path / "msd", layout="msd", num_channels=2))
    assert info.layout == "msd" and info.file_ending == ".nii.gz" and info.num_channels == 2
    case = info.training[1]
    assert case.case_id == "case_001" and [p.name for p in case.image_files] == ["case_001.nii.gz"]
    image, geometry = read_case(case, info)
    assert image.shape == (2, 6, 16, 16) and geometry.spacing == (2.0, 1.0, 1.0)


def test_nnunet_v1_naming_under_an_msd_dataset_json_is_understood(tmp_path):
    root = tiny_dataset(tmp_path / "v1", layout="msd")
    for image in (root / "imagesTr").iterdir():
        image.rename(image.with_name(image.name.replace(".nii.gz", "_0000.nii.gz")))
    info = load_dataset(root)
    assert info.training[0].image_files == [root / "imagesTr" / "case_000_0000.nii.gz"]


def test_ignore_label_is_kept_apart_from_the_classes(tmp_path):
    root = tiny_dataset(tmp_path / "ds")
    data = json.loads((root / "dataset.json").read_text())
    data["labels"]["ignore"] = 3
    (root / "dataset.json").write_text(json.dumps(data))
    info = load_dataset(root)
    assert info.ignore_label == 3 and info.num_classes == 3


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda d: d.pop("file_ending"), "file_ending"),
        (lambda d: d.update(labels={"background": 0, "tumour": 2}), "consecutive"),
        (lambda d: d.update(labels={"background": 0, "both": [1, 2]}), "region"),
        (lambda d: d.pop("channel_names"), "neither 'channel_names'"),
    ],
)
def test_wrong_dataset_json_names_the_file_and_the_field(tmp_path, change, expected):
    root = tiny_dataset(tmp_path / "ds")
    data = json.loads((root / "dataset.json").read_text())
    change(data)
    (root / "dataset.json").write_text(json.dumps(data))
    with pytest.raises(AutosegError, match="dataset.json") as error:
        load_dataset(root)
    assert expected in str(error.value)


def test_missing_dataset_json_or_images_folder_is_explained(tmp_path):
    with pytest.raises(AutosegError, match="dataset folder not found"):
        load_dataset(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(AutosegError, match="no dataset.json"):
        load_dataset(tmp_path / "empty")
    root = tiny_dataset(tmp_path / "ds")
    (root / "imagesTr").rename(root / "images")
    with pytest.raises(AutosegError, match="imagesTr"):
        load_dataset(root)


def test_input_folder_in_the_dataset_naming_groups_channels(tmp_path):
    info = load_dataset(tiny_dataset(tmp_path / "ds", num_channels=2))
    cases = list_input_cases(tmp_path / "ds" / "imagesTr", info)
    assert [c.case_id for c in cases] == ["case_000", "case_001", "case_002"]
    assert all(len(c.image_files) == 2 for c in cases)


def test_input_folder_missing_a_channel_names_the_missing_file(tmp_path):
    info = load_dataset(tiny_dataset(tmp_path / "ds", num_channels=2))
    (tmp_path / "ds" / "imagesTr" / "case_001_0001.nii.gz").unlink()
    with pytest.raises(AutosegError, match=r"case_001_0001\.nii\.gz.*missing channel file"):
        list_input_cases(tmp_path / "ds" / "imagesTr", info)


def test_explicit_files_of_another_format_become_cases(tmp_path):
    info = load_dataset(tiny_dataset(tmp_path / "ds"))
    for name in ("scan_a.nrrd", "scan_b.mha"):
        write_image(np.ones((1, 4, 5, 6)), default_geometry((4, 5, 6)), tmp_path / name)
    cases = list_input_cases([tmp_path / "scan_a.nrrd", tmp_path / "scan_b.mha"], info)
    assert [(c.case_id, c.file_ending) for c in cases] == [("scan_a", ".nrrd"), ("scan_b", ".mha")]
    with pytest.raises(AutosegError, match="input not found"):
        list_input_cases([tmp_path / "scan_c.nrrd"], info)
    (tmp_path / "other").mkdir()
    write_image(np.ones((1, 4, 5, 6)), default_geometry((4, 5, 6)), tmp_path / "other" / "scan_a.nii.gz")
    with pytest.raises(AutosegError, match="same name"):
        list_input_cases([tmp_path / "scan_a.nrrd", tmp_path / "other"], info)


def test_msd_input_folder_treats_each_file_as_a_case(tmp_path):
    info = load_dataset(tiny_dataset(tmp_path / "msd", layout="msd", num_test=2))
    cases = list_input_cases(tmp_path / "msd" / "imagesTs", info)
    assert [c.case_id for c in cases] == ["case_003", "case_004"]


def test_read_case_refuses_a_wrong_channel_count(tmp_path):
    root = tiny_dataset(tmp_path / "msd", layout="msd", num_channels=2)
    data = json.loads((root / "dataset.json").read_text())
    data["modality"]["2"] = "FLAIR"
    (root / "dataset.json").write_text(json.dumps(data))
    info = load_dataset(root)
    with pytest.raises(AutosegError, match=r"case_000\.nii\.gz.*2 channel\(s\) on its 4th axis.*'modality' lists 3"):
        read_case(info.training[0], info)


@pytest.mark.realdata
@pytest.mark.skipif(not HIPPOCAMPUS.is_dir(), reason="../shared/data/Task04_Hippocampus is absent")
def test_hippocampus_loads_as_msd():
    info = load_dataset(HIPPOCAMPUS)
    assert info.layout == "msd" and len(info.training) == 200 and info.test == []
    assert info.channel_names == ["MRI"] and info.labels == {"background": 0, "Anterior": 1, "Posterior": 2}
    assert info.training[0].image_files == [HIPPOCAMPUS / "imagesTr" / "hippocampus_001.nii.gz"]


@pytest.mark.realdata
@pytest.mark.skipif(not ISBI.is_dir(), reason="../shared/data/Dataset002_ISBIMembranes is absent")
def test_isbi_loads_as_nnunet_v2_png():
    info = load_dataset(ISBI)
    assert info.layout == "nnunet_v2" and len(info.training) == 30 and info.file_ending == ".png"
    assert info.channel_names == ["EM"] and info.labels == {"background": 0, "membrane": 1}
    image, geometry = read_case(info.training[0], info)
    assert image.shape == (1, 1, 512, 512) and geometry.ndim == 2 and geometry.spacing == (999.0, 1.0, 1.0)


def test_ignore_label_must_be_the_largest_value(tmp_path):
    root = tiny_dataset(tmp_path / "ds")
    data = json.loads((root / "dataset.json").read_text())
    data["labels"] = {"background": 0, "ignore": 1, "organ": 2}
    (root / "dataset.json").write_text(json.dumps(data))
    with pytest.raises(AutosegError, match="ignore label") as error:
        load_dataset(root)
    assert str(root / "dataset.json") in str(error.value)
    data["labels"] = {"background": 0, "membrane": 1, "ignore": 255}
    (root / "dataset.json").write_text(json.dumps(data))
    assert load_dataset(root).ignore_label == 255
