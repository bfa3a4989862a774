"""The CLI's one grammar: old flag spellings that keep working for one release, with a one-line note.

`deprecated_alias(p, "--fold", new)` adds `--fold` as a hidden second spelling of the argument `new` (the Action
that `p.add_argument("-f", "--folds", ...)` returned): the same destination, number of values, type and choices,
and when it is used, stderr says "autoseg VERB: --fold is deprecated, use --folds". A test walks every verb and
checks each alias still lands where its new spelling does (tests/test_cli_grammar.py).
"""

from __future__ import annotations

import argparse
import sys


class DeprecatedSpelling(argparse.Action):
    """Store like the new spelling does, after telling the user the new spelling."""

    def __init__(self, option_strings, dest, new_flag: str, **kwargs):
        self.new_flag = new_flag
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"{parser.prog}: {option_string} is deprecated, use {self.new_flag}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def deprecated_alias(parser: argparse.ArgumentParser, old_flag: str, new: argparse.Action) -> argparse.Action:
    """Add old_flag as a hidden, deprecated spelling of the argument `new` (returned by add_argument)."""
    new_flag = max(new.option_strings, key=len)
    return parser.add_argument(
        old_flag,
        dest=new.dest,
        nargs=new.nargs,
        type=new.type,
        choices=new.choices,
        metavar=new.metavar,
        action=DeprecatedSpelling,
        new_flag=new_flag,
        default=argparse.SUPPRESS,
        help=argparse.SUPPRESS,
    )


def deprecated_aliases(parser: argparse.ArgumentParser) -> list[DeprecatedSpelling]:
    """The deprecated spellings a parser accepts (for the grammar test and the help check)."""
    return [a for a in parser._actions if isinstance(a, DeprecatedSpelling)]


def one_value(values, flag: str, verb: str):
    """The single value of a flag that takes one or more (e.g. search -c): one line when there are more."""
    from autoseg.errors import AutosegError

    if values is None:
        return None
    if len(values) != 1:
        raise AutosegError(
            f"{verb} takes one value for {flag}, not {len(values)} ({' '.join(map(str, values))})",
            fix=f"run {verb} once per value, e.g. {flag} {values[0]}",
        )
    return values[0]


def add_device_argument(parser: argparse.ArgumentParser) -> argparse.Action:
    """--device, the same on every verb that runs a network."""
    return parser.add_argument(
        "--device",
        default="auto",
        choices=["auto", "cpu", "cuda"],
        help="where the networks run (default auto: cuda when a GPU is available, else cpu)",
    )
