"""What `autoseg train` refuses before it touches a run, and how --extend and --resume combine."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from autoseg.errors import AutosegError
from autoseg.training.checkpoint import FINAL, LATEST, load_checkpoint, save_checkpoint
from autoseg.training.loop import train

pytestmark = pytest.mark.slow  # every test trains, extends or resumes a run


@pytest.fixture
def work(planned_3d, tmp_path) -> Path:
    """A private copy of the planned work folder (no models), so these runs share no fold with other tests."""
    copy = tmp_path / "W"
    shutil.copytree(planned_3d, copy, ignore=shutil.ignore_patterns("models"))
    return copy


def _fold(work: Path, k) -> Path:
    return work / "models/3d_fullres" / f"fold_{k}"


def test_overwrite_with_resume_or_extend_is_refused_and_keeps_the_run(work):
    train(work, "3d_fullres", 0, epochs=1, progress=False, validate=False)
    for flag in ("resume", "extend"):
        with pytest.raises(AutosegError, match="--overwrite deletes"):
            train(work, "3d_fullres", 0, epochs=1, overwrite=True, progress=False, validate=False, **{flag: True})
    assert (_fold(work, 0) / FINAL).is_file()


@pytest.mark.parametrize("fold, workers", [("0,1", None), ("7", None), ("one", None), ("0", "two"), ("0", -1)])
def test_bad_fold_or_workers_fail_before_any_folder_is_made(work, fold, workers):
    with pytest.raises(AutosegError) as error:
        train(work, "3d_fullres", fold, epochs=1, workers=workers, progress=False, validate=False)
    assert ("fold" in str(error.value)) if workers is None else ("--workers" in str(error.value))
    assert not (work / "models").exists()


def test_fold_all_is_read_case_insensitively(work):
    summary = train(work, "3d_fullres", "All", epochs=1, progress=False, validate=False)
    assert summary["fold"] == "all" and _fold(work, "all").is_dir()


def test_extend_by_epochs_trains_a_time_budgeted_run_further(work):
    first = train(work, "3d_fullres", 3, time_budget="4s", progress=False, validate=False)
    assert first["epochs"] >= 1
    summary = train(work, "3d_fullres", 3, epochs=2, extend=True, progress=False, validate=False)
    assert summary["epochs"] == first["epochs"] + 2
    assert summary["iterations"] > first["iterations"]


def test_extend_by_time_trains_an_epoch_budgeted_run_further(work):
    first = train(work, "3d_fullres", 3, epochs=1, progress=False, validate=False)
    summary = train(work, "3d_fullres", 3, time_budget="3s", extend=True, progress=False, validate=False)
    assert summary["epochs"] > first["epochs"]
    assert summary["training_seconds"] >= first["training_seconds"] + 3


def test_a_killed_extension_can_be_resumed(work):
    train(work, "3d_fullres", 0, epochs=2, progress=False, validate=False)
    fold = _fold(work, 0)
    # What a kill during `--extend --epochs 2` leaves: a latest checkpoint newer than the final one, carrying
    # the extended budget.
    checkpoint = load_checkpoint(fold / FINAL)
    checkpoint["budget"] = {"seconds": None, "epochs": 4}
    save_checkpoint(fold / LATEST, checkpoint)
    later = time.time() + 5
    os.utime(fold / LATEST, (later, later))
    summary = train(work, "3d_fullres", 0, resume=True, progress=False, validate=False)
    assert summary["epochs"] == 4
    assert [h["epoch"] for h in json.loads((fold / "history.json").read_text())] == [0, 1, 2, 3]
    # Once finished, the run is finished again: a second --resume is refused.
    with pytest.raises(AutosegError, match="already trained"):
        train(work, "3d_fullres", 0, resume=True, progress=False, validate=False)


def test_deterministic_mode_trains_in_fp32_without_timing(work, monkeypatch):
    import autoseg.training.precision as precision

    # A CPU where bf16 would time 10x faster: "auto" would pick it, deterministic mode must not.
    monkeypatch.setattr(precision, "cpu_has_fast_bf16", lambda: True)
    monkeypatch.setattr(precision, "_interleaved_times", lambda model, batch: (1.0, 0.1))
    assert precision.choose_precision("auto", __import__("torch").device("cpu"), None, lambda: None) == "bf16"
    summary = train(work, "3d_fullres", 1, epochs=1, deterministic=True, progress=False, validate=False)
    assert summary["precision"] == "fp32"


def test_a_plans_epoch_cap_ends_a_time_budgeted_run_and_a_schedule_does_not_extend_it(work):
    """Issue 32's cap: a long budget's plan stops at max_epochs even with time left (the trainer says so, and the
    summary records it); a schedule leaves such a fold alone; an explicit --extend trains past the cap."""
    from autoseg.scheduling.steps import train_call
    from autoseg.scheduling.units import SECONDS, Units

    plans = json.loads((work / "plans.json").read_text())
    plans["configurations"]["3d_fullres"]["training"]["max_epochs"] = 2
    (work / "plans.json").write_text(json.dumps(plans))
    summary = train(work, "3d_fullres", 0, time_budget="10m", progress=False, validate=False)
    assert summary["epochs"] == 2 and summary["ended_by"] == "epoch cap"
    assert summary["training_seconds"] < 600 and "or 2 epochs" in summary["budget"]
    assert "stopped at the plan's cap of 2 epochs" in (_fold(work, 0) / "train.log").read_text()
    step = {"configuration": "3d_fullres", "fold": 0, "target": 600.0}
    assert train_call(work, step, Units(SECONDS)) is None
    extended = train(work, "3d_fullres", 0, epochs=1, extend=True, progress=False, validate=False)
    assert extended["epochs"] == 3 and extended["ended_by"] == "budget"
    # Explicit epochs are what the user asked for, cap or not.
    assert train(work, "3d_fullres", 1, epochs=3, progress=False, validate=False)["epochs"] == 3
