"""A verb that needs a package the environment lacks (an inference-only install has no PyTorch) says so in one
line with the fix, instead of a traceback; ONNX prediction itself never imports torch (test_onnx_backend.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from autoseg.utils.missing_module import missing_dependency_message

ROOT = Path(__file__).resolve().parents[1]
# ModuleNotFoundError with its name, as Python raises for a package that is not installed
NO_TORCH = """
import sys
class _NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, _NotInstalled())
"""


def test_a_verb_that_needs_torch_says_so_in_one_line(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    code = NO_TORCH + f"from autoseg.cli import main\nsys.exit(main(['train', {str(work)!r}, '-c', '2d']))\n"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert lines[0].startswith("autoseg train: error: this needs PyTorch") and "--backend onnxruntime" in lines[0]


def test_only_autoseg_dependencies_are_turned_into_a_message():
    missing = ModuleNotFoundError("No module named 'skimage.measure'", name="skimage.measure")
    assert "pip install scikit-image" in missing_dependency_message(missing)
    assert missing_dependency_message(ModuleNotFoundError("x", name="autoseg.nothing")) is None  # a bug: raised
    assert missing_dependency_message(ImportError("cannot import name 'x'")) is None
