"""Architectures by name: one file per architecture registers its builder with `@register("name")`.

A builder is `builder(spec: NetworkSpec) -> SegmentationNetwork`; its docstring's first line is the one-line
description `autoseg networks` shows, the rest documents its `spec.options` keys.
"""

from __future__ import annotations

from typing import Callable

from autoseg.errors import AutosegError

Builder = Callable[..., "object"]
_BUILDERS: dict[str, Builder] = {}


def register(name: str) -> Callable[[Builder], Builder]:
    def add(builder: Builder) -> Builder:
        if name in _BUILDERS and _BUILDERS[name] is not builder:
            raise ValueError(f"architecture '{name}' is registered twice")
        _BUILDERS[name] = builder
        return builder

    return add


def _load_architectures() -> None:
    """Import every architecture file (each registers itself); the package no longer does it on import."""
    import autoseg.networks.architectures  # noqa: F401


def registered_architectures() -> list[str]:
    _load_architectures()
    return sorted(_BUILDERS)


def get_builder(name: str) -> Builder:
    if name not in _BUILDERS:
        _load_architectures()
    if name not in _BUILDERS:
        raise AutosegError(
            f"unknown network architecture '{name}'",
            fix=f"set network.architecture to one of {registered_architectures()}",
        )
    return _BUILDERS[name]


def describe_builder(name: str) -> str:
    """The first line of the builder's docstring."""
    doc = (get_builder(name).__doc__ or "").strip()
    return doc.splitlines()[0].strip() if doc else ""
