"""Folders autoseg made, and the only folders `--overwrite` may delete.

Every folder that an `--overwrite` can replace (an imported model, a trained fold, a preprocessed cache, an exported
model folder) gets a marker file when autoseg creates it, saying what made it. Before deleting, remove_owned checks:
the folder carries the marker (or, for folders made before the marker existed, is recognisable as autoseg's by its
own files: `legacy`), it is not a root the caller protects nor a parent of one, and nothing foreign sits inside it
(another autoseg folder, a dataset, a WORK, or a file the caller's `allowed` rule does not expect). Otherwise one
line names the folder and the fix, and nothing is deleted.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable, Iterable

from autoseg.errors import AutosegError

MARKER = ".autoseg-owned"
# Files that show a folder holds something other than the folder being replaced: a WORK, a dataset, a model.
_FOREIGN_SIGNS = ("plans.json", "dataset.json", "model.json", MARKER)


def mark_owned(folder: str | Path, what: str) -> Path:
    """Create `folder` if needed and record that autoseg made it (`what`: which command, for whom)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text(
        f"made by autoseg: {what}\n'--overwrite' may delete this folder; autoseg deletes no folder without this file\n"
    )
    return folder


def is_owned(folder: str | Path) -> bool:
    return (Path(folder) / MARKER).is_file()


def remove_owned(
    folder: str | Path,
    what: str,
    *,
    protected: Iterable[str | Path] = (),
    legacy: Callable[[Path], bool] | None = None,
    allowed: Callable[[str], bool] | None = None,
) -> None:
    """Delete `folder` (`what` names it in errors) only when it is provably autoseg's own; else AutosegError.

    legacy(folder): True for a folder made by an autoseg older than the marker (recognised by its files).
    allowed(relative POSIX path): False for a file that must not be inside such a folder."""
    folder = Path(folder)
    if not folder.exists() and not folder.is_symlink():
        return
    check_removable(folder, what, protected=protected, legacy=legacy, allowed=allowed)
    shutil.rmtree(folder)


def check_removable(
    folder: str | Path,
    what: str,
    *,
    protected: Iterable[str | Path] = (),
    legacy: Callable[[Path], bool] | None = None,
    allowed: Callable[[str], bool] | None = None,
) -> None:
    """remove_owned's checks without the deletion: call it before any work an --overwrite would throw away."""
    folder = Path(folder)
    fix = f"move or delete {folder} yourself, or choose another name or output folder"
    if folder.is_symlink() or not folder.is_dir():
        raise AutosegError(
            f"--overwrite would replace {what}, but it is not a folder autoseg made (a file or a link)", folder, fix
        )
    resolved = folder.resolve()
    for root in [Path.home(), Path.cwd(), Path(resolved.anchor), *map(Path, protected)]:
        root = root.resolve()
        if resolved == root or resolved in root.parents:
            raise AutosegError(f"--overwrite refuses to delete {what}: it is {root} or holds it", folder, fix)
    if not is_owned(folder) and not (legacy is not None and legacy(folder)):
        raise AutosegError(
            f"--overwrite refuses to delete {what}: it has no {MARKER} file, so autoseg did not make it", folder, fix
        )
    if (foreign := foreign_content(folder, allowed)) is not None:
        raise AutosegError(
            f"--overwrite refuses to delete {what}: it holds '{foreign}', which autoseg did not put there", folder, fix
        )


def foreign_content(folder: Path, allowed: Callable[[str], bool] | None = None) -> str | None:
    """The first entry of `folder` that is not part of the folder itself: a nested WORK, dataset, model or other
    autoseg folder, a link leading out, or a file `allowed` rejects; None when there is none."""
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if path.is_symlink():
            return relative
        if path.parent != folder and path.name in _FOREIGN_SIGNS:
            return relative
        if allowed is not None and path.is_file() and path.name != MARKER and not allowed(relative):
            return relative
    return None
