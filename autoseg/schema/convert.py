"""Plain dict <-> dataclass conversion with messages that name the file and the field."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, TypeVar

from autoseg.errors import AutosegError

T = TypeVar("T")


def from_dict(cls: type[T], data: Any, where: str, source: str | None = None) -> T:
    """Build dataclass `cls` from `data`; nested dataclass fields are converted recursively.

    `where` is a dotted location used in errors (e.g. "configurations.3d_fullres.network").
    """
    if not isinstance(data, dict):
        raise AutosegError(
            f"'{where}' must be a JSON object, got {type(data).__name__}",
            source,
            "compare it with the schema in the README (section 'Artifacts')",
        )
    hints = typing.get_type_hints(cls)
    names = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]  # cls is a dataclass
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise AutosegError(
            f"unknown field(s) {unknown} in '{where}'",
            source,
            f"remove them or fix their spelling; allowed fields: {sorted(names)}",
        )
    kwargs = {}
    for name, field in names.items():
        if name not in data:
            if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                raise AutosegError(f"missing field '{where}.{name}'", source, "add it (see the README's schema)")
            continue
        kwargs[name] = _convert(hints[name], data[name], f"{where}.{name}", source)
    return cls(**kwargs)


def _convert(tp: Any, value: Any, where: str, source: str | None) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where, source)
    if origin is typing.Union or str(origin) == "types.UnionType":
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return _convert(inner[0], value, where, source)
        return value
    if origin is dict and args and isinstance(args[1], type) and dataclasses.is_dataclass(args[1]):
        if not isinstance(value, dict):
            raise AutosegError(f"'{where}' must be a JSON object", source, "see the README's schema")
        return {k: from_dict(args[1], v, f"{where}.{k}", source) for k, v in value.items()}
    if origin is list and args and isinstance(args[0], type) and dataclasses.is_dataclass(args[0]):
        if not isinstance(value, list):
            raise AutosegError(f"'{where}' must be a JSON list", source, "see the README's schema")
        return [from_dict(args[0], v, f"{where}[{i}]", source) for i, v in enumerate(value)]
    return value


def to_dict(obj: Any) -> Any:
    """dataclasses.asdict, but also turning tuples into lists so JSON round trips compare equal."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    return obj
