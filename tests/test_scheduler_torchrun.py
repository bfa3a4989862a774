"""A schedule under torchrun (issue 21): rank 0 decides, the other rank joins every training it starts, and the
models it leaves were trained by both processes with identical weights."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.mark.slow
def test_a_schedule_runs_on_two_torchrun_processes(planned_3d, tmp_path):
    work = tmp_path / "W"
    shutil.copytree(planned_3d, work, ignore=shutil.ignore_patterns("models", "*.log", "inference.json"))
    plans = json.loads((work / "plans.json").read_text())
    for cfg in plans["configurations"].values():
        cfg["training"]["epochs"] = 4  # the policy's unit in epochs mode
        cfg["training"]["precision"] = "fp32"  # no timing of bf16 at every start
    (work / "plans.json").write_text(json.dumps(plans))
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).parent / "torchrun")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo", "PYTHONFAULTHANDLER": "1"}
    result = subprocess.run(
        [torchrun, "--standalone", "--nproc_per_node", "2", str(HERE / "schedule_child.py"), str(work), "12"],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    tail = "\n".join(line for line in result.stderr.splitlines() if "torch/distributed/" not in line)[-4000:]
    assert result.returncode == 0, tail
    state = json.loads((work / "schedule.json").read_text())
    assert state["status"] == "finished", state
    trained = [s for s in state["steps"] if s.get("call") and s["status"] == "done"]
    # 12 epochs: two rungs of 3, then folds 0 and 1 of the winner at 4 each (whole epochs, so one is left over)
    assert len(trained) >= 3 and 10 <= sum(s.get("trained", 0) for s in state["steps"]) <= 12
    for step in trained:  # every training ran on both processes, and they ended with the same weights
        summary = json.loads(
            (work / "models" / step["configuration"] / f"fold_{step['fold']}" / "training_summary.json").read_text()
        )
        assert summary["processes"] == 2 and summary["ranks_agree"] is True, (step["id"], summary)
    assert json.loads((work / "inference.json").read_text())["configurations"] == [state["winner"]]
