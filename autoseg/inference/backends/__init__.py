"""Where the networks of a prediction run: "torch" (the trained torch modules, autoseg's default) or
"onnxruntime" (the ONNX graphs `autoseg export --onnx` writes, predicted without PyTorch installed).

Everything around the network -- preprocessing, the windows (window_splitter.py), their accumulation
(window_merger.py), mirror TTA, ensembles, the cascade, postprocessing, export -- is the same code for both.
"""

from __future__ import annotations

BACKENDS = ("torch", "onnxruntime")


def check_backend(backend: str) -> str:
    """`backend` when autoseg has it (before anything is read or loaded), else one line with the choices."""
    if backend not in BACKENDS:
        from autoseg.errors import AutosegError

        raise AutosegError(f"unknown backend {backend!r}", fix=f"use one of {', '.join(BACKENDS)}")
    return backend
