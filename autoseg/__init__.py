"""autoseg: self-configuring segmentation for medical and biomedical images.

The Python API mirrors the command line, one function per verb:

    import autoseg
    autoseg.plan("Task04_Hippocampus", "work")
    autoseg.train("work", "3d_fullres", fold=0, time_budget="15m")
    autoseg.predict("work", "new_images/", "segmentations/")
    autoseg.evaluate("segmentations/", "references/")
    autoseg.export_model("work", "model.zip")
    labels = autoseg.Predictor.load("model.zip").predict(sitk_image)

Functions are imported on first use, so `import autoseg` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_API = {
    "verify": ("autoseg.data.verify", "verify_dataset"),
    "plan": ("autoseg.plan_command", "plan"),
    "preprocess": ("autoseg.preprocessing.run", "preprocess"),
    "train": ("autoseg.training.loop", "train"),
    "predict": ("autoseg.inference.run", "predict"),
    "find_best": ("autoseg.inference.find_best", "find_best"),
    "evaluate": ("autoseg.evaluation.command", "evaluate"),
    "evaluate_folders": ("autoseg.evaluation.summary", "evaluate_folders"),
    "search": ("autoseg.search.run", "search"),
    "benchmark": ("autoseg.benchmark.run", "benchmark"),
    "demo": ("autoseg.demo", "demo"),
    "build_network": ("autoseg.networks", "build_network"),
    "Predictor": ("autoseg.inference.array_predictor", "Predictor"),
    "export_model": ("autoseg.sharing.export", "export_model"),
    "import_model": ("autoseg.sharing.importing", "import_model"),
    "convert_dicom": ("autoseg.data.dicom.convert", "convert_dicom"),
    "AutosegError": ("autoseg.errors", "AutosegError"),
}

__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    if name in _API:
        module, attribute = _API[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module 'autoseg' has no attribute '{name}'")
