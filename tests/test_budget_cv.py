"""benchmarks/budget/cv_results.py: folds kept one at a time make one cross-validation, scored over cases."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "budget" / "cv_results.py"


@pytest.fixture()
def cv_results(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("cv_results", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "HERE", tmp_path / "kept")
    return module


def _fold_run(runs: Path, fold: int, cases: dict[str, tuple[float, float]]) -> Path:
    """What `autoseg benchmark ... -f FOLD -o RUNS/fold_FOLD` leaves behind, reduced to what is read."""
    run = runs / f"fold_{fold}"
    model = run / "work" / "Task04_Hippocampus" / "models" / "3d_fullres" / f"fold_{fold}"
    model.mkdir(parents=True)
    (model / "training_summary.json").write_text(
        json.dumps({"configuration": "3d_fullres", "fold": fold, "precision": "fp32", "iterations": 100,
                    "training_seconds": 60.0, "patch_size": [8, 8, 8], "batch_size": 2})
    )  # fmt: skip
    heldout = run / "work" / "Task04_Hippocampus" / "heldout"
    heldout.mkdir(parents=True)
    summary = {
        "cases": [
            {"case": case, "metrics": {"Anterior": {"Dice": a}, "Posterior": {"Dice": p}}}
            for case, (a, p) in cases.items()
        ]
    }
    (heldout / "summary_tta.json").write_text(json.dumps(summary))
    command = f"autoseg benchmark /somewhere/data/Task04_Hippocampus -o {run.resolve()} --epochs 2 --folds {fold}"
    report = {"command": command, "machine": {"cpu": "AMD EPYC, family 25 model 1"}, "versions": {}}
    (run / "report.json").write_text(json.dumps(report))
    return run


def test_folds_kept_one_at_a_time_make_one_cv_over_all_their_cases(cv_results, tmp_path):
    runs = tmp_path / "out" / "hippocampus_cv_e2"
    _fold_run(runs, 0, {"a": (0.9, 0.8), "b": (0.7, 0.6)})
    unfinished = _fold_run(runs, 1, {"c": (0.5, 0.5)})
    (unfinished / "report.json").unlink()  # killed: not kept yet
    cv_results.main(runs)
    kept = cv_results.HERE
    assert sorted(p.name for p in kept.glob("fold_*.json")) == ["fold_0.json"]
    record = json.loads((kept / "fold_0.json").read_text())
    assert record["fold"] == 0 and record["cpu"] == "AMD EPYC, family 25 model 1"
    assert (
        record["command"]
        == "autoseg benchmark DATA/Task04_Hippocampus -o OUT/hippocampus_cv_e2/fold_0 --epochs 2 --folds 0"
    )

    # The fold finishes in a later session: the first one's record stays, and the CV counts every case once.
    _fold_run(tmp_path / "later" / "hippocampus_cv_e2", 1, {"c": (0.5, 0.5)})
    cv_results.main(tmp_path / "later" / "hippocampus_cv_e2")
    cv = json.loads((kept / "results.json").read_text())
    assert cv["folds"] == [0, 1] and cv["cases"] == 3
    assert cv["per_label"]["Anterior"]["mean"] == pytest.approx((0.9 + 0.7 + 0.5) / 3)  # over cases, not folds
    assert cv["foreground_mean"] == pytest.approx(((0.9 + 0.7 + 0.5) / 3 + (0.8 + 0.6 + 0.5) / 3) / 2)
    assert "2 of 5 folds (not yet a full CV)" in (kept / "results.md").read_text()
