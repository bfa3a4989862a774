"""evaluate_folders end to end on tiny label files written with SimpleITK."""

import json

import numpy as np
import pytest
import SimpleITK as sitk

from autoseg.errors import AutosegError
from autoseg.evaluation.summary import evaluate_folders

LABELS = {"background": 0, "anterior": 1, "posterior": 2}
SPACING_ITK = (1.0, 1.0, 3.0)  # x, y, z: numpy order (3, 1, 1), one voxel along z is 3 mm


def _write(array, path, spacing_itk=SPACING_ITK):
    image = sitk.GetImageFromArray(array.astype(np.uint8))
    image.SetSpacing(spacing_itk)
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path))


def _reference():
    ref = np.zeros((6, 8, 8), np.uint8)
    ref[2, :, :] = 1  # a full plane of label 1 at z = 2
    ref[4, 2:6, 2:6] = 2
    return ref


@pytest.fixture
def folders(tmp_path):
    """case_a perfect; case_b: label 1 shifted one voxel along z, label 2 missed; case_c: no label 2 anywhere."""
    ref_dir, pred_dir = tmp_path / "ref", tmp_path / "pred"
    ref = _reference()
    shifted = np.zeros_like(ref)
    shifted[3] = 1
    no_posterior = np.where(ref == 2, 0, ref)
    cases = {"case_a": (ref, ref), "case_b": (ref, shifted), "case_c": (no_posterior, no_posterior)}
    for case, (r, p) in cases.items():
        _write(r, ref_dir / f"{case}.nii.gz")
        _write(p, pred_dir / f"{case}.nii.gz")
    return pred_dir, ref_dir


def test_folder_summary_per_case_per_class_and_foreground_mean(folders, tmp_path):
    pred_dir, ref_dir = folders
    out = tmp_path / "out" / "summary.json"
    summary = evaluate_folders(pred_dir, ref_dir, labels=LABELS, out_json=out)
    assert summary["labels"] == {"anterior": 1, "posterior": 2}
    cases = {c["case"]: c["metrics"] for c in summary["cases"]}
    assert sorted(cases) == ["case_a", "case_b", "case_c"]
    # case_b: the label-1 plane moved by one voxel along z = 3 mm (spacing read from the file, in numpy order).
    assert cases["case_b"]["anterior"]["Dice"] == 0.0
    assert cases["case_b"]["anterior"]["HD95"] == pytest.approx(3.0)
    assert cases["case_b"]["posterior"]["prediction_empty"] and cases["case_b"]["posterior"]["Dice"] == 0.0
    assert cases["case_c"]["posterior"]["reference_empty"] and cases["case_c"]["posterior"]["Dice"] == 1.0
    anterior, posterior = summary["per_class"]["anterior"], summary["per_class"]["posterior"]
    assert anterior["mean"]["Dice"] == pytest.approx(2 / 3)
    assert anterior["median"]["Dice"] == 1.0
    assert anterior["std"]["Dice"] == pytest.approx(np.std([1, 0, 1]))
    assert (posterior["n_reference_empty"], posterior["n_prediction_empty"]) == (1, 2)
    assert summary["foreground_mean"]["Dice"] == pytest.approx((2 / 3 + 2 / 3) / 2)
    assert json.loads(out.read_text()) == json.loads(json.dumps(summary))


def test_labels_inferred_from_the_files_give_the_same_scores(folders):
    pred_dir, ref_dir = folders
    named = evaluate_folders(pred_dir, ref_dir, labels=LABELS)
    inferred = evaluate_folders(pred_dir, ref_dir)
    assert inferred["labels"] == {"1": 1, "2": 2}
    assert inferred["foreground_mean"] == named["foreground_mean"]
    # case_c holds no label 2 at all: it is still scored, as 'both empty'.
    assert inferred["per_class"]["2"]["n_cases"] == 3


def test_two_workers_agree_with_one(folders):
    pred_dir, ref_dir = folders
    one = evaluate_folders(pred_dir, ref_dir, labels=LABELS, workers=1)
    two = evaluate_folders(pred_dir, ref_dir, labels=LABELS, workers=2)
    assert one["cases"] == two["cases"] and one["per_class"] == two["per_class"]


def test_missing_prediction_names_the_case(folders):
    pred_dir, ref_dir = folders
    (pred_dir / "case_b.nii.gz").unlink()
    with pytest.raises(AutosegError, match="case_b") as caught:
        evaluate_folders(pred_dir, ref_dir, labels=LABELS)
    assert caught.value.fix and "predict" in caught.value.fix


def test_prediction_on_another_grid_names_the_file(folders):
    pred_dir, ref_dir = folders
    _write(np.zeros((6, 8, 9), np.uint8), pred_dir / "case_a.nii.gz")
    with pytest.raises(AutosegError, match="case_a.nii.gz") as caught:
        evaluate_folders(pred_dir, ref_dir, labels=LABELS)
    assert "shape" in str(caught.value)
    _write(_reference(), pred_dir / "case_a.nii.gz", spacing_itk=(1.0, 1.0, 2.0))
    with pytest.raises(AutosegError, match="spacing"):
        evaluate_folders(pred_dir, ref_dir, labels=LABELS)


def test_extra_predictions_are_listed_and_ignored(folders):
    pred_dir, ref_dir = folders
    _write(_reference(), pred_dir / "case_z.nii.gz")
    summary = evaluate_folders(pred_dir, ref_dir, labels=LABELS)
    assert summary["n_cases"] == 3 and summary["predictions_without_reference"] == ["case_z.nii.gz"]


def test_mixed_reference_endings_ask_for_file_ending(folders):
    pred_dir, ref_dir = folders
    _write(_reference(), ref_dir / "case_d.nrrd")
    with pytest.raises(AutosegError, match="endings"):
        evaluate_folders(pred_dir, ref_dir, labels=LABELS)
    assert evaluate_folders(pred_dir, ref_dir, labels=LABELS, file_ending=".nii.gz")["n_cases"] == 3


def test_background_only_folders_have_nothing_to_score(tmp_path):
    empty = np.zeros((2, 4, 4), np.uint8)
    _write(empty, tmp_path / "ref" / "x.nii.gz")
    _write(empty, tmp_path / "pred" / "x.nii.gz")
    with pytest.raises(AutosegError, match="no foreground label"):
        evaluate_folders(tmp_path / "pred", tmp_path / "ref")


def test_2d_png_labels_are_measured_in_plane(tmp_path):
    ref = np.zeros((10, 12), np.uint8)
    ref[2:6, 2:6] = 1
    pred = np.roll(ref, 1, axis=1)
    for folder, array in (("ref", ref), ("pred", pred)):
        (tmp_path / folder).mkdir()
        sitk.WriteImage(sitk.GetImageFromArray(array), str(tmp_path / folder / "slice_07.png"))
    summary = evaluate_folders(tmp_path / "pred", tmp_path / "ref", labels={"membrane": 1})
    metrics = summary["cases"][0]["metrics"]["membrane"]
    assert summary["file_ending"] == ".png"
    assert metrics["Dice"] == pytest.approx(2 * 12 / 32)
    assert metrics["HD95"] == pytest.approx(1.0)  # PNG pixels are 1 mm; the 999 mm z axis plays no part
