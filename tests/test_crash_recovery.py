"""kill -9 during preprocessing, training, find-best and predict, then the same command again (issue 20).

Each stage runs as a real `autoseg` process that is killed with SIGKILL part-way; the command run again finishes,
keeps what was complete, redoes what was partial, and ends with what an uninterrupted run gives. A stage that is
too quick to be caught mid-way on tiny data is slowed down in the child process only (tests/crash_child.py wraps
one function with a pause), so the kill lands between and inside its writes, not after them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from autoseg.data.image_io import read_label
from autoseg.errors import AutosegError
from autoseg.inference.find_best import find_best
from autoseg.inference.run import predict
from autoseg.preprocessing.run import preprocess
from autoseg.training.loop import train
from autoseg.utils.locks import lock_path
from autoseg.utils.owned import MARKER
from tests.tiny_work import make_tiny_work

pytestmark = pytest.mark.slow  # every test kills and resumes a trained tiny WORK's stages

CHILD = Path(__file__).with_name("crash_child.py")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> SimpleNamespace:
    """6 cases (+4 test images), 3d_fullres fold 0 trained for 2 short epochs (its validation written)."""
    return make_tiny_work(
        tmp_path_factory.mktemp("crash"),
        "Crash",
        seed=11,
        num_cases=6,
        num_test=4,
        keep_only_these=True,
        val_iterations=1,
        fast=True,
        epochs=2,
        validate=True,
    )


def run_and_kill(
    argv: list, ready, slow: str | None = None, delay: float = 0.0, timeout: float = 120, calls: Path | None = None
) -> None:
    """Start `autoseg argv` (with `slow`, a module.function, paused `delay` s after each call), wait until
    ready() is true, then SIGKILL it. Fails when the process ends before it could be killed."""
    command = [sys.executable, str(CHILD), slow or "-", str(delay), *[str(a) for a in argv]]
    env = {**os.environ, **({"AUTOSEG_CRASH_CALLS": str(calls)} if calls else {})}
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    deadline = time.time() + timeout
    while not ready() and time.time() < deadline and process.poll() is None:
        time.sleep(0.02)
    assert process.poll() is None, "the command ended before it was killed: " + process.stderr.read().decode()[-2000:]
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stderr.close()


def stamps(folder: Path, pattern: str) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.glob(pattern)}


def leftovers(folder: Path) -> list[str]:
    """Temporary files of atomic writes still in the folder (not the ownership marker autoseg leaves on purpose)."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") and p.name != MARKER)


