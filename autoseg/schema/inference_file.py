"""The declared schema of WORK/inference.json (written by find-best, or by export with the chosen folds): what
`predict` runs. The configuration and fold names become paths (models/<configuration>/fold_<fold>), so they
must be plain names. find-best's report fields (cv_dice, choice, ...) are allowed and not read by predict."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from autoseg.schema.bounds import MAX_CLASSES, MAX_FOLDS, LabelValue, SafeName

Fold = SafeName | Annotated[int, Field(ge=0, le=MAX_FOLDS)]


class PostprocessingRules(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    largest_component_foreground: bool = False
    largest_component_classes: Annotated[list[LabelValue], Field(max_length=MAX_CLASSES)] = []


class InferenceFile(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")
    FIX: ClassVar[str] = "run 'autoseg find-best WORK' again (or export the model again)"
    configurations: Annotated[list[SafeName], Field(min_length=1, max_length=16)]
    postprocessing: PostprocessingRules | None = None
    folds: Annotated[list[Fold], Field(max_length=MAX_FOLDS)] | None = None
    exported_folds: (
        Annotated[dict[SafeName, Annotated[list[SafeName], Field(max_length=MAX_FOLDS)]], Field(max_length=16)] | None
    ) = None
