"""One line instead of a traceback when a verb needs a package this environment lacks. An inference-only install
(autoseg --no-deps with onnxruntime, benchmarks/deploy/) has no PyTorch and none of the training stack; the
optional features name their own extras where they are used (--ray, --mlflow, DICOM, ONNX)."""

from __future__ import annotations

TORCH_FIX = (
    "install the PyTorch build for your hardware first (README, 'Install'), then autoseg's dependencies; "
    "to predict without PyTorch, use a model exported with --onnx and --backend onnxruntime"
)
# What `pip install autoseg` brings, by import name: missing, the environment was installed without them.
DEPENDENCIES = {
    "torch": "PyTorch",
    "numpy": "numpy",
    "scipy": "scipy",
    "skimage": "scikit-image",
    "SimpleITK": "SimpleITK",
    "batchgenerators": "batchgenerators",
    "optuna": "optuna",
    "matplotlib": "matplotlib",
    "tqdm": "tqdm",
    "psutil": "psutil",
    "PIL": "pillow",
    "pydantic": "pydantic",
}


def missing_dependency_message(error: ImportError) -> str | None:
    """'... needs PyTorch, which is not installed. Fix: ...' for a dependency of autoseg; None for any other
    module (a bug, or an optional package whose own message says which extra to install)."""
    top = (error.name or "").split(".")[0]
    if top not in DEPENDENCIES:
        return None
    package = DEPENDENCIES[top]
    fix = TORCH_FIX if top == "torch" else f"pip install {package} (or install autoseg with its dependencies)"
    return f"this needs {package}, which is not installed here (No module named '{error.name}'). Fix: {fix}"
