"""Child process of tests/test_crash_recovery.py: `autoseg ARGS` with one function slowed down.

    python tests/crash_child.py MODULE.FUNCTION DELAY ARGS...   ('-' as MODULE.FUNCTION: nothing slowed)

After each call of MODULE.FUNCTION the child sleeps DELAY seconds (and appends a byte to the file named by
$AUTOSEG_CRASH_CALLS, when set), so that a test can SIGKILL it part-way through a stage that tiny data makes
too quick to catch otherwise. Nothing else changes: the kill lands in the real code.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
import time


def slow_down(target: str, delay: float) -> None:
    module_name, name = target.rsplit(".", 1)
    module = importlib.import_module(module_name)
    original = getattr(module, name)
    calls = os.environ.get("AUTOSEG_CRASH_CALLS")

    @functools.wraps(original)
    def slowed(*args, **kwargs):
        result = original(*args, **kwargs)
        if calls:
            with open(calls, "ab") as f:
                f.write(b".")
        time.sleep(delay)
        return result

    setattr(module, name, slowed)


if __name__ == "__main__":
    target, delay, argv = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
    if target != "-":
        slow_down(target, delay)
    from autoseg.cli import main

    sys.exit(main(argv))
