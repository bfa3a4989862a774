"""The one exception type for problems a user can cause and fix.

The CLI prints an AutosegError as a single line and exits non-zero; any other exception is our bug
and keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path


class AutosegError(Exception):
    """A problem with the user's input: names the file (when there is one) and the fix."""

    def __init__(self, message: str, path: str | Path | None = None, fix: str | None = None):
        self.path = None if path is None else str(path)
        self.fix = fix
        self.problem = message
        parts = [f"{self.path}: {message}" if self.path else message]
        if fix:
            parts.append(f"Fix: {fix}")
        super().__init__(" ".join(parts))
