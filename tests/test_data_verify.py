"""One test per problem verify must catch: each gives one line naming the file that needs fixing."""

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from autoseg.data.geometry import Geometry
from autoseg.data.image_io import read_label, write_image, write_label
from autoseg.data.synthetic import make_synthetic_dataset
from autoseg.data.verify import verify_dataset
from autoseg.errors import AutosegError

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def tiny_dataset(folder: Path, **options) -> Path:
    settings = dict(num_cases=3, shape=(6, 16, 16), spacing=(2.0, 1.0, 1.0))
    settings.update(options)
    return make_synthetic_dataset(folder, **settings)


def edit_json(root: Path, change) -> None:
    data = json.loads((root / "dataset.json").read_text())
    change(data)
    (root / "dataset.json").write_text(json.dumps(data))


def rewrite_label(root: Path, case: str, change) -> None:
    path = root / "labelsTr" / f"{case}.nii.gz"
    label, geometry = read_label(path)
    write_label(*change(label, geometry), path)


def single_problem(root: Path, **options) -> str:
    report = verify_dataset(root, progress=False, **options)
    assert len(report.problems) == 1, report.problems
    assert "\n" not in report.problems[0]
    return report.problems[0]


@pytest.mark.parametrize(
    "options",
    [
        dict(),
        dict(layout="msd", num_channels=2),
        dict(shape=(16, 16), file_ending=".png", num_channels=2),
        dict(random_geometry=True, file_ending=".nrrd"),
    ],
)
def test_clean_dataset_verifies_clean(tmp_path, options):
    report = verify_dataset(tiny_dataset(tmp_path / "ds", **options), progress=False)
    assert report.ok and report.problems == []
    assert len(report.cases) == 3 and report.cases["case_000"].label_values == [0, 1, 2]
    report.raise_if_problems()


def test_wrong_dataset_json_field(tmp_path):
    root = tiny_dataset(tmp_path / "ds")
    edit_json(root, lambda d: d.update(file_ending="nii.gz"))
    assert single_problem(root).startswith(f"{root / 'dataset.json'}: 'file_ending'")


def test_invalid_json(tmp_path):
    root = tiny_dataset(tmp_path / "ds")
    (root / "dataset.json").write_text('{"channel_names": {"0": "MRI"},}')
    assert "dataset.json" in single_problem(root) and "not valid JSON" in single_problem(root)


def test_missing_dataset_json(tmp_path):
    root = tiny_dataset(tmp_path / "ds")
    (root / "dataset.json").unlink()
    assert single_problem(root).startswith(f"{root / 'dataset.json'}: no dataset.json")


def test_empty_dataset(tmp_path):
    root = tiny_dataset(tmp_path / "ds")
    for folder in ("imagesTr", "labelsTr"):
        for path in (root / folder).iterdir():
            path.unlink()
    edit_json(root, lambda d: d.update(numTraining=0))
    assert single_problem(root).startswith(f"{root / 'imagesTr'}: dataset has no training cases")


def test_num_training_mismatch(tmp_path):
    root = tiny_dataset(tmp_path / "ds")
    edit_json(root, lambda d: d.update(numTraining=5))
    assert single_problem(root).startswith(f"{root / 'dataset.json'}: numTraining is 5 but 3")


def test_missing_channel_file(tmp_path):
    root = tiny_dataset(tmp_path / "ds", num_channels=2)
    (root / "imagesTr" / "case_001_0001.nii.gz").unlink()
    problem = single_problem(root)
    assert problem.startswith(
        f"{root / 'imagesTr' / 'case_001_0001.nii.gz'}: missing channel file: dataset.json lists 2 channels (T1, T2)"
    )


def test_label_without_any_image(tmp_path):
    root = tiny_dataset(tmp_path / "ds")
    (root / "imagesTr" / "case_002_0000.nii.gz").unlink()
    assert single_problem(root).startswith(f"{root / 'imagesTr' / 'case_002_0000.nii.gz'}: missing channel file")


def test_missing_label_file(tmp_path):
    root = tiny_dataset(tmp_path / "ds", layout="msd")
    (root / "labelsTr" / "case_000.nii.gz").unlink()
    assert single_problem(root).startswith(f"{root / 'labelsTr' / 'case_000.nii.gz'}: missing label file")


def test_unreadable_file(tmp_path):
    root = tiny_dataset(tmp_path / "ds")
    (root / "imagesTr" / "case_001_0000.nii.gz").write_bytes(b"\x00garbage")
    assert single_problem(root).startswith(f"{root / 'imagesTr' / 'case_001_0000.nii.gz'}: cannot read image")


def test_image_label_shape_mismatch(tmp_path):
    root = tiny_dataset(tmp_path / "ds")
    rewrite_label(
        root,
        "case_000",
        lambda label, g: (label[:, :15], Geometry(3, (16, 15, 6), g.spacing_itk, g.origin_itk, g.direction_itk)),
    )
    problem = single_problem(root)
    assert problem.startswith(f"{root / 'labelsTr' / 'case_000.nii.gz'}: label shape (6, 15, 16) differs")


@pytest.mark.parametrize(
    "field, value, reported",
    [
        ("spacing_itk", (1.0, 1.0, 2.5), "spacing"),
        ("origin_itk", (5.0, 0.0, 0.0), "origin"),
        ("direction_itk", (0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0), "direction"),
    ],
)
def test_image_label_geometry_mismatch(tmp_path, field, value, reported):
    root = tiny_dataset(tmp_path / "ds")
    rewrite_label(root, "case_001", lambda label, g: (label, Geometry.from_dict({**g.to_dict(), field: value})))
    problem = single_problem(root)
    assert problem.startswith(f"{root / 'labelsTr' / 'case_001.nii.gz'}: label geometry differs")
    assert reported in problem


