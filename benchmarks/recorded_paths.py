"""Records name folders by placeholders (DATA, WORK, OUT, VENV, PYTHON), not by this machine's paths: the
convention of benchmarks/README.md, applied by the benchmark scripts to a record before they write it."""

from __future__ import annotations

import json
import re
from pathlib import Path


def with_placeholders(value, folders: dict[str, Path | str]):
    """`value` (a string, or anything JSON holds) with each folder's path replaced by its placeholder name.

    Longest path first, so a folder inside another one is named by the inner placeholder; a path only matches
    whole (followed by "/", a quote, a space, ":" or the end), so /a/b does not rename /a/bc."""
    text = json.dumps(value)
    for name, folder in sorted(folders.items(), key=lambda item: -len(str(item[1]))):
        escaped = json.dumps(str(folder))[1:-1]
        text = re.sub(re.escape(escaped) + r'(?=[/"\s:]|$)', lambda _match, name=name: name, text)
    return json.loads(text)
