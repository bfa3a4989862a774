"""The low-resolution cascade end to end: 3d_lowres folds -> 3d_cascade_fullres trained on their CV
predictions -> predict runs both stages."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import SimpleITK as sitk

from autoseg.benchmark.dataset_run import choose_configurations, training_folds
from autoseg.data.image_io import read_label
from autoseg.data.synthetic import make_synthetic_dataset
from autoseg.errors import AutosegError
from autoseg.inference.find_best import choose_candidate, inference_costs
from autoseg.inference.run import predict
from autoseg.plan_command import plan
from autoseg.training.dataset import out_of_fold_predictions, previous_stage_folds
from autoseg.training.loop import train
from tests.conftest import shrink_epochs


@pytest.mark.slow
def test_cascade_trains_on_lowres_cv_predictions_and_predicts(tmp_path):
    # own shape, spacing, origin and rotated direction per case: the output must keep each input's geometry
    synthetic_3d = make_synthetic_dataset(
        tmp_path / "Synthetic3D",
        num_cases=10,
        num_test=2,
        shape=(12, 40, 40),
        spacing=(3.0, 0.9, 0.9),
        seed=3,
        random_geometry=True,
    )
    preset = tmp_path / "always-cascade.json"
    preset.write_text(json.dumps({"name": "always-cascade", "extends": "cpu-fast", "lowres_trigger": 2.0}))
    work = tmp_path / "work"
    plans = plan(synthetic_3d, work, preset=str(preset), cpu_gflops=40, time_budget="2m", progress=False, workers=1)
    assert {"3d_lowres", "3d_cascade_fullres"} <= set(plans.configurations)
    assert plans.configurations["3d_lowres"].spacing[1] > plans.configurations["3d_fullres"].spacing[1]
    shrink_epochs(work, iterations=4, val_iterations=1)
    for fold in range(5):
        train(work, "3d_lowres", fold, epochs=1, progress=False)
    summary = train(work, "3d_cascade_fullres", 0, epochs=1, progress=False)
    assert summary["validation_dice"] is not None
    out = tmp_path / "out"
    predict(work, synthetic_3d / "imagesTs", out, configurations=["3d_cascade_fullres"], tta=False, progress=False)
    for image in sorted((synthetic_3d / "imagesTs").glob("*_0000.nii.gz")):
        case = image.name.removesuffix("_0000.nii.gz")
        seg, geometry = read_label(out / f"{case}.nii.gz")
        assert seg.shape == read_label(synthetic_3d / "labelsTs" / f"{case}.nii.gz")[0].shape
        assert set(np.unique(seg)) <= {0, 1, 2}
        written, given = sitk.ReadImage(str(out / f"{case}.nii.gz")), sitk.ReadImage(str(image))
        assert written.GetSize() == given.GetSize()
        for read in ("GetSpacing", "GetOrigin", "GetDirection"):
            assert np.allclose(getattr(written, read)(), getattr(given, read)(), atol=1e-6), read


def _fake_lowres_run(work, splits, predicted):
    """A work folder with splits.json and, per fold, validation predictions of the given cases."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "splits.json").write_text(json.dumps(splits))
    for fold, cases in predicted.items():
        folder = work / "models" / "3d_lowres" / f"fold_{fold}" / "validation"
        folder.mkdir(parents=True, exist_ok=True)
        for case in cases:
            (folder / f"{case}.nii.gz").write_bytes(b"")


SPLITS = [{"train": ["b", "c"], "val": ["a"]}, {"train": ["a", "c"], "val": ["b"]}, {"train": ["a", "b"], "val": ["c"]}]
PLANS = SimpleNamespace(file_ending=".nii.gz")
CASCADE = SimpleNamespace(name="3d_cascade_fullres", previous_stage="3d_lowres")


def test_cascade_inputs_come_only_from_the_fold_that_held_each_case_out(tmp_path):
    # fold 0's folder also holds a prediction of "b", a case fold 0 trained on: it must not be used
    _fake_lowres_run(tmp_path, SPLITS, {0: ["a", "b"], 1: ["b"], 2: ["c"]})
    found = out_of_fold_predictions(tmp_path, PLANS, CASCADE, ["a", "b", "c"])
    assert {c: p.parent.parent.name for c, p in found.items()} == {"a": "fold_0", "b": "fold_1", "c": "fold_2"}


