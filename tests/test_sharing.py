"""Export -> delete WORK -> predict from the zip gives the same label maps, byte for byte; the Python predictor
gives the CLI's labels on SimpleITK images and numpy arrays; import unpacks a checked model."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

import autoseg
from autoseg import cli
from autoseg.errors import AutosegError
from autoseg.inference.run import predict
from autoseg.sharing.export import NO_DATASET
from autoseg.sharing.importing import import_model
from tests.sharing_fixtures import make_trained_work

pytestmark = pytest.mark.slow  # every test exports or predicts from a trained WORK (make_trained_work)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path, Path, Path]:
    """(dataset, WORK, model.zip, predictions of `autoseg predict WORK` on the test images)."""
    root = tmp_path_factory.mktemp("sharing")
    dataset, work = make_trained_work(root)
    reference = root / "predicted_from_work"
    predict(work, dataset / "imagesTs", reference, progress=False)
    model = root / "model.zip"
    assert cli.main(["export", str(work), "-o", str(model)]) == 0
    return dataset, work, model, reference


def _label_files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.nii.gz"))}


def test_predict_from_the_zip_without_work_is_byte_identical(trained, tmp_path):
    dataset, work, model, reference = trained
    # the model travels: a copy of the zip elsewhere, and no WORK folder at all
    moved = tmp_path / "elsewhere" / "model.zip"
    moved.parent.mkdir()
    shutil.copy(model, moved)
    hidden = tmp_path / "work_gone"
    shutil.move(str(work), str(hidden))
    try:
        out = tmp_path / "from_zip"
        assert cli.main(["predict", "--model", str(moved), "-i", str(dataset / "imagesTs"), "-o", str(out)]) == 0
    finally:
        shutil.move(str(hidden), str(work))
    expected = _label_files(reference)
    assert len(expected) == 2 and _label_files(out) == expected
    report = json.loads((out / "prediction_report.json").read_text())
    assert report["postprocessing"] == json.loads((work / "inference.json").read_text())["postprocessing"]


def test_the_zip_holds_what_predict_needs_and_nothing_of_the_training_data(trained):
    _, work, model, _ = trained
    with zipfile.ZipFile(model) as archive:
        names = set(archive.namelist())
        card = json.loads(archive.read("model.json"))
        plans = json.loads(archive.read("plans.json"))
        weights = archive.read("models/3d_fullres/fold_0/checkpoint_final.pt")
    folds = {
        f"models/3d_fullres/fold_{k}/{name}"
        for k in (0, 1)
        for name in ("checkpoint_final.pt", "training_summary.json")
    }
    assert names == {"model.json", "README.md", "plans.json", "inference.json"} | folds
    assert plans["dataset_path"] == NO_DATASET
    assert set(card["files"]) == names - {"model.json"}
    assert card["dataset"]["training_cases"] == 6 and card["dataset"]["labels"] == plans["labels"]
    assert card["configurations"]["3d_fullres"]["folds"] == ["0", "1"]
    assert card["configurations"]["3d_fullres"]["cross_validation"]["folds_scored"] == 2
    assert card["prediction"]["chosen_by"] == "find-best"
    # the slim checkpoint: weights only, no optimizer state or history of the training run
    full = (work / "models/3d_fullres/fold_0/checkpoint_final.pt").stat().st_size
    assert len(weights) < full


def test_export_of_one_fold_predicts_like_work_with_that_fold(trained, tmp_path):
    dataset, work, _, _ = trained
    model = tmp_path / "fold1"  # a folder this time
    autoseg.export_model(work, model, folds=["1"])
    assert sorted(p.parent.name for p in model.glob("models/*/fold_*/*.pt")) == ["fold_1"]
    # the fold's training record travels with it: predict runs the network at the precision it trained in
    assert (
        json.loads((model / "models/3d_fullres/fold_1/training_summary.json").read_text())["precision"]
        == json.loads((work / "models/3d_fullres/fold_1/training_summary.json").read_text())["precision"]
    )
    a, b = tmp_path / "work_fold1", tmp_path / "model_fold1"
    predict(work, dataset / "imagesTs", a, folds=["1"], progress=False)
    assert cli.main(["predict", "--model", str(model), "-i", str(dataset / "imagesTs"), "-o", str(b)]) == 0
    assert _label_files(a) == _label_files(b)


def test_import_unpacks_a_checked_model_that_predicts_the_same(trained, tmp_path):
    dataset, _, model, reference = trained
    folder = import_model(model, tmp_path / "models")
    assert folder == tmp_path / "models" / "model" and (folder / "model.json").is_file()
    with pytest.raises(AutosegError, match="already imported"):
        import_model(model, tmp_path / "models")
    out = tmp_path / "from_folder"
    assert cli.main(["predict", "--model", str(folder), "-i", str(dataset / "imagesTs"), "-o", str(out)]) == 0
    assert _label_files(out) == _label_files(reference)
    # a changed file is noticed before anything runs
    plans = folder / "plans.json"
    plans.write_text(plans.read_text().replace('"batch_size"', '"batch_size" ', 1))
    with pytest.raises(AutosegError, match="differs from what model.json records"):
        autoseg.Predictor.load(folder)


def test_python_predictor_gives_the_cli_labels_for_sitk_images_and_numpy_arrays(trained):
    dataset, _, model, reference = trained
    predictor = autoseg.Predictor.load(model, device="cpu")
    networks = [m.network for ms in predictor.models.values() for m in ms]
    for image_file in sorted((dataset / "imagesTs").glob("*_0000.nii.gz")):
        case = image_file.name.removesuffix("_0000.nii.gz")
        expected_image = sitk.ReadImage(str(reference / f"{case}.nii.gz"))
        expected = sitk.GetArrayFromImage(expected_image)
        image = sitk.ReadImage(str(image_file))
        labels = predictor.predict(image)
        assert isinstance(labels, sitk.Image)
        np.testing.assert_array_equal(sitk.GetArrayFromImage(labels), expected)
        assert labels.GetSpacing() == pytest.approx(image.GetSpacing())
        assert labels.GetOrigin() == pytest.approx(image.GetOrigin())
        array = sitk.GetArrayFromImage(image)
        details = predictor.predict_with_details(array, spacing=image.GetSpacing()[::-1])
        np.testing.assert_array_equal(details.labels, expected)
        assert details.probabilities.shape == (3, *array.shape)
        np.testing.assert_allclose(details.probabilities.sum(0), 1.0, atol=1e-4)
        assert 0.0 <= details.uncertainty["mean_entropy_foreground"] <= 1.0
    # the networks were loaded once and reused for every case
    assert [m.network for ms in predictor.models.values() for m in ms] == networks


def test_python_predictor_refuses_what_it_cannot_segment(trained):
    _, _, model, _ = trained
    predictor = autoseg.Predictor.load(model, device="cpu", tta=False)
    with pytest.raises(AutosegError, match="spacing"):
        predictor.predict(np.zeros((10, 32, 32), np.float32))
    with pytest.raises(AutosegError, match="expects 1"):
        predictor.predict(np.zeros((2, 10, 32, 32), np.float32), spacing=(3.0, 0.9, 0.9))


def test_predict_needs_either_work_or_model(trained, tmp_path, capsys):
    dataset, work, model, _ = trained
    code = cli.main(
        ["predict", str(work), "--model", str(model), "-i", str(dataset / "imagesTs"), "-o", str(tmp_path / "o")]
    )
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--model" in err
