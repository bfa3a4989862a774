"""`autoseg benchmark --resume`: a benchmark killed with SIGKILL during its training continues in its own folder,
keeps what finished, and refuses to mix in other settings."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autoseg.benchmark.resume import SETTINGS_FILE
from autoseg.benchmark.run import benchmark
from autoseg.data.synthetic import make_synthetic_dataset
from autoseg.errors import AutosegError

SETTINGS = {"configs": ["2d"], "preset": "cpu-fast", "cpu_gflops": 40.0, "cv_folds": 2}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return make_synthetic_dataset(
        tmp_path_factory.mktemp("data") / "Resume2D", num_cases=6, num_test=2, shape=(48, 48), seed=5
    )


def epochs_done(fold: Path) -> int:
    try:
        return len(json.loads((fold / "history.json").read_text()))
    except (FileNotFoundError, json.JSONDecodeError):
        return 0


def kill_during_training(dataset: Path, report: Path, epochs: int) -> Path:
    """Starts the benchmark as a process of its own group and SIGKILLs the group (the benchmark and its stage)
    once the training has finished an epoch and before it ends; returns the fold folder."""
    fold = report / "work" / dataset.name / "models" / "2d" / "fold_0"
    command = [sys.executable, "-m", "autoseg.cli", "benchmark", str(dataset), "-o", str(report)]
    command += ["--epochs", str(epochs), "-c", "2d", "--preset", "cpu-fast", "--cpu-gflops", "40", "--cv-folds", "2"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 300
    while epochs_done(fold) < 1 and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert process.poll() is None, "the benchmark ended before it was killed: " + process.stderr.read().decode()[-2000:]
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    process.stderr.close()
    return fold


@pytest.mark.slow
def test_benchmark_killed_in_training_resumes_and_keeps_finished_stages(dataset, tmp_path):
    report_dir, epochs = tmp_path / "R", 12
    fold = kill_during_training(dataset, report_dir, epochs)
    killed_at = epochs_done(fold)
    assert 1 <= killed_at < epochs and not (fold / "checkpoint_final.pt").exists(), "killed mid-training"
    assert (report_dir / SETTINGS_FILE).is_file() and not (report_dir / "report.json").exists()
    with pytest.raises(AutosegError, match="(?s)not empty.*--resume"):  # without --resume the folder is refused
        benchmark([dataset], report_dir, epochs=epochs, progress=False, **SETTINGS)

    report = benchmark([dataset], report_dir, epochs=epochs, progress=False, resume=True, **SETTINGS)
    record = report["datasets"][0]
    assert record["status"] == "ok", record["error"]
    earlier = [s for s in record["stages"] if s.get("earlier_run")]
    names = [s["name"] for s in record["stages"] if not s.get("earlier_run")]
    assert names[:3] == ["verify", "preprocess (resumed)", "train 2d fold 0 (resumed)"]
    # The report shows the first run too: what it finished, and the training it was killed in, timed to its log.
    assert [s["name"] for s in earlier] == ["verify", "plan", "train 2d fold 0"] and record["stages"][:3] == earlier
    assert earlier[-1]["status"] == "killed" and earlier[-1]["seconds"] > 0 and earlier[-1]["returncode"] is None
    logs = {s["log"] for s in record["stages"]}
    assert len(logs) == len(record["stages"]) and all((report_dir / log).is_file() for log in logs), "no log lost"
    assert "train 2d fold 0 (before --resume)" in (report_dir / "report.md").read_text()
    history = json.loads((fold / "history.json").read_text())
    assert [h["epoch"] for h in history] == list(range(epochs)), "the killed epochs are not trained twice"
    assert record["configurations"]["2d"]["folds"]["0"]["epochs"] == epochs
    first = record["evaluation"]["tta"]["foreground_mean"]["Dice"]
    weights = (fold / "checkpoint_final.pt").stat().st_mtime_ns

    # A second resume of the finished benchmark trains nothing and scores the same model the same way.
    again = benchmark([dataset], report_dir, epochs=epochs, progress=False, resume=True, **SETTINGS)["datasets"][0]
    assert again["status"] == "ok", again["error"]
    train = next(s for s in again["stages"] if s["name"].startswith("train") and not s.get("earlier_run"))
    assert train["name"] == "train 2d fold 0" and train["kept"] and train["seconds"] == 0
    assert (fold / "checkpoint_final.pt").stat().st_mtime_ns == weights
    assert again["evaluation"]["tta"]["foreground_mean"]["Dice"] == first
    assert json.loads((report_dir / "report.json").read_text())["datasets"][0]["status"] == "ok"


def test_resume_refuses_other_settings_and_a_folder_without_a_benchmark(dataset, tmp_path):
    report_dir = tmp_path / "R"
    with pytest.raises(AutosegError, match="nothing to resume"):
        benchmark([dataset], report_dir, epochs=3, progress=False, resume=True, **SETTINGS)
    report_dir.mkdir()
    first = {"time_budget": "15m", "epochs": 3, "configs": ["2d"], "folds": [0], "preset": "cpu-fast"}
    (report_dir / SETTINGS_FILE).write_text(
        json.dumps({"datasets": [str(dataset.resolve())], "settings": first, "command": "autoseg benchmark X -o R"})
    )
    with pytest.raises(AutosegError, match=r"(?s)epochs 3 then, 5 now.*autoseg benchmark X -o R --resume"):
        benchmark([dataset], report_dir, epochs=5, progress=False, resume=True, **SETTINGS)
    (report_dir / SETTINGS_FILE).write_text(json.dumps({"datasets": "x", "settings": {}, "command": ""}))
    with pytest.raises(AutosegError, match=SETTINGS_FILE):  # a damaged file is named, not a traceback
        benchmark([dataset], report_dir, epochs=3, progress=False, resume=True, **SETTINGS)


def test_earlier_stages_are_read_from_the_ledger_only_as_far_as_it_can_be_trusted(tmp_path):
    from autoseg.benchmark.stage_ledger import LEDGER, earlier_stages, running_record, save_stages

    logs = tmp_path / "logs" / "D"
    assert earlier_stages(logs) == []  # killed before its first stage was recorded
    running = running_record("train 2d fold 0", ["autoseg", "train"], "logs/D/train_2d_fold_0.log")
    running["started_at"] -= 100
    hostile = running_record("predict", ["autoseg", "predict"], "../../../etc/passwd")  # a path from a file
    save_stages(logs, [running, hostile])
    (logs / "train_2d_fold_0.log").write_text("epoch 1\n")
    first, second = earlier_stages(logs)
    assert first["status"] == "killed" and first["earlier_run"] and 99 <= first["seconds"] <= 200
    assert second["status"] == "killed" and second["seconds"] == 0.0  # never looked up outside the logs folder
    (logs / LEDGER).write_text(json.dumps([{"name": "x", "seconds": -1}]))
    with pytest.raises(AutosegError, match=LEDGER):
        earlier_stages(logs)


def test_resume_accepts_the_same_preset_file_at_another_path(tmp_path):
    """A benchmark started from one checkout resumes from another: its preset file is compared by content."""
    from autoseg.benchmark.resume import check_resumable, settings_record, write_settings

    first_copy, second_copy = tmp_path / "a" / "wide.json", tmp_path / "b" / "wide.json"
    for copy in (first_copy, second_copy):
        copy.parent.mkdir()
        copy.write_text('{"name": "wide", "extends": "default"}')
    report_dir = tmp_path / "R"
    report_dir.mkdir()
    datasets = [tmp_path]
    write_settings(report_dir, settings_record(datasets, {"preset": str(first_copy)}, "autoseg benchmark X"))
    check_resumable(report_dir, settings_record(datasets, {"preset": str(second_copy)}, "autoseg benchmark X"))
    second_copy.write_text('{"name": "wide", "extends": "cpu-fast"}')  # another preset under the same name
    with pytest.raises(AutosegError, match="preset .*a/wide.json.* then"):
        check_resumable(report_dir, settings_record(datasets, {"preset": str(second_copy)}, "autoseg benchmark X"))
