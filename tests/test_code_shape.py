"""Short functions with few positional parameters in the packages issue 28 reshaped (training, planning,
scheduling, inference): a function over MAX_LINES lines or with more than MAX_POSITIONAL positional parameters
fails here, unless it is in ALLOWED with its size when the rule came in. The allow-list only shrinks: a listed
function that grows fails too, and one that has been brought within the rule must be taken off the list."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "autoseg"
PACKAGES = ("training", "planning", "scheduling", "inference")
MAX_LINES = 60
MAX_POSITIONAL = 6

# "package/module.py::function": (lines, positional parameters) when the rule came in. Shrink, never grow (only
# the measure that is over its limit counts: a 17-line function with 9 positional parameters may gain a line).
ALLOWED: dict[str, tuple[int, int]] = {}


def _positional(node: ast.FunctionDef | ast.AsyncFunctionDef, in_class: bool) -> int:
    names = [a.arg for a in node.args.posonlyargs + node.args.args]
    if in_class and names and names[0] in ("self", "cls"):
        names = names[1:]
    return len(names)


def function_shapes() -> dict[str, tuple[int, int]]:
    """Every function and method of PACKAGES: (lines from `def` to its last line, positional parameters)."""
    shapes = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(), filename=str(path))
            name = path.relative_to(ROOT).as_posix()
            for parent in ast.walk(tree):
                for node in ast.iter_child_nodes(parent):
                    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        key = (
                            f"{name}::{node.name}"
                            if not isinstance(parent, ast.ClassDef)
                            else f"{name}::{parent.name}.{node.name}"
                        )
                        shapes[key] = (
                            node.end_lineno - node.lineno + 1,
                            _positional(node, isinstance(parent, ast.ClassDef)),
                        )
    return shapes


def too_big(lines: int, positional: int) -> bool:
    return lines > MAX_LINES or positional > MAX_POSITIONAL


def test_functions_are_short_and_take_few_positional_parameters():
    shapes = function_shapes()
    problems = []
    for key, (lines, positional) in sorted(shapes.items()):
        if not too_big(lines, positional):
            continue
        allowed = ALLOWED.get(key)
        if allowed is None:
            problems.append(
                f"{key}: {lines} lines, {positional} positional parameters (at most {MAX_LINES} "
                f"and {MAX_POSITIONAL}: split it, or pass an options object)"
            )
        elif (lines > MAX_LINES and lines > allowed[0]) or (positional > MAX_POSITIONAL and positional > allowed[1]):
            problems.append(f"{key}: grew to {lines} lines, {positional} positional (allowed {allowed})")
    assert not problems, "\n".join(problems)


def test_the_allow_list_only_names_functions_still_over_the_limits():
    shapes = function_shapes()
    stale = [key for key in ALLOWED if key not in shapes or not too_big(*shapes[key])]
    assert not stale, f"within the rule now (or gone): take these off ALLOWED: {stale}"


@pytest.mark.parametrize(
    "source, expected",
    [
        ("def f(a, b, *c, d=1, **e):\n    pass\n", (2, 2)),
        ("class C:\n    def m(self, a, /, b):\n        return a\n", (2, 2)),
    ],
)
def test_shapes_are_measured_as_stated(tmp_path, monkeypatch, source, expected):
    (tmp_path / "training").mkdir()
    (tmp_path / "training" / "m.py").write_text(source)
    module = sys.modules[__name__]
    monkeypatch.setattr(module, "ROOT", tmp_path)
    monkeypatch.setattr(module, "PACKAGES", ("training",))
    assert list(function_shapes().values()) == [expected]
