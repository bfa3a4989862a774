"""The trainer learns, resumes after SIGKILL, extends, and agrees across torchrun processes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from autoseg.errors import AutosegError
from autoseg.training.loop import train


@pytest.mark.slow
def test_training_learns_on_synthetic_data(planned_3d):
    summary = train(planned_3d, "3d_fullres", 0, epochs=12, progress=False)
    history = json.loads((planned_3d / "models/3d_fullres/fold_0/history.json").read_text())
    first, last = history[0]["train_loss"], history[-1]["train_loss"]
    assert last < 0.6 * first
    assert history[-1]["pseudo_dice"] > history[0]["pseudo_dice"]
    # Chance level for a class covering a few % of the image is a Dice of a few %.
    assert summary["validation_dice_per_class"]["organ"] > 0.7
    assert summary["validation_dice"] > 0.4
    assert (planned_3d / "models/3d_fullres/fold_0/curves.png").stat().st_size > 1000
    validation = planned_3d / "models/3d_fullres/fold_0/validation"
    assert len(list(validation.glob("*.nii.gz"))) == len(list(validation.glob("*.npz"))) >= 2


@pytest.mark.slow
def test_finished_run_is_not_overwritten_and_can_be_extended(planned_3d):
    fold = planned_3d / "models/3d_fullres/fold_4"
    train(planned_3d, "3d_fullres", 4, epochs=1, progress=False, validate=False)
    with pytest.raises(AutosegError, match="already trained"):
        train(planned_3d, "3d_fullres", 4, epochs=1, progress=False, validate=False)
    summary = train(planned_3d, "3d_fullres", 4, epochs=2, extend=True, progress=False, validate=False)
    assert summary["epochs"] == 3
    assert len(json.loads((fold / "history.json").read_text())) == 3


def _epochs_done(fold: Path) -> int:
    try:
        return len(json.loads((fold / "history.json").read_text()))
    except (FileNotFoundError, json.JSONDecodeError):
        return 0


@pytest.mark.slow
def test_sigkill_then_resume_finishes_without_losing_finished_epochs(planned_3d):
    fold = planned_3d / "models/3d_fullres/fold_1"
    command = [
        sys.executable,
        "-m",
        "autoseg.cli",
        "train",
        str(planned_3d),
        "-c",
        "3d_fullres",
        "-f",
        "1",
        "--epochs",
        "8",
        "--no-validation",
        "--workers",
        "0",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while _epochs_done(fold) < 3 and time.time() < deadline and process.poll() is None:
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = _epochs_done(fold)
    assert 3 <= killed_at < 8, "the run must be killed mid-way"
    assert not (fold / "checkpoint_final.pt").exists()
    with pytest.raises(AutosegError, match="--resume"):
        train(planned_3d, "3d_fullres", 1, epochs=8, progress=False, validate=False)
    summary = train(planned_3d, "3d_fullres", 1, resume=True, progress=False, validate=False)
    history = json.loads((fold / "history.json").read_text())
    assert [h["epoch"] for h in history] == list(range(8))
    assert summary["epochs"] == 8
    assert [h["iterations"] for h in history] == [10 * (e + 1) for e in range(8)]
    # Only the epoch in progress at the kill was repeated: training went on from the last finished epoch.
    log = (fold / "train.log").read_text()
    resumed_from = int(log.split("resuming from epoch ")[1].split()[0])
    assert resumed_from >= killed_at


def _torchrun_train(work: Path) -> subprocess.CompletedProcess:
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).parent / "torchrun")
    # One node: gloo on loopback rather than whatever the host name resolves to; a Python stack on a native abort.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo", "PYTHONFAULTHANDLER": "1"}
    return subprocess.run(
        [
            torchrun,
            "--standalone",
            "--nproc_per_node",
            "2",
            "-m",
            "autoseg.cli",
            "train",
            str(work),
            "-c",
            "2d",
            "-f",
            "2",
            "--epochs",
            "2",
            "--no-validation",
            "--workers",
            "0",
            "--overwrite",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def _worker_lines(stderr: str) -> str:
    """What the ranks printed, without torchrun's own traceback (which buries the cause)."""
    return "\n".join(line for line in stderr.splitlines() if "torch/distributed/" not in line)[-4000:]


@pytest.mark.slow
def test_two_torchrun_processes_agree_on_weights(planned_3d):
    result = _torchrun_train(planned_3d)
    first = ""
    if result.returncode != 0 and "Signal 6 (SIGABRT)" in result.stderr:
        # One rank died of a native abort once in CI (cause not found; 46 runs here all passed). Retry once;
        # a second failure reports what the ranks printed in both attempts.
        first = _worker_lines(result.stderr)
        warnings.warn(f"torchrun run aborted (SIGABRT), retrying once; ranks printed:\n{first}", stacklevel=1)
        result = _torchrun_train(planned_3d)
    assert result.returncode == 0, (f"first attempt:\n{first}\n\nretry:\n" if first else "") + _worker_lines(
        result.stderr
    )
    summary = json.loads((planned_3d / "models/2d/fold_2/training_summary.json").read_text())
    assert summary["processes"] == 2 and summary["ranks_agree"] is True
    assert summary["iterations"] == 20
