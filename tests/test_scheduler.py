"""The scheduler (issue 21): successive halving stops a bad and a broken configuration early, the rest of the
budget goes to folds of the winner, and a schedule killed with SIGKILL resumes with the decisions it had made."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autoseg.errors import AutosegError
from autoseg.scheduling import schedule
from autoseg.scheduling.candidates import Candidate, admit, narrow_to_comparable, rung_cost_factor
from autoseg.scheduling.halving import cut, smoothed_pseudo_dice
from autoseg.scheduling.policy import spend_rest
from autoseg.scheduling.units import EPOCHS, Units


def test_halving_keeps_the_better_half_and_prefers_the_cheaper_in_a_tie():
    survivors, stopped = cut({"a": 0.8, "b": 0.5, "c": None, "d": 0.7}, 2, {})
    assert survivors == ["a", "d"] and set(stopped) == {"b", "c"}
    assert "no pseudo-Dice" in stopped["c"]
    survivors, stopped = cut({"a": 0.8, "b": 0.3, "c": 0.7, "d": 0.6}, 2, {})  # b is clearly behind
    assert survivors == ["a", "c"] and "less than" in stopped["b"]
    survivors, stopped = cut({"a": 0.8, "b": 0.3}, 1, {})
    assert survivors == ["a"] and "less than" in stopped["b"]
    survivors, stopped = cut({"3d": 0.805, "2d": 0.800}, 2, {"3d": 4.0, "2d": 1.0})
    assert survivors == ["2d"] and "cheaper at inference" in stopped["3d"]
    survivors, _ = cut({"3d": 0.85, "2d": 0.80}, 2, {"3d": 4.0, "2d": 1.0})
    assert survivors == ["3d"]


def test_a_tie_at_equal_cost_goes_to_the_usual_order_not_the_noise():
    """Hippocampus's rung at 202 s: 2d 0.8586, 3d_fullres 0.8555 on patches, equal voxels to predict; 3d_fullres was
    the better model on held-out cases. Outside the margin the score decides; without a preference, the score."""
    order = ("3d_fullres", "2d")
    scores = {"2d": 0.8586, "3d_fullres": 0.8555}
    survivors, stopped = cut(scores, 2, {"2d": 1.0, "3d_fullres": 1.0}, order)
    assert survivors == ["3d_fullres"] and "usual order (3d_fullres before 2d)" in stopped["2d"]
    assert cut(scores, 2, {"2d": 1.0, "3d_fullres": 1.0})[0] == ["2d"]
    assert cut({"2d": 0.87, "3d_fullres": 0.85}, 2, {}, order)[0] == ["2d"]
    survivors, stopped = cut({"2d": 0.80, "3d_fullres": 0.805, "3d_lowres": 0.803}, 3, {"3d_lowres": 0.3}, order)
    assert survivors == ["3d_lowres"] and "cheaper at inference" in stopped["3d_fullres"]
    assert "usual order" in stopped["2d"] or "cheaper" in stopped["2d"]


def test_smoothed_pseudo_dice_is_the_last_third_not_the_start():
    history = [{"pseudo_dice": d} for d in (0.0, 0.0, 0.0, 0.6, 0.9, 0.9)]
    assert smoothed_pseudo_dice(history, Units(EPOCHS).own_time) == pytest.approx(0.8)


def test_shares_and_policy_add_up():
    two = [Candidate("2d"), Candidate("3d_fullres")]
    assert rung_cost_factor(two, 2) == 2
    assert rung_cost_factor(two + [Candidate("x"), Candidate("y")], 2) == 4 + 2
    cascade = Candidate("3d_cascade_fullres", {"3d_lowres": [0, 1, 2, 3, 4]})
    admitted, skipped, r0 = admit(two + [cascade], explore=100.0, eta=2, unit=200.0)  # r0 10 with it: too short
    assert [c.name for c in admitted] == ["2d", "3d_fullres"] and "3d_cascade_fullres" in skipped and r0 == 50
    admitted, skipped, r0 = admit(two + [cascade], explore=100.0, eta=2, unit=100.0)  # 3 + 2 rung shares + 5
    assert len(admitted) == 3 and not skipped and r0 == 10
    folds, reason = spend_rest(remaining=45.0, winner_done=7.5, unit=15.0, folds=5)
    assert [f["fold"] for f in folds] == [0, 1, 2] and folds[0]["target"] == pytest.approx(17.5)
    folds, _ = spend_rest(remaining=10.0, winner_done=2.0, unit=15.0, folds=5)
    assert folds == [{"fold": 0, "target": 12.0}]


def _work_with_bad_candidates(planned_3d: Path, tmp_path: Path) -> Path:
    """A copy of the planned synthetic work folder (no models) whose plans also hold a configuration that cannot
    learn (learning rate 0) and one that cannot train at all (a patch larger than any image)."""
    work = tmp_path / "W"
    shutil.copytree(planned_3d, work, ignore=shutil.ignore_patterns("models", "*.log", "inference.json"))
    plans = json.loads((work / "plans.json").read_text())
    good = plans["configurations"]["3d_fullres"]
    for cfg in plans["configurations"].values():
        cfg["training"]["epochs"] = 6  # the policy's unit in epochs mode
        cfg["training"]["precision"] = "fp32"  # no timing of bf16 at every start
    frozen = json.loads(json.dumps(good))
    frozen.update(name="3d_frozen")
    frozen["training"]["learning_rate"] = 0.0
    broken = json.loads(json.dumps(good))
    broken.update(name="3d_broken")
    broken["network"]["features"] = [-1] * len(broken["network"]["features"])
    plans["configurations"].update({"3d_frozen": frozen, "3d_broken": broken})
    (work / "plans.json").write_text(json.dumps(plans, indent=2))
    return work


def _schedule_json(work: Path) -> dict | None:
    try:
        return json.loads((work / "schedule.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


@pytest.mark.slow
def test_schedule_stops_bad_candidates_and_resumes_after_sigkill(planned_3d, tmp_path):
    work = _work_with_bad_candidates(planned_3d, tmp_path)
    code = (
        f"from autoseg.scheduling import schedule; schedule({str(work)!r}, total_epochs=24, "
        "explore_fraction=0.5, workers=0, progress=False)"
    )
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 900  # seconds on an idle machine; the guard is for a loaded one
    while time.time() < deadline and process.poll() is None:  # kill in the middle of the second rung
        state = _schedule_json(work)
        if (
            state
            and state["rungs"]
            and any(s["id"].startswith("rung1") and s["status"] == "running" for s in state["steps"])
        ):
            break
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = _schedule_json(work)
    assert before["status"] == "running" and len(before["rungs"]) == 1, "killed too late to test a resume"
    with pytest.raises(AutosegError, match="--resume"):
        schedule(work, total_epochs=24, workers=0, progress=False)

    state = schedule(work, total_epochs=24, resume=True, workers=0, progress=False)
    assert state["status"] == "finished" and len(state["sessions"]) == 2
    assert state["rungs"][0] == before["rungs"][0]  # the decision made before the kill is kept
    first = state["rungs"][0]
    assert set(first["stopped"]) == {"3d_frozen", "3d_broken"}  # stopped after the first, smallest share
    assert first["scores"]["3d_broken"] is None
    assert any(s["id"] == "rung0:3d_broken" and s["status"] == "failed" for s in state["steps"])
    frozen = json.loads((work / "models/3d_frozen/fold_0/history.json").read_text())
    assert len(frozen) == state["first_share"] == 2
    winner = state["winner"]
    assert winner in ("2d", "3d_fullres") and state["rungs"][1]["survivors"] == [winner]
    # rest: 24 - 10 epochs explored, + 4 done on the winner's fold 0 = 18 = 3 units of 6 epochs: folds 0, 1, 2
    assert [f["fold"] for f in state["policy"]["folds"]] == [0, 1, 2]
    for fold in (0, 1, 2):
        assert len(json.loads((work / f"models/{winner}/fold_{fold}/history.json").read_text())) == 6
    assert sum(s.get("trained", 0) for s in state["steps"]) == 24
    inference = json.loads((work / "inference.json").read_text())
    assert inference["configurations"] == [winner] and inference["folds"] == ["0", "1", "2"]
    assert all(s["status"] in ("done", "failed") for s in state["steps"])


@pytest.mark.slow
def test_cli_total_budget_refuses_what_the_schedule_decides(tmp_path, capsys):
    from autoseg.cli import main

    assert main(["train", str(tmp_path), "--total-budget", "1h", "-c", "2d", "-f", "0"]) == 2
    assert "-c, -f cannot be combined" in capsys.readouterr().err
    assert main(["train", str(tmp_path)]) == 2
    assert "--total-budget" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse: --total-budget and --epochs are two budgets
        main(["train", str(tmp_path), "--total-budget", "1h", "--epochs", "3"])


@pytest.mark.slow
def test_seconds_schedule_with_a_stand_in_trainer(planned_3d, tmp_path, monkeypatch):
    """The whole decision path in seconds, in milliseconds: a stand-in for train() writes what a training writes
    (history with elapsed time and pseudo-Dice, checkpoints, summary, validation folder)."""
    import autoseg.inference.find_best as find_best_module
    import autoseg.training.loop as loop

    work = _work_with_bad_candidates(planned_3d, tmp_path)
    plans = json.loads((work / "plans.json").read_text())
    for cfg in plans["configurations"].values():
        cfg["training"]["time_budget_s"] = 600.0  # one planned model: 10 minutes
    (work / "plans.json").write_text(json.dumps(plans))
    ceiling = {"2d": 0.80, "3d_fullres": 0.85, "3d_frozen": 0.05}
    calls = []

    def stand_in(work, name, fold, *, time_budget=None, epochs=None, resume=False, extend=False, validate=True, **_):
        calls.append((name, fold, time_budget, extend))
        if name == "3d_broken":
            raise RuntimeError("the network cannot be built")
        out = work / "models" / name / f"fold_{fold}"
        out.mkdir(parents=True, exist_ok=True)
        history = json.loads((out / "history.json").read_text()) if extend else []
        elapsed = history[-1]["elapsed_s"] if history else 0.0
        goal = elapsed + time_budget
        while elapsed < goal:  # epochs of 60 s, the last one overshooting
            elapsed += 60.0
            history.append(
                {
                    "epoch": len(history),
                    "elapsed_s": elapsed,
                    "pseudo_dice": ceiling[name] * (1 - 0.5 ** (elapsed / 120)),
                }
            )
        (out / "history.json").write_text(json.dumps(history))
        (out / "checkpoint_final.pt").write_bytes(b"")
        summary = {"epochs": len(history)}
        if validate:
            (out / "validation").mkdir(exist_ok=True)
            summary["validation_dice"] = history[-1]["pseudo_dice"]
        (out / "training_summary.json").write_text(json.dumps(summary))
        return summary

    def stand_in_find_best(work, configurations, progress=True):
        folds = sorted(p.name.removeprefix("fold_") for p in (work / "models" / configurations[0]).glob("fold_*"))
        return {"configurations": configurations, "folds": folds, "chosen_dice": 0.8, "postprocessing": None}

    monkeypatch.setattr(loop, "train", stand_in)
    monkeypatch.setattr(find_best_module, "find_best", stand_in_find_best)
    state = schedule(work, "1h", workers=0, progress=False)
    r0 = state["first_share"]
    assert r0 == pytest.approx(3600 * 0.9 * 0.25 / 6, abs=0.1)  # 4 candidates: 4 + 2 first shares
    assert state["rungs"][0]["survivors"] == ["3d_fullres", "2d"]
    assert set(state["stopped"]) == {"3d_frozen", "3d_broken", "2d"} and state["winner"] == "3d_fullres"
    # the rest: folds of at least 600 s each, as many as fit (the job's own wall time here is ~0 s)
    folds = state["policy"]["folds"]
    assert state["policy"]["winner_fold0_done"] == 300  # rung 1's share, 270 s, ends with the epoch past it
    assert state["policy"]["remaining"] == pytest.approx(3600 * 0.9, abs=5)  # the stand-in takes no wall time
    total = state["policy"]["remaining"] + 300
    assert len(folds) == min(5, int(total // 600)) and all(
        f["target"] == pytest.approx(total / len(folds), abs=1) for f in folds
    )
    assert calls[-len(folds) + 1 :] == [
        ("3d_fullres", f, pytest.approx(total / len(folds), abs=1), False) for f in range(1, len(folds))
    ]
    assert state["find_best"]["folds"] == [str(f) for f in range(len(folds))]


def test_a_first_share_too_short_to_rank_narrows_the_field_to_the_default():
    two = [Candidate("2d"), Candidate("3d_fullres")]
    # 15 minutes for Hippocampus: 810 s usable, 202.5 s to explore -> 101 s each, 11% of a 900 s model: too short
    kept, skipped, r0 = narrow_to_comparable(two, explore=202.5, eta=2, unit=900.0)
    assert [c.name for c in kept] == ["3d_fullres"] and r0 == 0.0 and "too short to tell" in skipped["2d"]
    # 30 minutes: 202 s each, 22%: both are compared
    kept, skipped, r0 = narrow_to_comparable(two, explore=405.0, eta=2, unit=900.0)
    assert [c.name for c in kept] == ["2d", "3d_fullres"] and not skipped and r0 == pytest.approx(202.5)
    # four candidates and one hour: the last ones in plans order go first, never the default
    four = [Candidate("2d"), Candidate("3d_fullres"), Candidate("3d_lowres"), Candidate("3d_wide")]
    kept, skipped, r0 = narrow_to_comparable(four, explore=810.0, eta=2, unit=900.0)
    assert [c.name for c in kept] == ["2d", "3d_fullres"] and set(skipped) == {"3d_lowres", "3d_wide"}
    assert r0 == pytest.approx(405.0)
