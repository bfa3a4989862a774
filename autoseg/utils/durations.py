"""Durations as people write them: 90, 90s, 15m, 1.5h, 1h30m."""

from __future__ import annotations

import re

from autoseg.errors import AutosegError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str | float | int | None) -> float | None:
    if text is None or isinstance(text, (int, float)):
        return None if text is None else float(text)
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([smhd]?)", text.strip().lower())
    if not parts or "".join(n + u for n, u in parts) != re.sub(r"\s+", "", text.strip().lower()):
        raise AutosegError(f"cannot read the duration '{text}'", fix="write it like 900, 900s, 15m, 1.5h or 1h30m")
    return float(sum(float(n) * _UNITS[u or "s"] for n, u in parts))


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else (f"{m}m{s:02d}s" if m else f"{s}s")
