"""The U-Net family: build any registered architecture from a NetworkSpec, estimate its cost, describe them.

    from autoseg.networks import build_network, registered_architectures, reparameterize
    model = build_network(plan_network_spec, seed=0)

Architectures register themselves by name (autoseg/networks/architectures/, one file each); every one of them
is a `SegmentationNetwork` (see base.py for the size and output contract).

The names below are imported on first use, so the torch-free modules of this package (memory_limit.py,
spec_checks.py) can be imported where torch is not installed (predict --backend onnxruntime); the registry loads
the architectures the first time one is looked up.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "SegmentationNetwork": "autoseg.networks.base",
    "reparameterize": "autoseg.networks.base",
    "build_network": "autoseg.networks.factory",
    "register": "autoseg.networks.registry",
    "registered_architectures": "autoseg.networks.registry",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'autoseg.networks' has no attribute {name!r}")
    importlib.import_module("autoseg.networks.architectures")  # registers every architecture
    return getattr(importlib.import_module(_EXPORTS[name]), name)
