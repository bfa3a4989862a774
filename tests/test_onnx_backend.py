"""Models without PyTorch (issue 31): `export --onnx`, then `predict --backend onnxruntime` and
Predictor.load(backend="onnxruntime") in a process where torch cannot be imported, giving the torch backend's labels.

"Without torch" is a subprocess whose first statement makes `import torch` (and every torch.* submodule) raise
ImportError (BLOCKER below), which is what a machine without torch sees; a fresh venv is not needed (a venv with
--system-site-packages would still see torch, and one without would need autoseg's dependencies from PyPI). The
install size of a real inference-only environment is measured by benchmarks/deploy/run.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from autoseg.cli import main
from autoseg.errors import AutosegError
from autoseg.inference.backends.onnx_backend import OnnxNetwork, check_backend_options, onnx_window_logits
from autoseg.inference.sliding_window import sliding_window_logits
from autoseg.layout.model_folder import check_model_folder
from autoseg.sharing.onnx_export import _export, check_against_torch
from tests.sharing_fixtures import make_trained_work

ROOT = Path(__file__).resolve().parents[1]
BLOCKER = """
import sys
class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError(f"{name} is blocked: this process plays a machine without PyTorch")
sys.meta_path.insert(0, _NoTorch())
for _name in [m for m in sys.modules if m == "torch" or m.startswith("torch.")]:
    del sys.modules[_name]
"""


def run_without_torch(code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    script = tmp_path / "no_torch.py"
    script.write_text(BLOCKER + code + "\nassert 'torch' not in sys.modules, 'torch was imported'\n")
    return subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(dataset, model.zip with ONNX networks, model folder without, torch backend's fp32 predictions)."""
    root = tmp_path_factory.mktemp("onnx")
    dataset, work = make_trained_work(root, name="Onnx", seed=5)
    assert main(["export", str(work), "-o", str(root / "model.zip"), "--onnx"]) == 0
    assert main(["export", str(work), "-o", str(root / "plain")]) == 0
    out = root / "torch_out"
    assert (
        main(
            [
                "predict",
                "--model",
                str(root / "model.zip"),
                "-i",
                str(dataset / "imagesTs"),
                "-o",
                str(out),
                "--precision",
                "fp32",
                "--compile",
                "off",
            ]
        )
        == 0
    )
    return dataset, root / "model.zip", root / "plain", out


def _labels(path: Path) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


@pytest.mark.slow  # trains a tiny model once (module fixture, ~50 s on 2 busy cores)
def test_export_lists_each_onnx_graph_with_its_sha256_and_torch_difference(exported, tmp_path):
    _, model, _, _ = exported
    import zipfile

    with zipfile.ZipFile(model) as archive:
        card = json.loads(archive.read("model.json"))
        archive.extractall(tmp_path / "m")
    graphs = sorted(name for name in card["files"] if name.endswith("network.onnx"))
    assert graphs == ["models/3d_fullres/fold_0/network.onnx", "models/3d_fullres/fold_1/network.onnx"]
    for name in graphs:
        assert len(card["files"][name]["sha256"]) == 64
        assert card["onnx"][name]["max_abs_diff"] < 1e-3 and card["onnx"][name]["input"][0] == "batch"
    check_model_folder(tmp_path / "m")
    (tmp_path / "m" / graphs[0]).write_bytes(b"not the exported graph")
    with pytest.raises(AutosegError, match="differs from what model.json records"):
        check_model_folder(tmp_path / "m")


