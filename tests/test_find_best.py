"""find-best: choosing configurations and postprocessing from cross-validation, and predict using the choice.

Unit tests give postprocessing_variants/choose_postprocessing hand-made segmentations where keeping the largest
component helps, harms, or helps one class while harming another. End to end, a tiny synthetic dataset gets two
configurations (2d, 3d_fullres) x two folds trained briefly; then find-best runs on the real cross-validation
predictions, and on crafted ones (written over the validation probabilities) whose best choice is known.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from autoseg.data.image_io import read_label
from autoseg.inference.export import save_probability_file
from autoseg.inference.find_best import choose_candidate, choose_postprocessing, find_best, postprocessing_variants
from autoseg.inference.postprocessing import apply_postprocessing
from autoseg.inference.run import predict
from tests.tiny_work import make_tiny_work

CLASSES = [1, 2]
CONFIGURATIONS = ["2d", "3d_fullres"]
FOLDS = ["0", "1"]


def ball(shape, centre, radius) -> np.ndarray:
    grid = np.indices(shape)
    return sum((g - c) ** 2 for g, c in zip(grid, centre)) <= radius**2


def organ_with_lesion(shape=(16, 32, 32), centre=(8, 12, 12)) -> np.ndarray:
    seg = np.zeros(shape, np.uint8)
    seg[ball(shape, centre, 6)] = 1
    seg[ball(shape, centre, 3)] = 2
    return seg


# --- choose_postprocessing on hand-made segmentations ------------------------------------------------------


def test_largest_component_is_adopted_when_it_removes_false_islands():
    reference = organ_with_lesion()
    prediction = reference.copy()
    prediction[ball(reference.shape, (8, 27, 27), 2)] = 1  # a false island of organ, far away
    rules, report = choose_postprocessing([postprocessing_variants(prediction, reference, CLASSES)], CLASSES)
    assert rules == {"largest_component_foreground": True, "largest_component_classes": []}
    assert report["fg1"][0] == 1.0 > report["fg0"][0] and report["fg1"][1] == report["fg0"][1] == 1.0
    assert np.array_equal(apply_postprocessing(prediction, rules), reference)


def test_largest_component_is_rejected_for_structures_in_several_pieces():
    reference = organ_with_lesion()
    reference[ball(reference.shape, (8, 26, 26), 4)] = 1  # a second, true piece (a paired organ)
    prediction = reference.copy()
    prediction[ball(reference.shape, (8, 26, 26), 4) & ~ball(reference.shape, (8, 26, 26), 3)] = 0
    rules, report = choose_postprocessing([postprocessing_variants(prediction, reference, CLASSES)], CLASSES)
    assert rules is None
    assert report["fg1"][0] < report["fg0"][0]


def test_per_class_step_is_adopted_where_the_foreground_step_cannot_help():
    reference = organ_with_lesion()
    prediction = reference.copy()
    speck = ball(reference.shape, (8, 12, 17), 1) & ~ball(reference.shape, (8, 12, 12), 4)
    prediction[speck] = 2  # a lesion speck inside the organ
    assert ndimage.label(prediction > 0)[1] == 1  # one foreground piece: fg step sees nothing
    rules, _ = choose_postprocessing([postprocessing_variants(prediction, reference, CLASSES)], CLASSES)
    assert rules == {"largest_component_foreground": False, "largest_component_classes": [2]}
    expected = prediction.copy()
    expected[speck] = 0
    assert np.array_equal(apply_postprocessing(prediction, rules), expected)


def test_a_step_that_harms_any_class_is_rejected_even_if_the_mean_improves():
    # Case A: a big false organ island (the fg step helps the organ a lot); case B: a true separate lesion
    # (the fg step deletes it). Mean over classes improves, but the lesion class loses: rejected.
    reference_a, prediction_a = organ_with_lesion(), organ_with_lesion()
    prediction_a[ball(prediction_a.shape, (8, 26, 26), 5)] = 1
    reference_b = organ_with_lesion()
    reference_b[ball(reference_b.shape, (8, 28, 28), 1)] = 2
    prediction_b = reference_b.copy()
    variants = [
        postprocessing_variants(p, r, CLASSES) for p, r in ((prediction_a, reference_a), (prediction_b, reference_b))
    ]
    rules, report = choose_postprocessing(variants, CLASSES)
    assert np.mean(report["fg1"]) > np.mean(report["fg0"]) and report["fg1"][1] < report["fg0"][1]
    assert not (rules or {}).get("largest_component_foreground")


# --- end to end ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cv_work(tmp_path_factory) -> Path:
    """2 configurations x 2 folds, a few iterations each, with full-image validation (CV probabilities)."""
    return make_tiny_work(
        tmp_path_factory.mktemp("find_best"),
        "CV",
        seed=7,
        num_cases=6,
        shape=(10, 32, 32),
        configurations=tuple(CONFIGURATIONS),
        iterations=4,
        val_iterations=1,
        folds=tuple(FOLDS),
        validate=True,
    ).work


@pytest.fixture
def work(cv_work, tmp_path) -> Path:
    """A private copy (models, plans, splits): tests rewrite validation probabilities and inference.json."""
    copy = tmp_path / "work"
    shutil.copytree(cv_work, copy, ignore=shutil.ignore_patterns("preprocessed"))
    return copy


def _validation_cases(work: Path):
    """(configuration, probability file, reference label map) for every CV prediction."""
    plans = json.loads((work / "plans.json").read_text())
    labels = Path(plans["dataset_path"]) / "labelsTr"
    for configuration in CONFIGURATIONS:
        for fold in FOLDS:
            for path in sorted((work / "models" / configuration / f"fold_{fold}" / "validation").glob("*.npz")):
                yield configuration, path, read_label(labels / f"{path.stem}{plans['file_ending']}")[0]


def _one_hot(seg: np.ndarray, num_classes: int = 3) -> np.ndarray:
    return np.stack([(seg == k).astype(np.float32) for k in range(num_classes)])


def _scores(per_case: dict[tuple[str, ...], list[float]]) -> dict[tuple[str, ...], list[list[float]]]:
    return {c: [[d, d] for d in v] for c, v in per_case.items()}


def test_an_ensemble_that_is_better_on_every_case_is_chosen():
    single = [0.80, 0.85, 0.70, 0.90, 0.75]
    best, reason = choose_candidate(
        _scores({("a",): single, ("b",): [d - 0.05 for d in single], ("a", "b"): [d + 0.01 for d in single]})
    )
    assert best == ("a", "b") and reason.startswith("ensemble")


def test_an_ensemble_gain_within_case_noise_keeps_the_cheaper_single_configuration():
    single = [0.80, 0.85, 0.70, 0.90, 0.75]
    noisy = [0.83, 0.82, 0.73, 0.87, 0.76]  # +0.002 on average, but up and down by 0.03 case to case
    best, reason = choose_candidate(_scores({("a",): single, ("b",): [d - 0.05 for d in single], ("a", "b"): noisy}))
    assert best == ("a",) and "not clearly better" in reason


@pytest.mark.slow
def test_find_best_on_real_cross_validation_predictions(work):
    result = find_best(work, progress=False)
    written = json.loads((work / "inference.json").read_text())
    assert written == json.loads(json.dumps(result))
    assert set(result["cv_dice"]) == {"2d", "3d_fullres", "2d+3d_fullres"}
    assert result["folds"] == FOLDS and result["cv_cases"] == 6
    dice = result["cv_dice"]
    single = max(("2d", "3d_fullres"), key=dice.get)
    if len(result["configurations"]) == 2:
        assert dice["2d+3d_fullres"] > dice[single] + 1e-4, "an ensemble must beat the best single configuration"
    else:
        assert result["configurations"] == [single]
    assert result["choice"].startswith(("ensemble", "single configuration"))
    assert result["postprocessing"] is None or set(result["postprocessing"]) == {
        "largest_component_foreground",
        "largest_component_classes",
    }


@pytest.mark.slow
def test_crafted_predictions_choose_3d_fullres_with_largest_component_and_predict_uses_it(work, tmp_path):
    # 3d_fullres: the reference plus a false organ island in a corner; 2d: the lesion called organ. The
    # ensemble's ties fall to 2d's answer, so 3d_fullres must win, and the island makes largest-component win.
    for configuration, path, reference in _validation_cases(work):
        seg = reference.copy()
        if configuration == "3d_fullres":
            seg[:2, :3, :3] = 1
        else:
            seg[seg == 2] = 1
        save_probability_file(path, _one_hot(seg))
    result = find_best(work, progress=False)
    assert result["configurations"] == ["3d_fullres"]
    assert result["cv_dice"]["3d_fullres"] > result["cv_dice"]["2d+3d_fullres"] >= result["cv_dice"]["2d"]
    assert result["postprocessing"] == {"largest_component_foreground": True, "largest_component_classes": []}

    plans = json.loads((work / "plans.json").read_text())
    images = Path(plans["dataset_path"]) / "imagesTs"
    report = predict(work, images, tmp_path / "chosen", tta=False, progress=False)
    assert report["configurations"] == ["3d_fullres"]
    assert report["postprocessing"] == result["postprocessing"]
    for case in report["cases"]:
        seg = read_label(tmp_path / "chosen" / f"{case}.nii.gz")[0]
        assert ndimage.label(seg > 0)[1] <= 1, "largest-component postprocessing was not applied"
    raw = predict(work, images, tmp_path / "raw", tta=False, progress=False, postprocessing=False)
    assert raw["configurations"] == ["3d_fullres"] and raw["postprocessing"] is None
    explicit = predict(work, images, tmp_path / "explicit", configurations=["2d"], tta=False, progress=False)
    assert explicit["configurations"] == ["2d"] and explicit["postprocessing"] is None


@pytest.mark.slow
def test_perfect_predictions_gain_nothing_from_postprocessing(work):
    for _, path, reference in _validation_cases(work):
        save_probability_file(path, _one_hot(reference))
    result = find_best(work, progress=False)
    assert result["cv_dice"]["2d"] == result["cv_dice"]["3d_fullres"] == 1.0
    assert result["configurations"] == ["2d"], "a tie goes to a single configuration (the first planned)"
    assert result["postprocessing"] is None
