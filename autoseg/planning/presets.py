"""Planner presets: plain JSON files in plans/ (shipped inside the package as autoseg/presets), chosen by
name with --preset, or any JSON file by path. A preset may extend another and override parts of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autoseg.errors import AutosegError
from autoseg.schema.load import validate_data
from autoseg.schema.preset_file import PresetFile
from autoseg.utils.files import read_json

PRESET_DIR = Path(__file__).resolve().parents[1] / "presets"


def available_presets() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.json"))


def load_preset(name_or_path: str | Path) -> dict[str, Any]:
    """The merged preset, named after its "name" (or its file name), checked against the preset schema
    (autoseg/schema/preset_file.py) once the presets it extends are merged in."""
    path = _preset_path(name_or_path, extended_by=None)
    data = _load_chain(path, [])
    validate_data(data, PresetFile, "preset", path)
    return data


def _preset_path(name_or_path: str | Path, extended_by: Path | None) -> Path:
    """A preset by path (relative to the extending preset's folder, when there is one) or by built-in name."""
    text = str(name_or_path)
    folder = extended_by.parent if extended_by is not None else None
    candidates = [folder / text, folder / f"{text}.json"] if folder is not None else []
    candidates += [Path(text)] if folder is None and text.endswith(".json") else []
    candidates.append(PRESET_DIR / f"{text}.json")
    for path in candidates:
        if path.is_file():
            return path.resolve()
    what = f"unknown preset '{text}'" + (' in "extends"' if extended_by is not None else "")
    raise AutosegError(what, extended_by, f"use one of {available_presets()} or the path of a preset JSON file")


def _load_chain(path: Path, chain: list[Path]) -> dict[str, Any]:
    if path in chain:
        cycle = " -> ".join(p.name for p in chain + [path])
        raise AutosegError(
            f"presets extend each other in a cycle ({cycle})", chain[-1], 'remove one of the "extends" entries'
        )
    data = read_json(path, "preset")
    if not isinstance(data, dict):
        raise AutosegError("a preset must be a JSON object", path, "see plans/default.json for the form")
    data.setdefault("name", path.stem)
    parent = data.pop("extends", None)
    if parent:
        base = _load_chain(_preset_path(parent, extended_by=path), chain + [path])
        data = deep_merge(base, data)
    return data


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
