"""What a fold folder must hold before a training starts in it, for each way of starting (new, --resume,
--extend, --overwrite); refused with the fix otherwise, before anything is written."""

from __future__ import annotations

from pathlib import Path

from autoseg.errors import AutosegError
from autoseg.training.checkpoint import FINAL, LATEST
from autoseg.utils.owned import mark_owned, remove_owned


def interrupted_extension(out: Path) -> bool:
    """An --extend that was killed leaves a checkpoint_latest.pt newer than checkpoint_final.pt."""
    final, latest = out / FINAL, out / LATEST
    return final.exists() and latest.exists() and latest.stat().st_mtime > final.stat().st_mtime


def prepare_output(out: Path, resume: bool, extend: bool, overwrite: bool) -> None:
    final, latest = out / FINAL, out / LATEST
    if overwrite and out.exists():
        # a fold trained before the ownership marker existed is recognised by its training files
        remove_owned(out, "this fold's folder", protected=[out.parent.parent], legacy=is_fold_folder)
    elif resume and interrupted_extension(out):
        pass
    elif extend:
        if not final.exists():
            raise AutosegError(
                "--extend needs a finished run (checkpoint_final.pt)", out, "use --resume to continue an unfinished run"
            )
    elif final.exists():
        raise AutosegError(
            "this fold is already trained",
            final,
            "pass --extend with --time-budget/--epochs to train it further, or --overwrite to "
            "start again (the old model is deleted)"
            + ("; --resume continues a killed --extend only" if resume else ""),
        )
    elif latest.exists() and not resume:
        raise AutosegError(
            "an unfinished run exists in this folder",
            latest,
            "pass --resume to continue it, or --overwrite to start again",
        )
    elif resume and not latest.exists():
        raise AutosegError("nothing to resume: no checkpoint_latest.pt", out, "start the run without --resume")
    mark_owned(out, f"autoseg train (models/{out.parent.name}/{out.name})")


def is_fold_folder(folder: Path) -> bool:
    return any(folder.glob("checkpoint_*.pt")) or (folder / "training_summary.json").is_file()
