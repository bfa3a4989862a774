"""The per-epoch hooks of a training: on_epoch(record) gets each epoch's history record (experiment tracking),
report_epoch(epoch, ema) the smoothed pseudo-Dice (search pruning); both through train() and run_job()."""

from __future__ import annotations

import json
import shutil

import pytest

from autoseg.training.job import TrainingJob
from autoseg.training.launch import run_job

pytestmark = pytest.mark.slow  # it trains


def test_on_epoch_receives_every_epoch_record_as_history_json_has_it(planned_3d, tmp_path):
    work = tmp_path / "W"
    shutil.copytree(planned_3d, work, ignore=shutil.ignore_patterns("models"))
    records, reports = [], []
    job = TrainingJob(
        work=str(work), configuration="3d_fullres", fold="0", epochs=2, validate=False, progress=False, workers=0
    )
    summary = run_job(job, on_epoch=records.append, report_epoch=lambda e, ema: reports.append((e, ema)))
    history = json.loads((work / "models/3d_fullres/fold_0/history.json").read_text())
    assert summary["epochs"] == 2
    assert records == history
    for key in ("epoch", "train_loss", "pseudo_dice", "pseudo_dice_ema", "lr", "iterations_per_s", "elapsed_s"):
        assert all(key in r for r in records), key
    assert reports == [(r["epoch"] + 1, r["pseudo_dice_ema"]) for r in records]
