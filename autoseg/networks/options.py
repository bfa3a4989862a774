"""Reading an architecture's `spec.options` against its documented keys (typos become clear errors)."""

from __future__ import annotations

from typing import Any

from autoseg.errors import AutosegError


def read_options(spec, defaults: dict[str, Any]) -> dict[str, Any]:
    """`defaults` updated with spec.options; unknown keys raise AutosegError listing the allowed ones."""
    unknown = sorted(set(spec.options) - set(defaults))
    if unknown:
        raise AutosegError(
            f"network.options {unknown} are not used by architecture '{spec.architecture}'",
            fix=f"remove them; its options are {sorted(defaults) or 'none'}",
        )
    return {**defaults, **spec.options}
