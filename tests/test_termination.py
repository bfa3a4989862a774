"""SIGTERM (a batch system's time limit, `kill`) ends an autoseg command like Ctrl-C: a benchmark stops the stage
it runs instead of leaving it behind as an orphan that keeps the CPU and its output's lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

# A verb that runs one benchmark stage: a child that says its pid and sleeps.
PARENT = """
import sys
from autoseg import cli
from autoseg.benchmark.stage import run_stage

def slow_stage(args):
    run_stage("sleep", [sys.executable, "-c", "import os, time; print(os.getpid(), flush=True); time.sleep(120)"],
              sys.argv[1])

cli.VERBS["verify"] = (*cli.VERBS["verify"][:2], slow_stage)
sys.exit(cli.main(["verify", "unused"]))
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_sigterm_stops_the_running_stage_and_exits_143(tmp_path):
    log = tmp_path / "stage.log"
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(log)], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (log.exists() and len(log.read_text().splitlines()) > 1):
        time.sleep(0.1)
    child = int(log.read_text().splitlines()[1])
    assert _alive(child)
    parent.send_signal(signal.SIGTERM)
    assert parent.wait(timeout=60) == 143
    assert "autoseg verify: terminated (SIGTERM)" in parent.stderr.read()
    assert not _alive(child), "the stage outlived the benchmark that ran it"
