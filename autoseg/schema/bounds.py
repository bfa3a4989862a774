"""Sane upper bounds for numbers in files from outside: far above anything a real plan, dataset or model holds,
far below what would exhaust a machine (a patch axis of 10^6, a stage of 10^9 channels). Memory itself is
checked against the machine when a network is built (autoseg/inference/network_budget.py)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from autoseg.utils.safe_names import is_safe_case_id, is_safe_name

MAX_PATCH_AXIS = 8192  # voxels along one axis of a training patch (nnU-Net 2D patches reach ~2048)
MAX_SHAPE_AXIS = 1_000_000  # voxels along one axis of an image
MAX_SPACING = 1e6  # mm per voxel
MAX_FEATURES = 16384  # channels of one network stage (nnU-Net caps at 320-512)
MAX_STAGES = 16
MAX_KERNEL = 15
MAX_STRIDE = 16
MAX_CHANNELS = 1024  # image channels (modalities)
MAX_CLASSES = 4096  # labels, regions, network outputs
MAX_LABEL_VALUE = 2**31 - 1
MAX_BATCH = 4096
MAX_ITERATIONS = 10**9
MAX_FOLDS = 1000
MAX_CASES = 10**7

PositiveInt = Annotated[int, Field(ge=1)]
PatchAxis = Annotated[int, Field(ge=1, le=MAX_PATCH_AXIS)]
ShapeAxis = Annotated[int, Field(ge=1, le=MAX_SHAPE_AXIS)]
Spacing = Annotated[float, Field(gt=0, le=MAX_SPACING, allow_inf_nan=False)]
# Only the upper bound: a width below 1 is networks.factory.validate_spec's to refuse when the network is built,
# so a schedule can try such a configuration and stop it as failed while the plan's other configurations train.
Width = Annotated[int, Field(le=MAX_FEATURES)]
Channels = Annotated[int, Field(ge=1, le=MAX_CHANNELS)]
ClassCount = Annotated[int, Field(ge=1, le=MAX_CLASSES)]
LabelValue = Annotated[int, Field(ge=0, le=MAX_LABEL_VALUE)]
Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Iterations = Annotated[int, Field(ge=0, le=MAX_ITERATIONS)]


def _plain_name(name: str) -> str:
    if not is_safe_name(name):
        raise ValueError(
            "is not a plain name (letters, digits, '.', '_', '-'; no '..', no '/', at most 128 "
            "characters): names from files are never used as paths"
        )
    return name


SafeName = Annotated[str, AfterValidator(_plain_name)]


def _case_id(name: str) -> str:
    if not is_safe_case_id(name):
        raise ValueError(
            "is not a plain name for a case (empty, hidden, longer than 200 characters, or holding '/', "
            "'\\' or a control character): names from files are never used as paths"
        )
    return name


# Case ids also come from file names, where spaces and non-ASCII letters are common and harmless: one path
# component is all they must be (utils/safe_names.py is_safe_case_id).
CaseId = Annotated[str, AfterValidator(_case_id)]
FileEnding = Annotated[str, StringConstraints(pattern=r"^\.[A-Za-z0-9._-]{1,31}$")]
ShortText = Annotated[str, StringConstraints(max_length=4096)]
