"""What an exported model may contain: these names and nothing else (checked before a zip is unpacked)."""
from __future__ import annotations

import re

MODEL_CARD = "model.json"
README = "README.md"
CHECKPOINT = "checkpoint_final.pt"
FORMAT = "autoseg-model"
FORMAT_VERSION = 1
TOP_LEVEL = (MODEL_CARD, README, "plans.json", "inference.json")
_NAME = r"[A-Za-z0-9][A-Za-z0-9_.\-]*"
SUMMARY = "training_summary.json"  # the fold's training record (precision, budget, scores); predict reads precision
_WEIGHTS = re.compile(rf"models/{_NAME}/fold_[A-Za-z0-9]+/({re.escape(CHECKPOINT)}|{re.escape(SUMMARY)})")


def is_model_file(name: str) -> bool:
    """A relative POSIX path an exported model may hold: the four top-level files, a fold's weights and its
    training record."""
    return name in TOP_LEVEL or _WEIGHTS.fullmatch(name) is not None


def weights_path(configuration: str, fold: str) -> str:
    return f"models/{configuration}/fold_{fold}/{CHECKPOINT}"
