"""layout/work.py: the one place WORK's and an exported model's paths are spelled."""

from __future__ import annotations

import pytest

from autoseg.errors import AutosegError
from autoseg.layout import work as layout


def test_model_dir_is_models_configuration_fold(tmp_path):
    assert layout.model_dir(tmp_path, "3d_fullres", 2) == (tmp_path / "models" / "3d_fullres" / "fold_2").resolve()
    assert layout.model_dir(tmp_path, "2d", "all").name == "fold_all"


@pytest.mark.parametrize("configuration, fold", [("../x", 0), ("a/b", 0), (".", 0), ("3d_fullres", "0/../../x")])
def test_names_from_files_never_leave_the_models_folder(tmp_path, configuration, fold):
    with pytest.raises(AutosegError, match="plans.json"):
        layout.model_dir(tmp_path, configuration, fold)


def test_trained_folds_are_those_with_the_checkpoint(tmp_path):
    for fold, files in {
        "0": [layout.CHECKPOINT_FINAL],
        "1": [layout.CHECKPOINT_LATEST],
        "all": [layout.CHECKPOINT_FINAL, layout.TRAINING_SUMMARY],
    }.items():
        folder = tmp_path / layout.MODELS / "2d" / f"fold_{fold}"
        folder.mkdir(parents=True)
        for name in files:
            (folder / name).write_bytes(b"")
    assert layout.trained_folds(tmp_path, "2d") == ["0", "all"]
    assert layout.trained_folds(tmp_path, "2d", layout.CHECKPOINT_LATEST) == ["1"]
    assert layout.trained_folds(tmp_path, "3d_fullres") == []


def test_an_exported_model_holds_only_its_own_files():
    for name in (
        "model.json",
        "README.md",
        "plans.json",
        "inference.json",
        layout.weights_path("3d_fullres", 0),
        layout.fold_file("2d", "all", layout.TRAINING_SUMMARY),
    ):
        assert layout.is_model_file(name), name
    for name in (
        "dataset.json",
        "splits.json",
        "models/2d/fold_0/checkpoint_latest.pt",
        "models/../x/fold_0/checkpoint_final.pt",
        "models/2d/fold_0/train.log",
        "/plans.json",
        "x/plans.json",
    ):
        assert not layout.is_model_file(name), name