@pytest.mark.slow  # trains a tiny model once (module fixture, ~50 s on 2 busy cores)
def test_onnxruntime_predicts_without_torch_the_labels_of_the_torch_backend(exported, tmp_path):
    dataset, model, _, torch_out = exported
    out = tmp_path / "onnx_out"
    image = sorted((dataset / "imagesTs").glob("*_0000.nii.gz"))[0]
    result = run_without_torch(
        f"""
from autoseg.cli import main
assert main(["predict", "--model", {str(model)!r}, "-i", {str(dataset / "imagesTs")!r}, "-o", {str(out)!r},
             "--backend", "onnxruntime"]) == 0
import numpy as np, SimpleITK as sitk
from autoseg.inference.array_predictor import Predictor
predictor = Predictor.load({str(model)!r}, backend="onnxruntime")
labels = predictor.predict(sitk.ReadImage({str(image)!r}))
np.save({str(tmp_path / "api.npy")!r}, sitk.GetArrayFromImage(labels))
""",
        tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    cases = sorted(p.name for p in torch_out.glob("*.nii.gz"))
    assert cases and cases == sorted(p.name for p in out.glob("*.nii.gz"))
    for name in cases:
        expected, got = _labels(torch_out / name), _labels(out / name)
        assert expected.shape == got.shape
        # fp32 on both sides: equal labels; tolerate a voxel at an exact tie of two classes
        assert (expected != got).sum() <= max(1, expected.size // 10000), name
    first = cases[0]
    assert (np.load(tmp_path / "api.npy") == _labels(out / first)).all()
    report = json.loads((out / "prediction_report.json").read_text())
    assert {c["settings"]["backend"] for c in report["cases"].values()} == {"onnxruntime"}


@pytest.mark.slow  # trains a tiny model once (module fixture, ~50 s on 2 busy cores)
def test_a_model_exported_without_onnx_is_refused_with_the_fix(exported, tmp_path, capsys):
    dataset, _, plain, _ = exported
    code = main(
        [
            "predict",
            "--model",
            str(plain),
            "-i",
            str(dataset / "imagesTs"),
            "-o",
            str(tmp_path / "o"),
            "--backend",
            "onnxruntime",
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "no ONNX network" in err and "--onnx" in err


def test_onnxruntime_backend_refuses_a_gpu_or_reduced_precision():
    check_backend_options("auto", "auto")
    with pytest.raises(AutosegError, match="CPU"):
        check_backend_options("cuda", "auto")
    with pytest.raises(AutosegError, match="float32"):
        check_backend_options("cpu", "bf16")


def _network(spatial_dims: int, channels: int = 2, classes: int = 3) -> torch.nn.Module:
    torch.manual_seed(0)
    conv = torch.nn.Conv3d if spatial_dims == 3 else torch.nn.Conv2d
    norm = torch.nn.InstanceNorm3d if spatial_dims == 3 else torch.nn.InstanceNorm2d
    return torch.nn.Sequential(
        conv(channels, 4, 3, padding=1), norm(4, affine=True), torch.nn.LeakyReLU(), conv(4, classes, 3, padding=1)
    ).eval()


@pytest.mark.parametrize(
    "spatial_dims,shape,patch,axes",
    [
        (3, (9, 14, 11), [4, 6, 8], (0, 1, 2)),
        (3, (3, 5, 20), [4, 6, 8], (1, 2)),  # smaller than the window: padding
        (2, (3, 17, 13), [8, 6], (0, 1)),
    ],
)
@pytest.mark.parametrize("max_batch_voxels", [1, 10**6])
def test_the_numpy_sliding_window_equals_the_torch_one(spatial_dims, shape, patch, axes, max_batch_voxels, tmp_path):
    network = _network(spatial_dims)
    path = tmp_path / "net.onnx"
    _export(network, (2, *patch), path)
    image = np.random.default_rng(1).normal(size=(2, *shape)).astype(np.float32)
    expected = sliding_window_logits(
        network,
        image,
        patch,
        3,
        spatial_dims,
        step=0.5,
        mirror_axes=axes,
        batch_size=1,
        max_batch_voxels=max_batch_voxels,
    ).numpy()
    got = onnx_window_logits(
        OnnxNetwork(path, threads=1),
        image,
        patch,
        3,
        spatial_dims,
        step=0.5,
        mirror_axes=axes,
        max_batch_voxels=max_batch_voxels,
    )
    assert got.dtype == np.float32 and got.shape == expected.shape == (3, *shape)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_an_onnx_graph_that_differs_from_its_network_is_refused(tmp_path):
    path = tmp_path / "net.onnx"
    _export(_network(3), (2, 4, 6, 8), path)
    assert check_against_torch(_network(3), path, (2, 4, 6, 8)) < 1e-4
    other = _network(3)
    with torch.no_grad():
        other[3].bias.add_(1.0)  # the last convolution: the instance norm would undo a change before it
    with pytest.raises(AutosegError, match="differ from torch"):
        check_against_torch(other, path, (2, 4, 6, 8))


def test_a_cascade_input_slides_like_the_joined_array(tmp_path):
    """A cascade stage's input (image + previous stage's masks, channel_stack.py) needs no torch either."""
    from autoseg.inference.channel_stack import ChannelStack

    path = tmp_path / "net.onnx"
    _export(_network(3), (2, 4, 6, 8), path)
    rng = np.random.default_rng(3)
    image = rng.normal(size=(1, 9, 14, 11)).astype(np.float32)
    masks = (rng.random((1, 9, 14, 11)) > 0.5).astype(np.uint8)
    network = OnnxNetwork(path, threads=1)
    joined = onnx_window_logits(network, np.concatenate([image, masks.astype(np.float32)]), [4, 6, 8], 3, 3)
    stacked = onnx_window_logits(network, ChannelStack(image, masks), [4, 6, 8], 3, 3)
    np.testing.assert_array_equal(joined, stacked)


@pytest.mark.parametrize("regions", [False, True])
def test_numpy_activation_matches_torch(regions):
    """Softmax over classes, or a sigmoid per region (the label manager's activation), computed without torch."""
    from autoseg.labels import LabelManager

    labels = LabelManager(
        {"background": 0, "a": 1, "b": 2, "c": 3},
        region_sets={"a": [1], "b": [2], "c": [3], "d": [1, 2]} if regions else None,
    )
    logits = np.random.default_rng(4).normal(scale=20, size=(4, 3, 5, 6)).astype(np.float32)
    expected = labels.probabilities(torch.from_numpy(logits))
    np.testing.assert_allclose(labels.probabilities(logits), expected, rtol=1e-5, atol=1e-6)


def test_float16_accumulators_agree_with_the_torch_backends(tmp_path, monkeypatch):
    """A large volume accumulates in float16 (placement.py); numpy does it as torch does."""
    import autoseg.inference.backends.onnx_backend as onnx_backend

    monkeypatch.setattr(onnx_backend, "compact_results", lambda channels, shape: True)
    network = _network(3)
    path = tmp_path / "net.onnx"
    _export(network, (2, 12, 16, 16), path)
    image = np.random.default_rng(2).normal(size=(2, 20, 40, 44)).astype(np.float32)
    expected = (
        sliding_window_logits(network, image, [12, 16, 16], 3, 3, step=0.5, mirror_axes=(0, 1, 2), dtype=torch.float16)
        .float()
        .numpy()
    )
    got = onnx_window_logits(OnnxNetwork(path, threads=1), image, [12, 16, 16], 3, 3, step=0.5, mirror_axes=(0, 1, 2))
    assert got.dtype == np.float16 and np.isfinite(got).all()
    difference = np.abs(got.astype(np.float32) - expected)
    assert difference.max() < 2e-2 and (got.argmax(0) == expected.argmax(0)).mean() > 0.999
