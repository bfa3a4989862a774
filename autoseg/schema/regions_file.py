"""The declared schema of a regions file (`plan --regions FILE`, `evaluate --regions FILE`):
{"labels": {region name: [label values] (or 0 for background)}, "regions_class_order": [label values]}.
Whether the regions fit the dataset's labels is labels/region_sets.py's region_problems."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from autoseg.schema.bounds import MAX_CLASSES, LabelValue, ShortText

Region = LabelValue | Annotated[list[LabelValue], Field(max_length=MAX_CLASSES)]


class RegionsFile(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")
    FIX: ClassVar[str] = (
        'write it like {"labels": {"whole_tumour": [1, 2, 3], "core": [2, 3]}, "regions_class_order": [1, 2]}'
    )
    labels: Annotated[dict[ShortText, Region], Field(max_length=MAX_CLASSES)]
    regions_class_order: Annotated[list[LabelValue], Field(max_length=MAX_CLASSES)] | None = None
