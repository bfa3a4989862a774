"""The onnxruntime backend: a model's networks as ONNX graphs (written by `autoseg export --onnx`), run with
onnxruntime and numpy only -- nothing here or on its import path imports torch.

Each graph takes one window shape (the plan's patch) and any batch size (N, C, *patch) -> (N, K, *patch) logits,
so the sliding window sends its windows and mirror variants together, as the torch backend does. The session uses
every core this process may run on for one convolution (intra-op threads) and no inter-op parallelism (a U-Net is
a chain of operators: parallel branches are few).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from autoseg.errors import AutosegError
from autoseg.inference.placement import compact_results
from autoseg.inference.window_merger import NumpyMerger
from autoseg.inference.window_splitter import WindowGrid, padded_source, read_window, run_passes
from autoseg.layout.work import ONNX_NETWORK  # models/<configuration>/fold_<k>/network.onnx

EXPORT_FIX = "export the model with ONNX networks: autoseg export WORK -o model.zip --onnx"


def cpu_threads() -> int:
    """The cores this process may use (a container's or taskset's limit, not the machine's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def onnxruntime_module():
    try:
        import onnxruntime
    except ImportError:
        raise AutosegError("onnxruntime is not installed", fix="pip install onnxruntime (or autoseg[onnx])") from None
    return onnxruntime


class OnnxNetwork:
    """One network: run(batch (N, C, *window) float32) -> logits (N, K, *window) float32."""

    def __init__(self, path: Path, threads: int | None = None):
        ort = onnxruntime_module()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or cpu_threads()
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # noqa: BLE001 -- onnxruntime raises its own types for a bad file
            raise AutosegError(
                f"onnxruntime cannot load this network ({str(error).splitlines()[0][:200]})", path, EXPORT_FIX
            ) from None
        self.input = self.session.get_inputs()[0]
        self.output_name = self.session.get_outputs()[0].name
        self.num_classes = int(self.session.get_outputs()[0].shape[1])

    def run(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run([self.output_name], {self.input.name: np.ascontiguousarray(batch, np.float32)})[0]


@dataclass
class OnnxModel:
    """A fold's network for the onnxruntime backend (the torch backend's LoadedModel, without the torch module)."""

    fold: str
    network: OnnxNetwork

    @property
    def num_classes(self) -> int:
        return self.network.num_classes


def load_onnx_model(
    folder: str | Path, configuration: str, fold: int | str, device: Any = None, checkpoint: str = ""
) -> OnnxModel:
    """The ONNX network of a fold of an exported model (`device` and `checkpoint` as load_model takes them: the
    export holds one network per fold, made from the checkpoint it was exported with)."""
    from autoseg.layout.work import model_dir  # not inference.models, which imports torch

    path = model_dir(folder, configuration, fold) / ONNX_NETWORK
    if not path.is_file():
        raise AutosegError(
            f"this model has no ONNX network for configuration '{configuration}' fold {fold}", path, EXPORT_FIX
        )
    return OnnxModel(str(fold), OnnxNetwork(path))


def check_backend_options(device: str, precision: str) -> None:
    """onnxruntime runs on this CPU in float32 here: other requests are refused, not silently changed."""
    if device not in ("auto", "cpu"):
        raise AutosegError(
            f"--backend onnxruntime runs on the CPU, not on device {device!r}",
            fix="pass --device cpu (or auto), or use --backend torch for a GPU",
        )
    if precision not in ("auto", "fp32"):
        raise AutosegError(
            f"--backend onnxruntime runs the exported float32 networks, not {precision}",
            fix="pass --precision fp32 (or auto), or use --backend torch for bf16/fp16",
        )


def onnx_window_logits(
    network: OnnxNetwork,
    image,
    patch_size: list[int],
    num_classes: int,
    spatial_dims: int,
    *,
    step: float = 0.5,
    mirror_axes: tuple[int, ...] = (),
    batch_size: int = 1,
    max_batch_voxels: int | None = None,
) -> np.ndarray:
    """Gaussian-weighted, mirror-averaged logits (K, Z, Y, X) of a preprocessed image (C, Z, Y, X): the torch
    sliding window's windows (window_splitter) and accumulation (window_merger), with onnxruntime between."""
    extra = {} if max_batch_voxels is None else {"max_batch_voxels": max_batch_voxels}
    grid = WindowGrid.of(
        image.shape[1:], patch_size, spatial_dims, step, mirror_axes=mirror_axes, batch_size=batch_size, **extra
    )
    merger = NumpyMerger(grid, num_classes, compact_results(num_classes, grid.padded))
    source = padded_source(image, grid)

    def forward(batch: np.ndarray) -> np.ndarray:
        if spatial_dims == 2:  # a 2D network sees (N, C, Y, X): the window's Z axis is 1
            return network.run(batch[:, :, 0])[:, :, None]
        return network.run(batch)

    def unflip(x: np.ndarray, flip: tuple[int, ...]) -> np.ndarray:
        dims = grid.mirror_dims(flip)
        return np.flip(x, tuple(dims)) if dims else x

    run_passes(grid, lambda corner: read_window(source, grid, corner), np.concatenate, forward, unflip, merger.add)
    return merger.result()[(slice(None), *[slice(0, s) for s in grid.shape])]