def test_channel_files_disagree(tmp_path):
    root = tiny_dataset(tmp_path / "ds", num_channels=2)
    path = root / "imagesTr" / "case_002_0001.nii.gz"
    image = sitk.ReadImage(str(path))
    image.SetOrigin((0.0, 0.0, 40.0))
    sitk.WriteImage(image, str(path))
    problem = single_problem(root)
    assert problem.startswith(f"{path}: channel file does not match case_002_0000.nii.gz: origin")


def test_label_values_not_in_dataset_json(tmp_path):
    root = tiny_dataset(tmp_path / "ds")
    rewrite_label(root, "case_002", lambda label, g: (np.where(label == 2, 7, label), g))
    problem = single_problem(root)
    assert problem.startswith(f"{root / 'labelsTr' / 'case_002.nii.gz'}: label values [7] are not in dataset.json")


def test_non_integer_label_values(tmp_path):
    root = tiny_dataset(tmp_path / "ds")
    path = root / "labelsTr" / "case_000.nii.gz"
    label = sitk.ReadImage(str(path))
    soft = sitk.Cast(label, sitk.sitkFloat32) * 0.5
    sitk.WriteImage(soft, str(path))
    assert single_problem(root).startswith(f"{path}: label map has non-integer values (e.g. 0.5)")


@pytest.mark.parametrize("bad_value", [np.nan, np.inf])
def test_nan_or_inf_in_image(tmp_path, bad_value):
    # NRRD: ITK's NIfTI reader already turns NaN/Inf into 0, so a NIfTI file never shows them to us.
    root = tiny_dataset(tmp_path / "ds", num_channels=2, file_ending=".nrrd")
    path = root / "imagesTr" / "case_001_0001.nrrd"
    image = sitk.ReadImage(str(path))
    array = sitk.GetArrayFromImage(image)
    array[2, 3, 4] = bad_value
    corrupted = sitk.GetImageFromArray(array)
    corrupted.CopyInformation(image)
    sitk.WriteImage(corrupted, str(path))
    assert single_problem(root).startswith(f"{path}: image contains NaN or Inf values (channel 1)")


def test_msd_4d_channel_count_differs_from_modality(tmp_path):
    root = tiny_dataset(tmp_path / "msd", layout="msd", num_channels=2)
    edit_json(root, lambda d: d["modality"].update({"2": "FLAIR"}))
    report = verify_dataset(root, progress=False)
    assert len(report.problems) == 3  # every case
    assert report.problems[0].startswith(
        f"{root / 'imagesTr' / 'case_000.nii.gz'}: case 'case_000' holds 2 "
        "channel(s) on its 4th axis but dataset.json 'modality' lists 3"
    )


def test_image_without_channel_suffix(tmp_path):
    root = tiny_dataset(tmp_path / "ds")
    write_image(
        np.ones((1, 6, 16, 16)),
        read_label(root / "labelsTr" / "case_000.nii.gz")[1],
        root / "imagesTr" / "stray.nii.gz",
    )
    assert single_problem(root).startswith(f"{root / 'imagesTr' / 'stray.nii.gz'}: image file name lacks")


def test_file_ending_does_not_match_the_files(tmp_path):
    root = tiny_dataset(tmp_path / "ds", file_ending=".nrrd")
    edit_json(root, lambda d: d.update(file_ending=".nii.gz"))
    problems = verify_dataset(root, progress=False).problems
    assert problems[0].startswith(f"{root / 'imagesTr'}: no files ending in '.nii.gz'") and "['.nrrd']" in problems[0]


def test_raise_if_problems_summarises_in_one_error(tmp_path):
    root = tiny_dataset(tmp_path / "ds", num_cases=8)
    for case in range(8):
        (root / "labelsTr" / f"case_{case:03d}.nii.gz").unlink()
        (root / "labelsTr" / f"case_{case:03d}.nii.gz").write_bytes(b"")
    report = verify_dataset(root, progress=False, max_workers=2)
    assert len(report.problems) == 8
    with pytest.raises(AutosegError, match="8 problem") as error:
        report.raise_if_problems()
    assert "... and 7 more" in str(error.value) and "\n" not in str(error.value)


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.parametrize("name", ["Task04_Hippocampus", "Dataset002_ISBIMembranes"])
def test_real_dataset_verifies_clean(name):
    if not (SHARED_DATA / name).is_dir():
        pytest.skip(f"../shared/data/{name} is absent")
    report = verify_dataset(SHARED_DATA / name, progress=False)
    assert report.problems == []
    assert len(report.cases) == {"Task04_Hippocampus": 200, "Dataset002_ISBIMembranes": 30}[name]


def test_training_case_without_label_in_the_dataset_key(tmp_path):
    root = tiny_dataset(tmp_path / "ds")
    cases = {
        c: {"images": [f"imagesTr/{c}_0000.nii.gz"], "label": f"labelsTr/{c}.nii.gz"}
        for c in ("case_000", "case_001", "case_002")
    }
    del cases["case_001"]["label"]
    edit_json(root, lambda d: d.update(dataset=cases))
    problem = single_problem(root)
    assert problem.startswith(f"{root / 'dataset.json'}: training case 'case_001' has no \"label\"")
    assert "Fix: " in problem
