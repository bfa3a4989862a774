"""One writer per output (issue 20): a second writer is refused naming the holder; a killed holder's lock is taken
over; a forked worker does not keep its parent's lock alive; the CLI verbs that write take the lock."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from autoseg import cli
from autoseg.errors import AutosegError
from autoseg.utils.files import remove_partial_writes
from autoseg.utils.locks import lock_path, output_lock

# Holds the lock of argv[1] until killed; with argv[2] == "fork", a forked child sleeps on after the fork.
# The child says "child" once it runs: the at-fork hook has closed its copy of the lock by then (before that,
# a parent killed a microsecond after forking would still leave the lock held until the child is scheduled).
HOLDER = """
import os, sys, time
from autoseg.utils.locks import output_lock
with output_lock(sys.argv[1], "test output"):
    if sys.argv[2] == "fork" and os.fork() == 0:
        os.write(1, b"child\\n")
        time.sleep(60)
        os._exit(0)
    os.write(1, b"held\\n")
    time.sleep(60)
"""


@pytest.fixture
def holder():
    """Start processes that hold a lock; every one is killed at the end."""
    started: list[subprocess.Popen] = []

    def start(output: Path, mode: str = "plain") -> subprocess.Popen:
        process = subprocess.Popen([sys.executable, "-c", HOLDER, str(output), mode], stdout=subprocess.PIPE, text=True)
        started.append(process)
        expected = {"held", "child"} if mode == "fork" else {"held"}
        assert {process.stdout.readline().strip() for _ in expected} == expected
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_second_writer_is_refused_naming_the_holder(tmp_path, holder):
    output = tmp_path / "predictions"
    process = holder(output)
    with pytest.raises(AutosegError) as error, output_lock(output, "predictions folder"):
        pass
    message = str(error.value)
    assert error.value.path == str(output)
    assert f"pid {process.pid}" in message and socket.gethostname() in message and "started 20" in message
    assert "Fix: " in message and "\n" not in message


def test_a_killed_holders_lock_is_taken_over(tmp_path, holder, caplog):
    output = tmp_path / "fold_0"
    process = holder(output)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert lock_path(output).exists(), "kill -9 leaves the lock file behind"
    caplog.set_level("INFO", logger="autoseg")
    with output_lock(output, "training fold"):
        assert lock_path(output).exists()
    assert f"pid {process.pid}" in caplog.text and "ended without releasing it" in caplog.text
    assert not lock_path(output).exists(), "released: no lock file left"


def test_a_forked_worker_does_not_keep_the_lock(tmp_path, holder):
    output = tmp_path / "preprocessed"
    process = holder(output, "fork")
    process.send_signal(signal.SIGKILL)
    process.wait()
    with output_lock(output, "preprocessed configuration"):  # the sleeping child still runs
        pass


def test_the_lock_is_released_after_an_error_and_reusable(tmp_path):
    output = tmp_path / "out"
    with pytest.raises(ValueError), output_lock(output, "test output"):
        raise ValueError("boom")
    with (
        output_lock(output, "test output"),
        pytest.raises(AutosegError, match="another autoseg run"),
        output_lock(output, "test output"),
    ):
        pass


def test_partial_writes_of_a_killed_run_are_removed_but_nothing_else(tmp_path):
    for name in (".case_1.npy.ab12cd_3.npy", ".checkpoint_latest.pt.k2j3h4g5.pt", ".DS_Store", "case_1.npy"):
        (tmp_path / name).write_text("x")
    (tmp_path / ".case_2.nii.gz.q1w2e3r4").mkdir()  # image_io's staging folder
    assert sorted(remove_partial_writes(tmp_path)) == [
        ".case_1.npy.ab12cd_3.npy",
        ".case_2.nii.gz.q1w2e3r4",
        ".checkpoint_latest.pt.k2j3h4g5.pt",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".DS_Store", "case_1.npy"]


def one_line_error(capsys, *argv) -> str:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip() and "%|" not in line]
    assert code == 2 and len(lines) == 1 and "Traceback" not in out + err, (code, out, err)
    return lines[0]


def test_train_predict_and_preprocess_refuse_a_held_output(planned_3d, synthetic_3d, tmp_path, holder, capsys):
    planned_3d = shutil.copytree(planned_3d, tmp_path / "work")  # the shared work folder stays untouched
    fold = planned_3d / "models" / "3d_fullres" / "fold_3"
    process = holder(fold)
    line = one_line_error(capsys, "train", planned_3d, "-c", "3d_fullres", "-f", "3", "--epochs", "1")
    assert f"pid {process.pid}" in line and str(fold) in line
    assert not fold.exists(), "nothing was written into the held fold"

    out = tmp_path / "predictions"
    process = holder(out)
    line = one_line_error(capsys, "predict", planned_3d, "-i", synthetic_3d / "imagesTs", "-o", out, "-c", "2d")
    assert f"pid {process.pid}" in line and "predictions folder" in line

    cache = planned_3d / "preprocessed" / "2d"
    before = sorted(os.listdir(cache))
    process = holder(cache)
    line = one_line_error(capsys, "preprocess", planned_3d, "-c", "2d")
    assert f"pid {process.pid}" in line and "preprocessed configuration" in line
    assert sorted(os.listdir(cache)) == before
