"""The catalogue (issue 20): >= 40 malformed or quirky datasets, each with the outcome a user must get.

Refused: `autoseg plan` exits 2 with one line naming the file and the fix (no traceback, no plans.json), and
`autoseg verify` lists that file. Accepted (real data looks like that): verify finds nothing and plan writes
plans.json. The run ends with a line "catalogue: N cases ..." (tests/conftest.py prints it).
"""

from __future__ import annotations

import pytest

from autoseg import cli
from tests.catalogue_cases import ACCEPTED, CATALOGUE, REFUSED

PASSED: list[str] = []


@pytest.fixture(scope="module", autouse=True)
def count_line(request):
    yield
    notes = getattr(request.config, "autoseg_notes", [])
    notes.append(
        f"catalogue: {len(CATALOGUE)} cases ({len(REFUSED)} refused with one line naming the file and "
        f"the fix, exit 2; {len(ACCEPTED)} accepted), {len(PASSED)} behaved as expected"
    )
    request.config.autoseg_notes = notes


def run(capsys, *argv) -> tuple[int, str, list[str]]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    # tqdm's progress bars share stderr with the error line; they are not messages
    lines = [line for line in err.splitlines() if line.strip() and "%|" not in line]
    return code, out + err, lines


def plan_args(root, work):
    return [
        "plan",
        root,
        "-o",
        work,
        "--no-preprocess",
        "--cpu-gflops",
        "40",
        "--preset",
        "cpu-fast",
        "--processes",
        "1",
        "--time-budget",
        "1m",
    ]


def test_the_catalogue_has_at_least_40_cases():
    assert len(CATALOGUE) >= 40
    assert len({entry.name for entry in CATALOGUE}) == len(CATALOGUE)


@pytest.mark.slow
@pytest.mark.parametrize("entry", CATALOGUE, ids=str)
def test_catalogue(entry, tmp_path, capsys):
    root, named = entry.build(tmp_path / "data")
    capsys.readouterr()
    work = tmp_path / "work"
    code, everything, lines = run(capsys, *plan_args(root, work))
    assert "Traceback" not in everything
    if named is None:
        assert code == 0, everything
        assert (work / "plans.json").is_file()
        code, everything, _ = run(capsys, "verify", root)
        assert code == 0 and "OK" in everything, everything
    else:
        assert code == 2, everything
        assert len(lines) == 1, lines
        assert lines[0].startswith("autoseg plan: error: "), lines[0]
        assert str(named) in lines[0], f"the message must name {named}: {lines[0]}"
        assert "Fix: " in lines[0], lines[0]
        assert not (work / "plans.json").exists()
        code, everything, _ = run(capsys, "verify", root)
        assert code != 0 and str(named) in everything, everything
    PASSED.append(entry.name)
