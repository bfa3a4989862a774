"""Reviewed bugs in predict / evaluate / validation, each pinned by a test that failed before its fix.

1. `evaluate --overlays N` draws the N worst cases (and needs --dataset for the images).
2. `predict --step` outside (0, 1] is refused with one line, before any work.
3. The ignore label is left out of every score (evaluation, full-image validation, find-best) and is no class.
4. A second predict into a folder adds its cases to prediction_report.json; .npz files count as outputs.
5. `predict --checkpoint checkpoint_best.pt` chooses configurations and folds that have that file.

One tiny model (3d_fullres, one epoch of two iterations) serves the predict tests; the rest needs no training.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from autoseg import cli
from autoseg.data.image_io import read_label, write_label
from autoseg.data.synthetic import make_synthetic_dataset
from autoseg.errors import AutosegError
from autoseg.evaluation.summary import evaluate_folders
from autoseg.inference.find_best import _class_dice, postprocessing_variants
from autoseg.inference.predictor import InferenceSettings
from autoseg.inference.run import default_selection, predict
from autoseg.inference.sliding_window import sliding_window_logits
from autoseg.schema.plans import load_plans
from autoseg.training import validation
from tests.tiny_work import make_tiny_work

IGNORE = 3  # synthetic datasets have background 0, organ 1, lesion 2


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(capsys, *argv) -> str:
    code, out, err = run_cli(capsys, *argv)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, (out, err)
    assert "Fix: " in lines[0] and "Traceback" not in out + err
    return lines[0]


# --- fixtures ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> SimpleNamespace:
    """A 4-case dataset (+2 test images) and a work folder with 3d_fullres fold 0 trained for 2 iterations."""
    return make_tiny_work(tmp_path_factory.mktemp("review"), "Tiny", seed=5)


@pytest.fixture
def work(tiny, tmp_path) -> Path:
    """A private copy of the work folder (models and plans): tests rename checkpoints."""
    copy = tmp_path / "work"
    shutil.copytree(tiny.work, copy, ignore=shutil.ignore_patterns("preprocessed"))
    return copy


@pytest.fixture
def ignore_dataset(tmp_path) -> SimpleNamespace:
    """A dataset whose dataset.json declares "ignore": 3; its references carry a slab of 3 (z = 0..1).

    `predictions` holds the original labels with class 1 painted over the ignored slab: right everywhere that
    was annotated, so every class scores Dice 1 once the slab is left out.
    """
    dataset = make_synthetic_dataset(
        tmp_path / "Ign", num_cases=3, shape=(6, 20, 20), spacing=(2.0, 1.0, 1.0), seed=1, name="Ign"
    )
    meta = json.loads((dataset / "dataset.json").read_text())
    meta["labels"]["ignore"] = IGNORE
    (dataset / "dataset.json").write_text(json.dumps(meta))
    predictions = tmp_path / "pred"
    originals = {}
    for path in sorted((dataset / "labelsTr").glob("*.nii.gz")):
        label, geometry = read_label(path)
        originals[path.name] = label.copy()
        predicted = label.copy()
        predicted[:2] = 1
        write_label(predicted, geometry, predictions / path.name)
        label[:2] = IGNORE
        write_label(label, geometry, path)
    return SimpleNamespace(
        dataset=dataset, references=dataset / "labelsTr", predictions=predictions, originals=originals
    )


# --- 1. evaluate --overlays --------------------------------------------------------------------------------


@pytest.fixture
def degraded(tmp_path) -> SimpleNamespace:
    """Predictions = references, except case_001 (lesion missed) and case_002 (nothing found): the two worst."""
    dataset = make_synthetic_dataset(
        tmp_path / "Ov", num_cases=4, shape=(6, 20, 20), spacing=(2.0, 1.0, 1.0), seed=2, name="Ov"
    )
    predictions = tmp_path / "pred"
    for path in sorted((dataset / "labelsTr").glob("*.nii.gz")):
        label, geometry = read_label(path)
        if path.name.startswith("case_001"):
            label = np.where(label == 2, 1, label)
        if path.name.startswith("case_002"):
            label = np.zeros_like(label)
        write_label(label, geometry, predictions / path.name)
    return SimpleNamespace(dataset=dataset, predictions=predictions, references=dataset / "labelsTr")


def test_evaluate_overlays_draw_the_worst_cases(degraded, tmp_path, capsys):
    summary = tmp_path / "scores" / "summary.json"
    code, out, err = run_cli(
        capsys,
        "evaluate",
        degraded.predictions,
        degraded.references,
        "-o",
        summary,
        "--dataset",
        degraded.dataset,
        "--overlays",
        2,
    )
    assert code == 0, err
    folder = tmp_path / "scores" / "summary_overlays"
    assert sorted(p.name for p in folder.iterdir()) == ["case_001.png", "case_002.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in folder.iterdir())
    assert "case_002" in out and str(folder) in out


def test_evaluate_overlays_without_dataset_is_refused_before_scoring(degraded, tmp_path, capsys):
    summary = tmp_path / "summary.json"
    line = one_line_error(capsys, "evaluate", degraded.predictions, degraded.references, "-o", summary, "--overlays", 2)
    assert "--dataset" in line
    assert not summary.exists()


# --- 2. predict --step ------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("step", ["0", "-0.5", "1.5", "nan"])
def test_predict_refuses_a_step_outside_zero_one(tiny, tmp_path, capsys, step):
    out = tmp_path / "out"
    line = one_line_error(capsys, "predict", tiny.work, "-i", tiny.images, "-o", out, "--step", step)
    assert "--step" in line and "(0, 1]" in line
    assert not out.exists()


def test_step_is_checked_by_the_library_too():
    with pytest.raises(AutosegError, match=r"\(0, 1\]"):
        InferenceSettings(step=1.5)
    network = torch.nn.Conv3d(1, 2, 1)
    with pytest.raises(AutosegError, match=r"\(0, 1\]"):
        sliding_window_logits(network, np.zeros((1, 4, 8, 8), np.float32), [4, 4, 4], 2, 3, step=0.0)
    logits = sliding_window_logits(network, np.zeros((1, 4, 8, 8), np.float32), [4, 4, 4], 2, 3, step=1.0)
    assert torch.isfinite(logits).all()


# --- 3. the ignore label ----------------------------------------------------------------------------------


def test_evaluation_leaves_ignored_voxels_out_and_does_not_score_the_ignore_label(ignore_dataset):
    labels = {"background": 0, "organ": 1, "lesion": 2, "ignore": IGNORE}
    summary = evaluate_folders(ignore_dataset.predictions, ignore_dataset.references, labels=labels)
    assert summary["labels"] == {"organ": 1, "lesion": 2} and summary["ignore_label"] == IGNORE
    assert summary["foreground_mean"]["Dice"] == pytest.approx(1.0)
    # labels read from the files: the ignore value given separately is no class either
    inferred = evaluate_folders(ignore_dataset.predictions, ignore_dataset.references, ignore_label=IGNORE)
    assert set(inferred["per_class"]) == {"1", "2"}
    assert inferred["foreground_mean"]["Dice"] == pytest.approx(1.0)


def test_evaluate_cli_takes_the_ignore_label_from_the_dataset(ignore_dataset, tmp_path, capsys):
    out = tmp_path / "summary.json"
    code, _, err = run_cli(
        capsys,
        "evaluate",
        ignore_dataset.predictions,
        ignore_dataset.references,
        "-o",
        out,
        "--dataset",
        ignore_dataset.dataset,
    )
    assert code == 0, err
    summary = json.loads(out.read_text())
    assert set(summary["per_class"]) == {"organ", "lesion"}
    assert summary["foreground_mean"]["Dice"] == pytest.approx(1.0)


def test_find_best_dice_leaves_ignored_voxels_out():
    ref = np.zeros((4, 8, 8), np.uint8)
    ref[1:3, 2:6, 2:6] = 1
    ref[3] = IGNORE
    seg = np.where(ref == IGNORE, 1, ref)  # class 1 predicted where nobody annotated
    assert _class_dice(seg, ref, [1, 2], IGNORE) == [1.0, 1.0]
    assert _class_dice(seg, ref, [1, 2]) != [1.0, 1.0]  # as it was scored before
    variants = postprocessing_variants(seg, ref, [1, 2], IGNORE)
    assert variants["fg0"] == [1.0, 1.0]


def test_pseudo_dice_leaves_ignored_voxels_out():
    target = torch.zeros((1, 2, 4, 4), dtype=torch.long)
    target[0, 0, :2] = 1
    target[0, 1] = IGNORE
    predicted = torch.where(target == IGNORE, torch.ones_like(target), target)
    logits = torch.nn.functional.one_hot(predicted, 3).permute(0, 4, 1, 2, 3).float()
    counts = validation.confusion_counts(logits, target, num_classes=3)
    assert counts[0].tolist() == [8, 0, 0]
    assert validation.pseudo_dice(counts)[0] == 1.0


def test_full_image_validation_leaves_ignored_voxels_out(ignore_dataset, tmp_path, monkeypatch):
    """The network is replaced by the crafted predictions: validation must score them as perfect."""
    plans = SimpleNamespace(
        dataset_path=str(ignore_dataset.dataset),
        labels={"background": 0, "organ": 1, "lesion": 2},
        ignore_label=IGNORE,
        file_ending=".nii.gz",
        transpose_backward=[0, 1, 2],
        regions=None,
        regions_class_order=None,
    )
    cases = []
    for path in sorted(ignore_dataset.predictions.iterdir()):
        predicted, geometry = read_label(path)
        one_hot = np.stack([(predicted == k).astype(np.float32) for k in range(3)])
        cases.append(
            SimpleNamespace(
                case_id=path.name[: -len(".nii.gz")], image=one_hot, properties={"geometry": geometry.to_dict()}
            )
        )
    monkeypatch.setattr(validation, "predict_preprocessed", lambda models, data, config, settings, **_: data)
    monkeypatch.setattr(validation, "restore_probabilities", lambda probs, properties, backward, **_: probs)
    summary = validation.validate_full_images(
        tmp_path,
        plans,
        None,
        None,
        cases,
        tmp_path / "validation",
        settings=InferenceSettings(),
        save_probabilities=False,
        progress=False,
    )
    assert set(summary["per_class"]) == {"organ", "lesion"}
    assert summary["foreground_mean"]["Dice"] == pytest.approx(1.0)


# --- 4. the prediction report and the clash check -----------------------------------------------------------


def _report(out: Path) -> dict:
    return json.loads((out / "prediction_report.json").read_text())


@pytest.mark.slow
def test_a_second_predict_adds_its_cases_to_the_report(tiny, tmp_path):
    out = tmp_path / "out"
    first, second = sorted(tiny.images.iterdir())
    predict(tiny.work, [first], out, tta=False, device="cpu", progress=False)
    predict(tiny.work, [second], out, tta=False, device="cpu", progress=False)
    assert sorted(_report(out)["cases"]) == ["case_004", "case_005"]
    returned = predict(tiny.work, [second], out, tta=True, device="cpu", overwrite=True, progress=False)
    report = _report(out)
    assert sorted(returned["cases"]) == ["case_005"], "the caller hears about this run only"
    assert report["cases"]["case_005"]["settings"]["tta"] is True, "the new entry wins"
    assert report["cases"]["case_004"]["settings"]["tta"] is False
    assert report["tta"] is True
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == [], "no temporary file is left"


@pytest.mark.slow
def test_an_unreadable_report_is_refused_before_predicting(tiny, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "prediction_report.json").write_text("[]")
    with pytest.raises(AutosegError, match="prediction report") as error:
        predict(tiny.work, tiny.images, out, tta=False, device="cpu", progress=False)
    assert error.value.path == str(out / "prediction_report.json")
    assert sorted(p.name for p in out.iterdir()) == ["prediction_report.json"]


@pytest.mark.slow
def test_existing_probabilities_are_not_overwritten(tiny, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "case_004.npz").write_bytes(b"the user's probabilities")
    # without --save-probabilities the .npz is not an output: no clash
    assert run_cli(capsys, "predict", tiny.work, "-i", tiny.images, "-o", out, "--no-tta")[0] == 0
    for label in out.glob("*.nii.gz"):
        label.unlink()
    line = one_line_error(
        capsys, "predict", tiny.work, "-i", tiny.images, "-o", out, "--no-tta", "--save-probabilities"
    )
    assert "case_004.npz" in line and "--overwrite" in line
    assert (out / "case_004.npz").read_bytes() == b"the user's probabilities"


# --- 5. --checkpoint --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_predict_with_checkpoint_best_uses_the_folds_that_have_it(tiny, work, tmp_path):
    """Only checkpoint_best.pt trained (no final): before, predict found no trained model at all."""
    fold0 = work / "models" / "3d_fullres" / "fold_0"
    (fold0 / "checkpoint_final.pt").rename(fold0 / "checkpoint_best.pt")
    image = sorted(tiny.images.iterdir())[0]
    report = predict(
        work, [image], tmp_path / "a", tta=False, device="cpu", checkpoint="checkpoint_best.pt", progress=False
    )
    settings = report["cases"]["case_004"]["settings"]
    assert settings["folds"] == {"3d_fullres": ["0"]} and settings["checkpoint"] == "checkpoint_best.pt"
    # a fold with only the final checkpoint is skipped for best, and the only one used for final
    fold1 = fold0.with_name("fold_1")
    fold1.mkdir()
    shutil.copy(fold0 / "checkpoint_best.pt", fold1 / "checkpoint_final.pt")
    for checkpoint, fold in (("checkpoint_best.pt", "0"), ("checkpoint_final.pt", "1")):
        report = predict(
            work, [image], tmp_path / checkpoint, tta=False, device="cpu", checkpoint=checkpoint, progress=False
        )
        assert report["cases"]["case_004"]["settings"]["folds"] == {"3d_fullres": [fold]}


@pytest.mark.slow
def test_default_selection_honours_the_checkpoint(tiny, tmp_path):
    """3d_fullres has only checkpoint_final.pt, 2d only checkpoint_best.pt: each request finds its own."""
    plans = load_plans(tiny.work)
    for name, checkpoint in (("3d_fullres", "checkpoint_final.pt"), ("2d", "checkpoint_best.pt")):
        fold = tmp_path / "models" / name / "fold_0"
        fold.mkdir(parents=True)
        (fold / checkpoint).write_bytes(b"")
    assert default_selection(tmp_path, plans)["configurations"] == ["3d_fullres"]
    assert default_selection(tmp_path, plans, "checkpoint_best.pt")["configurations"] == ["2d"]
    with pytest.raises(AutosegError, match="checkpoint_latest.pt") as error:
        default_selection(tmp_path, plans, "checkpoint_latest.pt")
    assert error.value.path == str(tmp_path / "models") and "checkpoint_final.pt" in error.value.fix


@pytest.mark.slow
def test_checkpoint_no_fold_has_is_one_clear_line(tiny, tmp_path, capsys):
    line = one_line_error(
        capsys,
        "predict",
        tiny.work,
        "-i",
        tiny.images,
        "-o",
        tmp_path / "out",
        "-c",
        "3d_fullres",
        "--checkpoint",
        "checkpoint_best.pt",
    )
    assert "checkpoint_best.pt" in line and str(tiny.work / "models" / "3d_fullres") in line


# --- noticed on the way: the --file-ending that evaluate's errors ask for ------------------------------------


def test_evaluate_accepts_the_file_ending_its_errors_ask_for(degraded, tmp_path, capsys):
    references = tmp_path / "refs"
    shutil.copytree(degraded.references, references)
    (references / "notes.nrrd").write_bytes(b"")  # a second ending: evaluate cannot tell which files to score
    line = one_line_error(capsys, "evaluate", degraded.predictions, references, "-o", tmp_path / "a.json")
    assert "--file-ending" in line
    code, _, err = run_cli(
        capsys, "evaluate", degraded.predictions, references, "-o", tmp_path / "b.json", "--file-ending", ".nii.gz"
    )
    assert code == 0, err
    assert json.loads((tmp_path / "b.json").read_text())["n_cases"] == 4


# --- noticed on the way: find-best's folds, and probabilities of a replaced prediction ----------------------


@pytest.mark.slow
def test_predict_uses_the_folds_find_best_chose(tiny, work, tmp_path):
    """A later `-f all` run (or any fold find-best did not score) stays out of the default ensemble."""
    fold0 = work / "models" / "3d_fullres" / "fold_0"
    shutil.copytree(fold0, fold0.with_name("fold_all"))
    (work / "inference.json").write_text(
        json.dumps({"configurations": ["3d_fullres"], "folds": ["0"], "postprocessing": None})
    )
    image = sorted(tiny.images.iterdir())[0]
    report = predict(work, [image], tmp_path / "a", tta=False, device="cpu", progress=False)
    assert report["cases"]["case_004"]["settings"]["folds"] == {"3d_fullres": ["0"]}
    (work / "inference.json").unlink()
    report = predict(work, [image], tmp_path / "b", tta=False, device="cpu", progress=False)
    assert report["cases"]["case_004"]["settings"]["folds"] == {"3d_fullres": ["0", "all"]}


@pytest.mark.slow
def test_overwriting_without_probabilities_removes_the_replaced_runs_npz(tiny, tmp_path):
    out = tmp_path / "out"
    image = sorted(tiny.images.iterdir())[0]
    predict(tiny.work, [image], out, tta=False, device="cpu", save_probabilities=True, progress=False)
    assert (out / "case_004.npz").is_file()
    predict(tiny.work, [image], out, tta=False, device="cpu", overwrite=True, progress=False)
    assert not (out / "case_004.npz").exists() and (out / "case_004.nii.gz").is_file()
