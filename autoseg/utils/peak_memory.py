"""Peak resident memory of this process and its worker processes together, for the logs of heavy stages.

The kernel's high-water marks are per process (and a finished worker's is lost), so a thread samples the
resident size of the process tree: what the machine had to hold at once when several workers overlap. Samples
can miss a spike shorter than the interval, so this process's own high-water mark (VmHWM, reset on entry) is a
lower bound next to it.
"""

from __future__ import annotations

import resource
import threading

import psutil

SAMPLE_INTERVAL_S = 0.05


def _tree_rss(process: psutil.Process) -> int:
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total


def _reset_high_water_mark() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:  # Linux: "5" restarts VmHWM at the current size
            f.write("5")
    except OSError:
        pass


def _own_high_water_mark() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class PeakMemory:
    """`with PeakMemory() as peak: ...` then peak.bytes (process tree, sampled) and peak.own_bytes (this
    process's high-water mark during the block)."""

    def __init__(self, interval_s: float = SAMPLE_INTERVAL_S):
        self.interval_s = interval_s
        self.bytes = 0
        self.own_bytes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "PeakMemory":
        process = psutil.Process()
        _reset_high_water_mark()
        self.bytes = _tree_rss(process)

        def sample():
            while not self._stop.wait(self.interval_s):
                self.bytes = max(self.bytes, _tree_rss(process))

        self._thread = threading.Thread(target=sample, name="peak-memory", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.bytes = max(self.bytes, _tree_rss(psutil.Process()))
        self.own_bytes = _own_high_water_mark()
        self.bytes = max(self.bytes, self.own_bytes)

    def words(self) -> str:
        return (
            f"peak RAM {self.bytes / 2**30:.2f} GB (this process and its workers together, sampled every "
            f"{self.interval_s:g} s; this process alone {self.own_bytes / 2**30:.2f} GB)"
        )
