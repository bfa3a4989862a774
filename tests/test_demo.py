"""`autoseg demo` end to end, shrunk: fewer and smaller cases, a fixed CPU speed (no measuring) and a few epochs
instead of the 3-minute budget, so the run is deterministic and short. The full demo's timing and Dice are
recorded in the demo's own report (see autoseg/demo.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from autoseg.data.image_io import read_label
from autoseg.demo import MARKER, _fresh_output, demo


@pytest.mark.slow
def test_demo_runs_every_stage_and_learns(tmp_path):
    printed: list[str] = []
    out = tmp_path / "demo"
    report = demo(
        out,
        training_time="1m",
        epochs=4,
        num_cases=6,
        num_test=2,
        shape=(12, 40, 40),
        cpu_gflops=40,
        progress=False,
        echo=printed.append,
    )
    for name, path in report["paths"].items():
        assert Path(path).exists(), f"{name} missing: {path}"
    assert json.loads((out / "demo_report.json").read_text())["dice"] == report["dice"]
    predictions = sorted((out / "predictions").glob("*.nii.gz"))
    assert [p.name for p in predictions] == [p.name for p in sorted((out / "dataset" / "labelsTs").glob("*.nii.gz"))]
    assert report["training_iterations"] == 4 * 25
    # Chance: calling every voxel class k scores a Dice of 2p / (1 + p), p = the class's share of the image.
    reference = read_label(out / "dataset" / "labelsTs" / predictions[0].name)[0]
    share = {name: np.mean(reference == value) for name, value in (("organ", 1), ("lesion", 2))}
    chance = {name: 2 * p / (1 + p) for name, p in share.items()}
    assert report["dice"]["organ"] > max(0.5, 5 * chance["organ"]), (report["dice"], chance)
    assert report["mean_dice"] > 2 * np.mean(list(chance.values())), (report["dice"], chance)
    text = "\n".join(printed)
    assert "organ" in text and "lesion" in text and str(out / "predictions") in text


def test_overwrite_replaces_only_a_demo_folder(tmp_path):
    folder = tmp_path / "old_demo"
    _fresh_output(folder, overwrite=False)
    (folder / "stale.txt").write_text("from the last run")
    assert _fresh_output(folder, overwrite=True) == folder
    assert sorted(p.name for p in folder.iterdir()) == [MARKER]
