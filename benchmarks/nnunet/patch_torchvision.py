"""Let the CUDA build of torchvision that pip installs beside CPU torch 2.13.0 be imported (this venv only).

Its torchvision/_meta_registrations.py registers fake kernels for the operators torchvision::nms and ::qnms at
import time; the CUDA build's compiled operators do not load beside CPU torch, so the registration raises
"operator torchvision::nms does not exist" and every import of torchvision fails (timm imports it, nnU-Net imports
timm through its Primus trainers, and it imports every trainer module to find one by name). nnU-Net never calls
those operators: registering them only when torchvision's compiled operators loaded is enough. Idempotent.

    VENV/bin/python benchmarks/nnunet/patch_torchvision.py
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

MARKER = "# patched for autoseg benchmarks: skip fake kernels of operators that did not load"
HELPER = f"""
{MARKER}
def _register_fake_if_loaded(name):
    def wrapper(fn):
        if torchvision.extension._has_ops():
            return torch.library.register_fake(name)(fn)
        return fn
    return wrapper
"""


def main() -> int:
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        print("torchvision is not installed in this interpreter's environment", file=sys.stderr)
        return 1
    path = Path(list(spec.submodule_search_locations)[0]) / "_meta_registrations.py"
    text = path.read_text()
    if MARKER in text:
        print(f"already patched: {path}")
        return 0
    if '@torch.library.register_fake("torchvision::nms")' not in text:
        print(f"unexpected torchvision version: no fake nms registration in {path}", file=sys.stderr)
        return 1
    anchor = '@register_meta("roi_align")'
    text = text.replace(anchor, HELPER.strip() + "\n\n\n" + anchor, 1)
    for op in ("nms", "qnms"):
        text = text.replace(
            f'@torch.library.register_fake("torchvision::{op}")', f'@_register_fake_if_loaded("torchvision::{op}")'
        )
    path.write_text(text)
    print(f"patched {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