def test_preprocess_killed_then_run_again(trained, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(trained.work, work, ignore=shutil.ignore_patterns("preprocessed", "models"))
    cache = work / "preprocessed" / "3d_fullres"
    run_and_kill(
        ["preprocess", work, "--processes", "1"],
        lambda: len(list(cache.glob("case_*.json"))) >= 2,
        slow="autoseg.preprocessing.cache._preprocess_one",
        delay=0.5,
    )
    done_before = stamps(cache, "case_*")
    assert 2 <= len(list(cache.glob("case_*.json"))) < 6, "killed mid-way"
    assert lock_path(cache).exists(), "the killed run's lock is left behind"
    preprocess(work, workers=1, progress=False)  # the same command: takes the stale lock over
    assert not lock_path(cache).exists()
    after = stamps(cache, "case_*")
    assert {name: after[name] for name in done_before if name.endswith(".json")} == {
        name: t for name, t in done_before.items() if name.endswith(".json")
    }, "finished cases are reused"
    reference = trained.work / "preprocessed" / "3d_fullres"
    for case in sorted(p.stem for p in reference.glob("case_*.json")):
        for suffix in (".npy", "_seg.npy"):
            assert np.array_equal(np.load(cache / f"{case}{suffix}"), np.load(reference / f"{case}{suffix}")), case
    assert sorted(p.name for p in cache.glob("case_*")) == sorted(p.name for p in reference.glob("case_*"))
    assert leftovers(cache) == [], "a partial write left by the kill is cleaned up"


def test_training_killed_then_resumed(trained, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(trained.work, work, ignore=shutil.ignore_patterns("models"))
    fold = work / "models" / "3d_fullres" / "fold_0"

    def epochs_done():
        try:
            return len(json.loads((fold / "history.json").read_text()))
        except (FileNotFoundError, json.JSONDecodeError):
            return 0

    run_and_kill(
        ["train", work, "-c", "3d_fullres", "-f", "0", "--epochs", "4", "--no-validation", "--workers", "0"],
        lambda: epochs_done() >= 2,
        slow="autoseg.training.epoch_end.epoch_outputs",
        delay=0.3,
    )
    killed_at = epochs_done()
    assert 2 <= killed_at < 4 and not (fold / "checkpoint_final.pt").exists()
    # Documented: the same command refuses to start over an unfinished run; with --resume it continues.
    with pytest.raises(AutosegError, match="--resume"):
        train(work, "3d_fullres", 0, epochs=4, workers=0, progress=False, validate=False)
    summary = train(work, "3d_fullres", 0, epochs=4, workers=0, resume=True, progress=False, validate=False)
    history = json.loads((fold / "history.json").read_text())
    assert [h["epoch"] for h in history] == list(range(4)) and summary["epochs"] == 4
    assert [h["iterations"] for h in history] == [2 * (e + 1) for e in range(4)]
    assert (fold / "checkpoint_final.pt").is_file() and not lock_path(fold).exists()
    assert leftovers(fold) == []


def test_find_best_killed_then_run_again(trained, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(trained.work, work, ignore=shutil.ignore_patterns("preprocessed"))
    expected = find_best(work, progress=False)
    uninterrupted = (work / "inference.json").read_text()
    (work / "inference.json").unlink()
    calls = tmp_path / "calls"
    run_and_kill(
        ["find-best", work],
        lambda: calls.is_file() and calls.stat().st_size >= 3,
        slow="autoseg.inference.find_best.load_probability_file",
        delay=0.4,
        calls=calls,
    )
    assert not (work / "inference.json").exists(), "killed before it could write: nothing half-written"
    assert leftovers(work) == []
    assert find_best(work, progress=False) == expected
    assert (work / "inference.json").read_text() == uninterrupted


def test_predict_killed_then_run_again(trained, tmp_path):
    reference, out = tmp_path / "reference", tmp_path / "out"
    predict(trained.work, trained.images, reference, tta=False, device="cpu", progress=False)
    argv = ["predict", trained.work, "-i", trained.images, "-o", out, "--no-tta", "--device", "cpu"]
    run_and_kill(
        argv, lambda: len(list(out.glob("case_*.nii.gz"))) >= 2, slow="autoseg.inference.run.segment_case", delay=0.6
    )
    written = stamps(out, "case_*.nii.gz")
    assert 2 <= len(written) < 4, "killed mid-way"
    report = json.loads((out / "prediction_report.json").read_text())
    assert any(entry.get("status") == "pending" for entry in report["cases"].values())
    # the same command again: no --overwrite needed, finished cases kept as they are
    predict(trained.work, trained.images, out, tta=False, device="cpu", progress=False)
    after = stamps(out, "case_*.nii.gz")
    finished = [
        name for name in written if report["cases"].get(name.removesuffix(".nii.gz"), {}).get("status") != "pending"
    ]
    assert finished and all(after[name] == written[name] for name in finished), "finished cases are reused"
    assert sorted(after) == sorted(stamps(reference, "case_*.nii.gz"))
    for name in after:
        assert np.array_equal(read_label(out / name)[0], read_label(reference / name)[0]), name
    report = json.loads((out / "prediction_report.json").read_text())
    assert sorted(report["cases"]) == sorted(n.removesuffix(".nii.gz") for n in after)
    assert all("status" not in entry for entry in report["cases"].values())
    assert leftovers(out) == [] and not lock_path(out).exists()
