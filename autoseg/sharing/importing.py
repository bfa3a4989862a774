"""Using an exported model: `autoseg import model.zip` unpacks it into a models folder; `predict --model` and
autoseg.Predictor open a zip (into a temporary folder, removed afterwards), an exported folder or a WORK folder.
A zip is checked whole before anything is written (layout/archive.py) and every file against model.json's
sha256 (layout/model_folder.py)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from autoseg.errors import AutosegError
from autoseg.layout.archive import check_zip, extract_zip
from autoseg.layout.model_folder import check_model_folder
from autoseg.layout.work import MODEL_CARD, is_model_file
from autoseg.utils.owned import check_removable, mark_owned, remove_owned
from autoseg.utils.safe_names import child_path


def default_models_folder() -> Path:
    return Path(os.environ.get("AUTOSEG_MODELS") or Path.home() / ".autoseg" / "models")


def import_model(
    archive: str | Path, models_folder: str | Path | None = None, name: str | None = None, overwrite: bool = False
) -> Path:
    """Unpack a model zip into MODELS/<name> (default: the zip's name); returns that folder."""
    archive = Path(archive)
    root = Path(models_folder or default_models_folder())
    # The zip's name (or --name) becomes a folder: a plain name only, so '.', '..' or 'a/../b' cannot make
    # --overwrite replace the models folder itself, its parent or another model.
    destination = child_path(root, name or archive.stem, "model name", archive if name is None else None)
    if destination.exists() and not overwrite:
        raise AutosegError(
            "a model of that name is already imported",
            destination,
            "pass --overwrite to replace it, or --name to import under another name",
        )
    check_zip(archive)  # before the models folder is even created
    replace: dict[str, Any] = dict(protected=[root], legacy=_is_model_folder, allowed=_allowed_in_model)
    if destination.exists():  # refused before unpacking anything when it is not an imported model
        check_removable(destination, "this imported model", **replace)
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = destination.with_name(f".{destination.name}.import")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        extract_zip(archive, staging)
        check_model_folder(staging)
        mark_owned(staging, f"autoseg import {archive.name}")
        if destination.exists():
            remove_owned(destination, "this imported model", **replace)
        staging.rename(destination)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return destination


def _is_model_folder(folder: Path) -> bool:
    """An import made before the ownership marker existed: a model card and nothing but a model's files."""
    return (folder / MODEL_CARD).is_file()


def _allowed_in_model(relative: str) -> bool:
    return relative == MODEL_CARD or is_model_file(relative)
