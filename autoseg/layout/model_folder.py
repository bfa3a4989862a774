"""Opening a model to predict with: a zip (unpacked into a temporary folder, archive.py), an exported folder or a
WORK folder. An exported model is used only whole and unchanged: every file model.json lists is there with its
sha256, and nothing else is (a model is refused rather than run half-replaced)."""

from __future__ import annotations

import hashlib
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from autoseg.errors import AutosegError
from autoseg.layout.archive import extract_zip
from autoseg.layout.work import MODEL_CARD, MODEL_FORMAT, MODEL_FORMAT_VERSION, PLANS
from autoseg.schema.load import load_validated_data
from autoseg.schema.model_card_file import ModelCardFile
from autoseg.utils.owned import MARKER


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(2**20):
            digest.update(chunk)
    return digest.hexdigest()


def check_model_folder(folder: Path) -> dict[str, Any]:
    """model.json of an exported model folder, after checking that every file it lists is there unchanged and
    that nothing else is."""
    card_path = folder / MODEL_CARD
    card = load_validated_data(card_path, ModelCardFile, MODEL_CARD)  # types, bounds, member names
    if not isinstance(card, dict) or card.get("format") != MODEL_FORMAT:
        raise AutosegError("not an autoseg model card", card_path, "export the model with 'autoseg export'")
    if card.get("format_version", 0) > MODEL_FORMAT_VERSION:
        raise AutosegError(
            f"model format {card['format_version']} is newer than this autoseg reads ({MODEL_FORMAT_VERSION})",
            card_path,
            "upgrade autoseg",
        )
    listed = card.get("files", {})
    # the ownership marker (autoseg/utils/owned.py) is written by import, after the zip's files were checked
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} - {MODEL_CARD, MARKER}
    for name in sorted(present - set(listed)):
        raise AutosegError(
            f"file '{name}' is not listed in model.json", folder / name, "remove it, or export the model again"
        )
    for name, entry in sorted(listed.items()):
        if name not in present or sha256(folder / name) != entry.get("sha256"):
            raise AutosegError(
                f"'{name}' is missing or differs from what model.json records",
                folder / name,
                "copy or unpack the model again; it is incomplete or was modified",
            )
    return card


@contextmanager
def opened_model(source: str | Path) -> Iterator[Path]:
    """A folder with a WORK layout for `source`: a model zip (unpacked into a temporary folder for the duration),
    an exported model folder (its files checked against model.json) or a WORK folder."""
    source = Path(source)
    if source.is_file():
        with tempfile.TemporaryDirectory(prefix="autoseg-model-") as temporary:
            folder = extract_zip(source, Path(temporary) / "model")
            check_model_folder(folder)
            yield folder
        return
    if (source / MODEL_CARD).is_file():
        check_model_folder(source)
        yield source
        return
    if (source / PLANS).is_file():
        yield source
        return
    raise AutosegError(
        "not a model: neither a zip nor a folder with model.json or plans.json",
        source,
        "pass a zip written by 'autoseg export', an imported or exported model folder, or a WORK folder",
    )
