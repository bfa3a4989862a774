"""What tells a later run that a case's source files changed: [path, size, mtime_ns] of each file. The
fingerprint, the preprocessed cache and the prediction ledger each keep these and compare them on reuse."""

from __future__ import annotations

from typing import Any

from autoseg.data.dataset import Case


def source_stamps(case: Case) -> list[list[Any]]:
    """[path, size, mtime_ns] of each image and label file of a case: what tells a re-plan that a file changed."""
    files = list(case.image_files) + ([case.label_file] if case.label_file is not None else [])
    stamps = []
    for path in files:
        stat = path.stat() if path.is_file() else None
        stamps.append([str(path.resolve()), stat.st_size if stat else None, stat.st_mtime_ns if stat else None])
    return stamps
