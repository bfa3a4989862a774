"""Reading a JSON file that may come from anyone: its size and nesting are bounded before it is parsed.

json.loads recurses once per nesting level, so a file of 10^5 opening brackets ends in a RecursionError (or, in
some builds, a crash) instead of an error naming the file; a multi-gigabyte file is read whole into memory. Both
are refused first: the size from the file system, the depth by a scan of the bytes with the strings taken out
(a bracket inside a string nests nothing). Every autoseg artifact is a few KB to a few MB and nests under 10
levels, so the limits never touch a real file; AUTOSEG_MAX_JSON_BYTES and AUTOSEG_MAX_JSON_DEPTH raise them.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from autoseg.errors import AutosegError

DEFAULT_MAX_BYTES = 256 * 2**20  # a prediction report of 10^5 cases is ~50 MB
DEFAULT_MAX_DEPTH = 64  # plans.json nests 5 deep
# A JSON string: quote, then runs of plain characters or escapes, then quote (unrolled, so linear time).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_OPEN = np.frombuffer(b"[{", dtype=np.uint8)
_CLOSE = np.frombuffer(b"]}", dtype=np.uint8)


def max_json_bytes() -> int:
    return _limit("AUTOSEG_MAX_JSON_BYTES", DEFAULT_MAX_BYTES)


def max_json_depth() -> int:
    return _limit("AUTOSEG_MAX_JSON_DEPTH", DEFAULT_MAX_DEPTH)


def _limit(variable: str, default: int) -> int:
    text = os.environ.get(variable)
    if text is None:
        return default
    if not text.strip().isdigit() or int(text) < 1:
        raise AutosegError(f"{variable}={text!r} is not a positive integer", fix=f"unset it or set e.g. {default}")
    return int(text)


def nesting_depth(data: bytes) -> int:
    """The deepest bracket nesting of a JSON text, brackets inside strings not counted (no recursion)."""
    stripped = np.frombuffer(_STRING.sub(b'""', data), dtype=np.uint8)
    if stripped.size == 0:
        return 0
    steps = np.isin(stripped, _OPEN).astype(np.int64) - np.isin(stripped, _CLOSE).astype(np.int64)
    return int(np.cumsum(steps).max(initial=0))


def read_bounded_json(path: str | Path, what: str = "file") -> Any:
    """The parsed JSON of `path`, after refusing a missing file, one above the size limit, or one nested deeper
    than the depth limit; invalid JSON is one line naming the line and column."""
    path = Path(path)
    if not path.is_file():
        raise AutosegError(f"{what} not found", path, "check the path, or run the stage that writes it first")
    size, limit = path.stat().st_size, max_json_bytes()
    if size > limit:
        raise AutosegError(
            f"{what} is {size} bytes, above the limit of {limit} for a JSON file",
            path,
            "check it is the right file; if it is, raise AUTOSEG_MAX_JSON_BYTES",
        )
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    return parse_bounded_json(data, path, what)


def parse_bounded_json(data: bytes, path: str | Path | None = None, what: str = "file") -> Any:
    """json.loads of `data` after the depth check (see read_bounded_json)."""
    depth, limit = nesting_depth(data), max_json_depth()
    if depth > limit:
        raise AutosegError(
            f"{what} nests {depth} levels deep, above the limit of {limit}",
            path,
            "an autoseg file nests a few levels; replace this one (or raise AUTOSEG_MAX_JSON_DEPTH)",
        )
    try:
        return json.loads(data)
    except json.JSONDecodeError as e:
        raise AutosegError(
            f"{what} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})", path, "repair the JSON syntax"
        ) from None
    except (UnicodeDecodeError, RecursionError) as e:
        raise AutosegError(f"{what} is not valid JSON ({type(e).__name__})", path, "repair or replace it") from None
