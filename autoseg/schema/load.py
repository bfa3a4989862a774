"""load_validated: read a JSON file with bounded size and nesting, check it against a pydantic model, and turn
the first problem into one AutosegError line naming the file, the field (configurations.3d_fullres.
patch_size[1]) and the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, TypeVar

from pydantic import BaseModel, ValidationError

from autoseg.errors import AutosegError
from autoseg.utils.json_limits import read_bounded_json

M = TypeVar("M", bound=BaseModel)
DEFAULT_FIX = (
    "correct that field (README, section 'Artifacts', gives each file's fields), or write the file again with autoseg"
)


def load_validated(path: str | Path, model: type[M], what: str, fix: str | None = None) -> M:
    """The file's content validated as `model` (see validate_data)."""
    return validate_data(read_bounded_json(path, what), model, what, path, fix)


def load_validated_data(path: str | Path, model: type[BaseModel], what: str, fix: str | None = None) -> Any:
    """The parsed JSON of `path` (plain dicts and lists, as readers of that file expect) once it validates as
    `model`. Keys the model ignores stay in it but no reader looks at them."""
    data = read_bounded_json(path, what)
    validate_data(data, model, what, path, fix)
    return data


def validate_data(
    data: Any, model: type[M], what: str, path: str | Path | None = None, fix: str | None = None, within: str = ""
) -> M:
    """`data` validated as `model`; `within`: where `data` sits in its file (e.g. "network_spec"), for the error."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        fix = fix or getattr(model, "FIX", None) or DEFAULT_FIX
        raise schema_error(error, data, what, path, fix, within) from None


def schema_error(
    error: ValidationError, data: Any, what: str, path: str | Path | None, fix: str, within: str = ""
) -> AutosegError:
    """One line for the first problem pydantic found (and how many more there are)."""
    problems = error.errors(include_url=False)
    first = problems[0]
    where = ".".join(part for part in (within, field_path(first["loc"], data)) if part)
    found = "" if first["type"] in ("missing", "model_type") and not where else f", found {_short(first)}"
    more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
    # a key from the file may hold a newline or other control character: escaped, so the error stays one line
    where = where.encode("unicode_escape").decode("ascii") if not where.isprintable() else where
    location = f"field '{where}'" if where else "the top level"
    named = "" if path is not None else f"{what}: "  # the path names the file already
    return AutosegError(f"{named}{location}: {_message(first)}{found}{more}", path, fix)


def field_path(loc: tuple, data: Any) -> str:
    """'configurations.3d_fullres.patch_size[1]' for pydantic's location tuple. Parts that do not address the data
    (the name of a union member pydantic tried) are left out, found by walking the data along the location."""
    text, node = "", data
    for part in loc:
        if part == "[key]":
            text += " (the name itself)"
        elif isinstance(part, int) and isinstance(node, list) and -len(node) <= part < len(node):
            text, node = f"{text}[{part}]", node[part]
        elif isinstance(node, dict) and str(part) in node:
            text, node = f"{text}.{part}" if text else str(part), node[str(part)]
        elif (
            isinstance(node, dict)
            and isinstance(part, str)
            and not part.startswith(("function-", "union["))
            and "[" not in part
            and part not in ("int", "str", "float", "bool", "list", "dict", "none")
        ):
            text, node = f"{text}.{part}" if text else part, None  # a missing key
    return text


def _message(problem: Mapping[str, Any]) -> str:
    message = problem["msg"]
    if problem["type"] == "missing":
        return "is missing"
    if problem["type"] == "extra_forbidden":
        return "is not a known field (misspelt, or written by a newer autoseg)"
    message = message.removeprefix("Value error, ")
    return message[0].lower() + message[1:]


def _short(problem: Mapping[str, Any]) -> str:
    text = repr(problem.get("input"))
    return text if len(text) <= 60 else text[:57] + "..."
