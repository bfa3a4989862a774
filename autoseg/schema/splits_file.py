"""The declared schema of splits.json (WORK/splits.json, or a user's file given to `plan --splits`): a list of
folds, each {"train": [case ids], "val": [case ids]}. Case ids name cache files, so each must be one
safe path component (bounds.CaseId)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field, RootModel

from autoseg.schema.bounds import MAX_CASES, MAX_FOLDS, CaseId

CaseIds = Annotated[list[CaseId], Field(max_length=MAX_CASES)]


class Fold(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")
    train: CaseIds
    val: CaseIds


class SplitsFile(RootModel[Annotated[list[Fold], Field(min_length=1, max_length=MAX_FOLDS)]]):
    model_config = ConfigDict(strict=True)
    FIX: ClassVar[str] = (
        'write it as a JSON list of {"train": [case ids], "val": [case ids]}, one object per '
        "fold (or re-run 'autoseg plan')"
    )


class GroupsFile(
    RootModel[Annotated[dict[CaseId, Annotated[str, Field(max_length=256)] | int], Field(max_length=MAX_CASES)]]
):
    """`plan --groups FILE`: case id -> group (a patient, a volume); cases of one group share a fold."""

    model_config = ConfigDict(strict=True)
    FIX: ClassVar[str] = 'write it as a JSON object {"case id": "group", ...}'


def read_splits(path: str | Path) -> list[dict]:
    """The folds of a splits.json, validated (plain dicts and lists, as every reader of it expects)."""
    from autoseg.schema.load import load_validated_data

    return load_validated_data(path, SplitsFile, "splits.json")
