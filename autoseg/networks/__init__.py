"""The U-Net family: build any registered architecture from a NetworkSpec, estimate its cost, describe them.

    from autoseg.networks import build_network, registered_architectures, reparameterize
    model = build_network(plan_network_spec, seed=0)

Architectures register themselves by name (autoseg/networks/architectures/, one file each); every one of them
is a `SegmentationNetwork` (see base.py for the size and output contract).
"""
from autoseg.networks import architectures  # noqa: F401  (registers every architecture)
from autoseg.networks.base import SegmentationNetwork, reparameterize
from autoseg.networks.factory import build_network
from autoseg.networks.registry import register, registered_architectures

__all__ = ["SegmentationNetwork", "build_network", "register", "registered_architectures", "reparameterize"]