def test_cascade_refuses_a_missing_lowres_fold_and_names_it(tmp_path):
    # fold 1 not trained: its prediction of "a" (a case it never saw) is absent and fold 0's cannot stand in
    _fake_lowres_run(tmp_path, SPLITS, {0: ["a", "b"], 2: ["c"]})
    with pytest.raises(AutosegError) as error:
        out_of_fold_predictions(tmp_path, PLANS, CASCADE, ["a", "b", "c"])
    assert "['b']" in str(error.value) and "-c 3d_lowres -f 1" in error.value.fix


@pytest.mark.slow
def test_previous_stage_folds_cover_every_training_case_and_the_fold_itself():
    assert previous_stage_folds(SPLITS, [0]) == [0, 1, 2]
    two = [{"train": ["a", "b"], "val": ["c", "d"]}, {"train": ["c", "d"], "val": ["a", "b"]}]
    assert previous_stage_folds(two, [0]) == [0, 1]


def _plans_with_cascade():
    def config(shape, previous=None):
        return SimpleNamespace(median_shape=shape, previous_stage=previous)

    configs = {
        "3d_fullres": config([100, 100, 100]),
        "3d_lowres": config([50, 50, 50]),
        "3d_cascade_fullres": config([100, 100, 100], "3d_lowres"),
    }
    return SimpleNamespace(configuration=configs.__getitem__)


def test_find_best_counts_the_low_resolution_stage_in_the_cascade_cost():
    candidates = [("3d_fullres",), ("3d_lowres",), ("3d_cascade_fullres",), ("3d_fullres", "3d_cascade_fullres")]
    costs = inference_costs(_plans_with_cascade(), candidates)
    assert costs[("3d_lowres",)] == 1.0 and costs[("3d_fullres",)] == 8.0
    assert costs[("3d_cascade_fullres",)] == 9.0 and costs[("3d_fullres", "3d_cascade_fullres")] == 17.0


def test_a_cascade_within_case_noise_of_fullres_loses_to_it_and_a_clear_gain_wins():
    fullres = [0.80, 0.85, 0.70, 0.90]
    costs = {("3d_fullres",): 8.0, ("3d_cascade_fullres",): 9.0}
    noisy = {
        ("3d_fullres",): [[d] for d in fullres],
        ("3d_cascade_fullres",): [[d + e] for d, e in zip(fullres, [0.04, -0.03, 0.03, -0.03])],
    }
    best, reason = choose_candidate(noisy, costs)
    assert best == ("3d_fullres",) and "not clearly better" in reason and "1.12x" in reason
    clear = {("3d_fullres",): [[d] for d in fullres], ("3d_cascade_fullres",): [[d + 0.05] for d in fullres]}
    best, reason = choose_candidate(clear, costs)
    assert best == ("3d_cascade_fullres",) and "worth the cost" in reason


def test_benchmark_trains_a_planned_cascade_after_every_lowres_fold_it_needs():
    def config(previous=None):
        return SimpleNamespace(previous_stage=previous, next_stage=None, variant_of=None)

    configs = {"3d_fullres": config(), "3d_cascade_fullres": config("3d_lowres"), "3d_lowres": config()}
    plans = SimpleNamespace(configurations=configs)
    names, skipped = choose_configurations(plans, None)
    assert names == ["3d_fullres", "3d_lowres", "3d_cascade_fullres"] and not skipped
    assert choose_configurations(plans, ["3d_cascade_fullres"])[0] == ["3d_lowres", "3d_cascade_fullres"]
    folds = training_folds(plans, names, SPLITS, [0])
    assert folds == {"3d_fullres": [0], "3d_lowres": [0, 1, 2], "3d_cascade_fullres": [0]}


@pytest.mark.slow
def test_training_a_cascade_without_its_lowres_folds_fails_before_making_the_fold_folder(tmp_path):
    _fake_lowres_run(tmp_path, SPLITS, {0: ["a"], 2: ["c"]})
    plans = SimpleNamespace(file_ending=".nii.gz", configuration=lambda name: CASCADE)
    with pytest.raises(AutosegError, match="out-of-fold") as error:
        train(tmp_path, "3d_cascade_fullres", 0, plans=plans, progress=False)
    assert "-f 1" in error.value.fix
    assert not (tmp_path / "models" / "3d_cascade_fullres").exists()
