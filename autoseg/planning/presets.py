"""Planner presets: plain JSON files in plans/ (shipped inside the package as autoseg/presets), chosen by
name with --preset, or any JSON file by path. A preset may extend another and override parts of it."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from autoseg.errors import AutosegError
from autoseg.utils.files import read_json

PRESET_DIR = Path(__file__).resolve().parents[1] / "presets"


def available_presets() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.json"))


def load_preset(name_or_path: str) -> dict[str, Any]:
    path = Path(name_or_path)
    if not path.suffix == ".json" or not path.is_file():
        path = PRESET_DIR / f"{name_or_path}.json"
    if not path.is_file():
        raise AutosegError(f"unknown preset '{name_or_path}'",
                           fix=f"use one of {available_presets()} or the path of a preset JSON file")
    data = read_json(path, "preset")
    parent = data.pop("extends", None)
    if parent:
        data = deep_merge(load_preset(parent), data)
    return data


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
