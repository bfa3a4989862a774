"""Run one benchmark stage as a child process and measure its wall time and peak memory.

A stage is a command (an `autoseg` verb, or another tool's command for the side-by-side comparisons). Running it
in its own process makes its memory its own: the peak is the highest sum, over the stage's whole process tree
(the trainer's augmentation workers included), of the proportional set size (PSS: shared pages split between
the processes that share them, so forked workers are not counted twice). It is sampled every SAMPLE_SECONDS,
so a spike shorter than that can be missed. The sum of resident set sizes (RSS, shared pages counted in every
process) is kept too, as an upper bound.

The sampler must not slow what it measures: reading a process's PSS walks its page tables under the process's
memory lock (about 3-6 ms for a PyTorch process, stalling its allocations meanwhile), so the cheap RSS is read
every SAMPLE_SECONDS and the PSS only when the summed RSS reaches a new high or every PSS_SECONDS.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping, Sequence

import psutil

from autoseg.errors import AutosegError

SAMPLE_SECONDS = 0.25
PSS_SECONDS = 5.0
NEW_HIGH = 1.02  # read the PSS when the RSS sum passes its highest at a PSS reading by 2%
MIB = 2**20


@dataclass
class StageResult:
    name: str
    command: list[str]
    seconds: float
    peak_ram_mb: float  # peak of the summed PSS of the process tree (sampled)
    peak_rss_sum_mb: float  # peak of the summed RSS (counts shared pages once per process: an upper bound)
    returncode: int
    log: str

    def to_dict(self) -> dict:
        return asdict(self)


def autoseg_command(verb: str, *args: str) -> list[str]:
    """The command line of an autoseg verb, run with this interpreter (the same installation as the caller)."""
    return [sys.executable, "-m", "autoseg.cli", verb, *map(str, args)]


class TreeMemorySampler:
    """Samples the memory of a process and all its descendants in a background thread until stopped."""

    def __init__(self, pid: int, interval: float = SAMPLE_SECONDS):
        self.root = psutil.Process(pid)
        self.interval = interval
        self.peak_pss = 0
        self.peak_rss = 0
        self._last_pss = float("-inf")
        self._rss_at_pss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> "TreeMemorySampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def sample(self) -> None:
        try:
            processes = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return
        rss = sum(_rss(process) for process in processes)
        now = time.monotonic()
        if rss > NEW_HIGH * self._rss_at_pss or now - self._last_pss >= PSS_SECONDS:
            self.peak_pss = max(self.peak_pss, sum(_pss(process) for process in processes))
            self._last_pss, self._rss_at_pss = now, max(self._rss_at_pss, rss)
        self.peak_rss = max(self.peak_rss, rss)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)


def _rss(process: psutil.Process) -> int:
    try:
        return process.memory_info().rss  # /proc/PID/statm: no page-table walk
    except psutil.Error:  # exited between listing and reading, or not ours to read
        return 0


def _pss(process: psutil.Process) -> int:
    """PSS from /proc/PID/smaps_rollup (one summed record; psutil's memory_full_info reads every mapping)."""
    try:
        with open(f"/proc/{process.pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return _rss(process)


STOP_GRACE_SECONDS = 30  # for a stopped stage to clean up after SIGTERM, before SIGKILL


def run_stage(
    name: str,
    command: Sequence[str],
    log_path: str | Path,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
) -> StageResult:
    """Run `command` with its output going to `log_path`; returns its measurements (also when it failed)."""
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    child_env = {**os.environ, **(env or {})}
    command = [str(c) for c in command]
    with open(log_path, "w") as log:
        log.write("$ " + " ".join(command) + "\n")
        log.flush()
        started = time.monotonic()
        try:
            process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=child_env, cwd=cwd
            )
        except OSError as error:
            raise AutosegError(
                f"cannot start the {name} stage: {error}", command[0], "check that the program is installed"
            ) from None
        with TreeMemorySampler(process.pid) as sampler:
            try:
                returncode = process.wait()
            except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (utils/termination.py): never leave the stage running
                process.terminate()
                try:
                    process.wait(timeout=STOP_GRACE_SECONDS)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
                raise
        seconds = time.monotonic() - started
    return StageResult(
        name=name,
        command=command,
        seconds=round(seconds, 2),
        peak_ram_mb=round(sampler.peak_pss / MIB, 1),
        peak_rss_sum_mb=round(sampler.peak_rss / MIB, 1),
        returncode=returncode,
        log=str(log_path),
    )


def log_tail(path: str | Path, lines: int = 3) -> str:
    """The last non-empty lines of a stage's log: what went wrong, for a one-line error message."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return ""
    kept = [line.strip() for line in text.replace("\r", "\n").splitlines() if line.strip()]
    return " | ".join(kept[-lines:])
