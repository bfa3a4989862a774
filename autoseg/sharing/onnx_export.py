"""`autoseg export --onnx`: each network of an exported model also as an ONNX graph, so the model predicts with
onnxruntime and no PyTorch (`predict --backend onnxruntime`, inference/backends/onnx_backend.py).

One graph per fold, models/<configuration>/fold_<k>/network.onnx, made with torch.onnx from the fold's exported
weights: float32, the window fixed to the plan's patch (the only shape the sliding window gives it) and the batch
axis dynamic (windows and mirror variants go through together, as many as predict's max_batch_voxels allows).
Every graph is checked against the torch network on a random batch before the export is written: the largest
absolute difference of the logits is kept in model.json ("onnx"), next to the graph's sha256 ("files").
"""

from __future__ import annotations

import io
import math
import warnings
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from autoseg.errors import AutosegError
from autoseg.inference.backends.onnx_backend import OnnxNetwork
from autoseg.inference.models import network_from_state
from autoseg.layout.work import ONNX_NETWORK
from autoseg.schema.plans import Plans
from autoseg.utils.files import atomic_write
from autoseg.utils.logs import get_logger
from autoseg.utils.torch_files import safe_torch_load

log = get_logger("export")
OPSET = 17
CHECK_BATCH = 3  # differs from the traced batch (2), so the check also proves the batch axis is dynamic
TOLERANCE = 1e-3  # largest |onnx - torch| logit difference accepted, relative to the largest |logit| (>= 1)


def export_onnx_networks(
    folder: Path, plans: Plans, chosen: dict[str, list[str]], weights_path: Callable[[str, str], str]
) -> dict[str, dict[str, Any]]:
    """Write network.onnx next to every exported fold's weights in `folder` (`weights_path`(configuration, fold):
    the export's relative path of a fold's weights); {relative path of the graph: its record}."""
    records = {}
    for name, folds in chosen.items():
        config = plans.configuration(name)
        for fold in folds:
            weights = folder / weights_path(name, fold)
            model = network_from_state(safe_torch_load(weights), str(fold), torch.device("cpu"), weights)
            shape = (model.spec.in_channels, *config.patch_size)
            target = weights.parent / ONNX_NETWORK
            atomic_write(target, lambda tmp, m=model.network, s=shape: _export(m, s, tmp), suffix=".onnx")
            difference = check_against_torch(model.network, target, shape)
            records[target.relative_to(folder).as_posix()] = {
                "input": ["batch", *shape],
                "output": ["batch", model.spec.num_classes, *config.patch_size],
                "dtype": "float32",
                "opset": OPSET,
                "max_abs_diff": difference,
                "torch": torch.__version__,
            }
            log.info("%s fold %s: ONNX graph written, max |onnx - torch| %.2e", name, fold, difference)
    return records


def _export(network: torch.nn.Module, shape: tuple[int, ...], path) -> None:
    """The TorchScript-based exporter: the dynamo one needs onnxscript, which autoseg[onnx] does not install."""
    example = torch.randn(2, *shape)
    with warnings.catch_warnings(), redirect_stdout(io.StringIO()), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer and deprecation warnings: the check below is what counts
        torch.onnx.export(
            network,
            (example,),
            str(path),
            dynamo=False,
            opset_version=OPSET,
            input_names=["image"],
            output_names=["logits"],
            dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
        )


def check_against_torch(network: torch.nn.Module, path: Path, shape: tuple[int, ...], seed: int = 0) -> float:
    """The largest absolute logit difference between the ONNX graph (onnxruntime) and the torch network on a
    random batch; an export that differs by more than TOLERANCE is refused."""
    batch = torch.randn(CHECK_BATCH, *shape, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        expected = network(batch).numpy()
    got = OnnxNetwork(path).run(batch.numpy())
    if got.shape != expected.shape:
        raise AutosegError(
            f"the ONNX graph gives logits of shape {got.shape}, torch {expected.shape}",
            path,
            "export without --onnx (this network does not export to ONNX correctly)",
        )
    difference = float(np.abs(got - expected).max())
    if not math.isfinite(difference) or difference > TOLERANCE * max(1.0, float(np.abs(expected).max())):
        raise AutosegError(
            f"the ONNX graph's logits differ from torch's by {difference:.3g}",
            path,
            "export without --onnx (this network does not export to ONNX correctly)",
        )
    return difference
