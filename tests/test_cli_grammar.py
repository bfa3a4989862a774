"""One CLI grammar (issue 28 part 4): every verb's flags are spelled and explained the same way.

-c is always --configurations, -f always --folds (a list), every flag has help text, and a flag with a default
says it. The spellings of the last release still parse to the same place, with a one-line note on stderr.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from autoseg import cli
from autoseg.utils.cli_grammar import DeprecatedSpelling, deprecated_aliases

PARSER = cli.build_parser()
SUBPARSERS = next(a for a in PARSER._actions if isinstance(a, argparse._SubParsersAction)).choices

# (verb, positional arguments, old spelling, its value(s), the new spelling's destination, the parsed value)
DEPRECATED = [
    ("demo", [], ["--training-time", "3m"], "time_budget", "3m"),
    ("verify", ["D"], ["--workers", "3"], "processes", 3),
    ("plan", ["D", "-o", "W"], ["--folds", "3"], "cv_folds", 3),
    ("plan", ["D", "-o", "W"], ["--workers", "3"], "processes", 3),
    ("preprocess", ["W"], ["--workers", "3"], "processes", 3),
    ("networks", ["W"], ["--configuration", "2d"], "configurations", ["2d"]),
    ("train", ["W"], ["--configuration", "2d"], "configurations", ["2d"]),
    ("train", ["W"], ["--fold", "1", "2"], "folds", ["1", "2"]),
    ("search", ["W"], ["--configuration", "2d"], "configurations", ["2d"]),
    ("search", ["W"], ["--fold", "1"], "folds", ["1"]),
    ("search", ["W"], ["--time-budget", "2h"], "total_budget", "2h"),
    ("evaluate", ["P", "R"], ["--workers", "3"], "processes", 3),
    ("benchmark", ["D", "-o", "R"], ["--configs", "2d", "3d_fullres"], "configurations", ["2d", "3d_fullres"]),
]


def _flags(verb):
    return [
        a
        for a in SUBPARSERS[verb]._actions
        if a.option_strings and not isinstance(a, (argparse._HelpAction, DeprecatedSpelling))
    ]


@pytest.mark.parametrize("verb", sorted(SUBPARSERS))
def test_every_flag_has_help_that_states_its_default(verb):
    for action in _flags(verb):
        assert action.help and action.help != argparse.SUPPRESS, f"{verb} {action.option_strings}: no help text"
        if action.nargs != 0 and action.default is not None:  # a switch's default is plainly "off"
            assert "default" in action.help, f"{verb} {action.option_strings}: help does not state the default"


@pytest.mark.parametrize("verb", sorted(SUBPARSERS))
def test_short_flags_mean_one_thing(verb):
    for action in _flags(verb):
        if "-c" in action.option_strings:
            assert action.option_strings == ["-c", "--configurations"] and action.nargs == "+", verb
        if "-f" in action.option_strings:
            assert action.option_strings == ["-f", "--folds"] and action.nargs == "+", verb
        assert "--configs" not in action.option_strings and "--fold" not in action.option_strings, verb
    names = {s for a in _flags(verb) for s in a.option_strings}
    assert "--training-time" not in names and "--configuration" not in names, verb


def test_folds_is_a_list_and_cv_folds_a_count_everywhere():
    for verb in SUBPARSERS:
        for action in _flags(verb):
            if "--folds" in action.option_strings:
                assert action.nargs == "+", verb
            if "--cv-folds" in action.option_strings:
                assert action.type is int and action.nargs is None, verb


@pytest.mark.parametrize("verb, positional, old, dest, value", DEPRECATED)
def test_deprecated_spellings_parse_to_the_new_destination_with_a_note(verb, positional, old, dest, value, capsys):
    new_flag = next(a.new_flag for a in deprecated_aliases(SUBPARSERS[verb]) if old[0] in a.option_strings)
    parsed = PARSER.parse_args([verb, *positional, *old])
    assert getattr(parsed, dest) == value
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"autoseg {verb}: {old[0]} is deprecated, use {new_flag}"]
    new_parsed = PARSER.parse_args([verb, *positional, new_flag, *old[1:]])
    assert getattr(new_parsed, dest) == value and not capsys.readouterr().err


def test_every_deprecated_spelling_is_covered_and_hidden():
    listed = {(verb, old[0]) for verb, _, old, _, _ in DEPRECATED}
    for verb, parser in SUBPARSERS.items():
        for alias in deprecated_aliases(parser):
            assert (verb, alias.option_strings[0]) in listed, f"{verb} {alias.option_strings[0]}: add it to DEPRECATED"
            assert alias.help == argparse.SUPPRESS
            assert verb + " " + alias.option_strings[0] not in PARSER.format_help()


def test_search_and_networks_take_exactly_one_configuration(tmp_path, capsys):
    for argv in (
        ["search", str(tmp_path), "-c", "2d", "3d_fullres", "--trials", "1"],
        ["networks", str(tmp_path), "-c", "2d", "3d_fullres"],
    ):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "takes one value for -c/--configurations" in err[0], err
    assert cli.main(["search", str(tmp_path), "-c", "2d", "-f", "0", "1", "--trials", "1"]) == 2
    assert "-f/--folds" in capsys.readouterr().err


def test_the_api_evaluate_does_what_the_verb_does(tmp_path, capsys):
    import autoseg
    from autoseg.data.image_io import read_label, write_label
    from autoseg.data.synthetic import make_synthetic_dataset

    root = make_synthetic_dataset(tmp_path / "ds", num_cases=1, shape=(4, 16, 16), seed=2)
    _, geometry = read_label(root / "labelsTr" / "case_000.nii.gz")
    ref = np.zeros((4, 16, 16), np.uint8)
    ref[1:3, 2:6, 2:6] = 1
    pred = ref.copy()
    pred[1, 2, 2:6] = 0
    for folder, labels in (("ref", ref), ("pred", pred)):
        (tmp_path / folder).mkdir()
        write_label(labels, geometry, tmp_path / folder / "case_000.nii.gz")
    summary = autoseg.evaluate(tmp_path / "pred", tmp_path / "ref", tmp_path / "api.json")
    assert cli.main(["evaluate", str(tmp_path / "pred"), str(tmp_path / "ref"), "-o", str(tmp_path / "verb.json")]) == 0
    assert json.loads((tmp_path / "api.json").read_text()) == json.loads((tmp_path / "verb.json").read_text())
    assert summary["n_cases"] == 1 and 0.8 < summary["foreground_mean"]["Dice"] < 1.0
    assert callable(autoseg.evaluate_folders)  # the scoring alone stays importable
