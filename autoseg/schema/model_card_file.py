"""The declared schema of an exported model's model.json (sharing/model_card.py): the fields import and predict
rely on -- the format and its version, the file list with sizes and sha256 (every listed name a relative path
without '..'), the configurations and folds predict will load -- with types and bounds. The descriptive fields
(dataset, machine, training records) are checked for type where present; newer minor fields are allowed."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from autoseg.schema.bounds import (
    MAX_CHANNELS,
    MAX_CLASSES,
    MAX_FOLDS,
    LabelValue,
    PatchAxis,
    SafeName,
    ShortText,
    Spacing,
)

# models/<configuration>/fold_<k>/<file> or a top-level file: plain components, never '.', '..' or absolute.
MemberName = Annotated[
    str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*){0,5}$", max_length=1024)
]
OPEN = ConfigDict(strict=True, extra="allow", allow_inf_nan=False)
MAX_FILES = 10_000


class FileEntry(BaseModel):
    model_config = OPEN
    bytes: Annotated[int, Field(ge=0, le=2**44)]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class CardDataset(BaseModel):
    model_config = OPEN
    name: ShortText | None = None
    channel_names: Annotated[list[ShortText], Field(max_length=MAX_CHANNELS)] | None = None
    labels: Annotated[dict[ShortText, LabelValue], Field(max_length=MAX_CLASSES)] | None = None


class CardPrediction(BaseModel):
    model_config = OPEN
    configurations: Annotated[list[SafeName], Field(min_length=1, max_length=16)]


class CardConfiguration(BaseModel):
    model_config = OPEN
    spatial_dims: Annotated[int, Field(ge=2, le=3)] | None = None
    spacing: Annotated[list[Spacing], Field(max_length=3)] | None = None
    patch_size: Annotated[list[PatchAxis], Field(max_length=3)] | None = None
    previous_stage: SafeName | None = None
    folds: Annotated[list[SafeName], Field(max_length=MAX_FOLDS)] = []
    training: dict[SafeName, dict[str, Any]] = {}


class ModelCardFile(BaseModel):
    model_config = OPEN
    FIX: ClassVar[str] = "export the model again with 'autoseg export' (model.json is written by autoseg)"
    format: ShortText
    format_version: Annotated[int, Field(ge=0, le=10**6)]
    files: Annotated[dict[MemberName, FileEntry], Field(max_length=MAX_FILES)]
    dataset: CardDataset | None = None
    prediction: CardPrediction | None = None
    configurations: Annotated[dict[SafeName, CardConfiguration], Field(max_length=16)] = {}
