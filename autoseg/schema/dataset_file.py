"""The declared schema of a raw dataset's dataset.json, nnU-Net v2 and MSD layouts in one model (which keys a
layout needs, label numbering and regions are data/dataset_json.py's checks, which come first and list every
problem for `verify`). Checked here: the types and bounds of the fields autoseg reads, and that the case ids of
nnU-Net v2's "dataset" key are plain names (they name cache and prediction files). Other keys (description,
licence, tensorImageSize ...) are allowed and never read."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from autoseg.schema.bounds import MAX_CASES, MAX_CHANNELS, MAX_CLASSES, CaseId, FileEnding, LabelValue, ShortText

ChannelIndex = Annotated[str, Field(pattern=r"^[0-9]{1,4}$")]
Channels = Annotated[dict[ChannelIndex, ShortText], Field(min_length=1, max_length=MAX_CHANNELS)]
LabelEntry = LabelValue | ShortText | Annotated[list[LabelValue], Field(min_length=1, max_length=MAX_CLASSES)]
FilePath = Annotated[str, Field(min_length=1, max_length=4096)]


class TrainingEntry(BaseModel):
    """MSD: one case's image and label, relative to the dataset folder."""

    model_config = ConfigDict(strict=True, extra="allow")
    image: FilePath
    label: FilePath


class ExplicitCase(BaseModel):
    """nnU-Net v2 "dataset": one case's channel files and label (anywhere, read only)."""

    model_config = ConfigDict(strict=True, extra="allow")
    images: Annotated[list[FilePath], Field(min_length=1, max_length=MAX_CHANNELS)]
    label: FilePath | None = None


class DatasetJsonFile(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")
    name: ShortText | None = None
    channel_names: Channels | None = None
    modality: Channels | None = None
    labels: Annotated[dict[ShortText, LabelEntry], Field(min_length=1, max_length=MAX_CLASSES + 1)]
    regions_class_order: Annotated[list[LabelValue], Field(max_length=MAX_CLASSES)] | None = None
    numTraining: Annotated[int, Field(ge=0, le=MAX_CASES)] | None = None
    file_ending: FileEnding | None = None
    training: Annotated[list[TrainingEntry], Field(max_length=MAX_CASES)] | None = None
    test: Annotated[list[Any], Field(max_length=MAX_CASES)] | None = None
    dataset: Annotated[dict[CaseId, ExplicitCase], Field(max_length=MAX_CASES)] | None = None
