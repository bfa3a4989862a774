"""Every path of a WORK folder and of an exported model, by name; no other module spells these file names.

WORK/
    dataset.json (in the dataset folder), fingerprint.json, plans.json, splits.json, measurements.json,
    plan.log, preprocessed/<data_identifier>/, inference.json (find-best's choice), schedule.json,
    models/<configuration>/fold_<k>/{checkpoint_final.pt, checkpoint_latest.pt, checkpoint_best.pt,
                                     training_summary.json, train.log, validation/}
An exported model has the same layout (plans.json, inference.json, models/<configuration>/fold_<k>/
{checkpoint_final.pt, training_summary.json}) plus model.json and README.md, and nothing else (is_model_file).
Configuration and fold names come from files (plans.json, inference.json), so they are checked before they
become folders (utils/safe_names.py).
"""

from __future__ import annotations

import re
from pathlib import Path

from autoseg.utils.safe_names import child_path

DATASET_JSON = "dataset.json"
FINGERPRINT = "fingerprint.json"
PLANS = "plans.json"
SPLITS = "splits.json"
MEASUREMENTS = "measurements.json"
PLAN_LOG = "plan.log"
PREPROCESSED = "preprocessed"
INFERENCE = "inference.json"
SCHEDULE = "schedule.json"
MODELS = "models"
CHECKPOINT_FINAL = "checkpoint_final.pt"
CHECKPOINT_LATEST = "checkpoint_latest.pt"
CHECKPOINT_BEST = "checkpoint_best.pt"
TRAINING_SUMMARY = "training_summary.json"
TRAIN_LOG = "train.log"
VALIDATION = "validation"
PREDICTION_REPORT = "prediction_report.json"

# An exported model: a WORK layout plus its card.
MODEL_CARD = "model.json"
README = "README.md"
MODEL_FORMAT = "autoseg-model"
MODEL_FORMAT_VERSION = 1
MODEL_TOP_LEVEL = (MODEL_CARD, README, PLANS, INFERENCE)
_NAME = r"[A-Za-z0-9][A-Za-z0-9_.\-]*"
ONNX_NETWORK = "network.onnx"  # a fold's network as ONNX (export --onnx; inference/backends/onnx_backend.py)
_FOLD_FILE = re.compile(
    rf"{MODELS}/{_NAME}/fold_[A-Za-z0-9]+/({re.escape(CHECKPOINT_FINAL)}|"
    rf"{re.escape(TRAINING_SUMMARY)}|{re.escape(ONNX_NETWORK)})"
)


def configuration_dir(work: str | Path, configuration: str) -> Path:
    """WORK/models/<configuration>, the name checked: it may come from a shipped plans.json or inference.json."""
    return child_path(Path(work) / MODELS, configuration, "configuration name", Path(work) / PLANS)


def model_dir(work: str | Path, configuration: str, fold: int | str) -> Path:
    """WORK/models/<configuration>/fold_<fold>, both names checked."""
    return child_path(configuration_dir(work, configuration), f"fold_{fold}", "fold", Path(work) / PLANS)


def trained_folds(work: str | Path, configuration: str, checkpoint: str = CHECKPOINT_FINAL) -> list[str]:
    """The folds of a configuration that hold `checkpoint`, sorted by name."""
    root = Path(work) / MODELS / configuration
    if not root.is_dir():
        return []
    return sorted(p.name.removeprefix("fold_") for p in root.glob("fold_*") if (p / checkpoint).is_file())


def fold_file(configuration: str, fold: int | str, name: str) -> str:
    """models/<configuration>/fold_<fold>/<name> as a relative POSIX path (a zip member, a model.json key)."""
    return f"{MODELS}/{configuration}/fold_{fold}/{name}"


def weights_path(configuration: str, fold: int | str) -> str:
    return fold_file(configuration, fold, CHECKPOINT_FINAL)


def is_model_file(name: str) -> bool:
    """A relative POSIX path an exported model may hold: the four top-level files, a fold's weights and its
    training record."""
    return name in MODEL_TOP_LEVEL or _FOLD_FILE.fullmatch(name) is not None
