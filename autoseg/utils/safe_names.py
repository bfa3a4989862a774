"""Names that come from files are never paths.

A case id in dataset.json, a model or archive name, a configuration or fold name in plans.json, a zip member:
each is checked against one strict pattern before it is used, and every path built from one is resolved and
checked to stay inside the folder it was meant for. A name like `../x`, `/etc`, `.` or `a/b` is refused in one
line naming the file it came from.
"""

from __future__ import annotations

import re
from pathlib import Path

from autoseg.errors import AutosegError

# Letters, digits, '.', '_', '-'; starts with a letter or digit (so never '.', '..' or a hidden file); no
# separators; short enough for every file system's name limit once suffixes such as '_0000.nii.gz' are added.
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"
_NAME = re.compile(NAME_PATTERN)


def is_safe_name(name: object) -> bool:
    return isinstance(name, str) and _NAME.fullmatch(name) is not None and ".." not in name


# Case ids come from file names as often as from JSON, and real data names cases with spaces and non-ASCII letters
# ('Gehirn ü 001'): harmless in one path component. A case id must only be that: no separator, no control
# character, not hidden (so never '.' or '..'), short enough for the suffixes autoseg adds.
_CASE_ID_FORBIDDEN = re.compile(r"[/\\\x00-\x1f\x7f]")


def is_safe_case_id(name: object) -> bool:
    return (
        isinstance(name, str)
        and 0 < len(name) <= 200
        and not name.startswith(".")
        and _CASE_ID_FORBIDDEN.search(name) is None
    )


def check_case_id(name: object, source: str | Path | None = None) -> str:
    """Return `name` if it can name a case's files (one path component), else raise one line naming `source`."""
    if is_safe_case_id(name):
        return name  # type: ignore[return-value]
    raise AutosegError(
        f"case id {name!r} is not a plain name for a case (it is empty, hidden, longer than 200 "
        "characters, or holds '/', '\\' or a control character)",
        source,
        "rename the case in that file; names from files are never used as paths",
    )


def check_name(name: object, what: str, source: str | Path | None = None) -> str:
    """Return `name` if it is a safe single path component, else raise one line naming `source`."""
    if is_safe_name(name):
        return name  # type: ignore[return-value]
    raise AutosegError(
        f"{what} {name!r} is not a plain name (letters, digits, '.', '_', '-'; no '..', no '/', "
        f"at most 128 characters)",
        source,
        f"rename the {what} in that file; names from files are never used as paths",
    )


def child_path(folder: str | Path, name: str, what: str, source: str | Path | None = None) -> Path:
    """folder/name after checking the name, resolved and checked to be inside `folder`."""
    check_name(name, what, source)
    return inside(folder, Path(folder) / name, what, source)


def inside(folder: str | Path, path: str | Path, what: str, source: str | Path | None = None) -> Path:
    """`path` resolved, after checking that it stays within `folder` (symlinks followed)."""
    root = Path(folder).resolve()
    resolved = Path(path).resolve()
    if resolved != root and root not in resolved.parents:
        raise AutosegError(
            f"{what} {str(path)!r} would be written outside {root}",
            source,
            "use a plain name without '..', '/' or links leading elsewhere",
        )
    return resolved
