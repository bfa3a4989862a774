"""The command line: every verb explains itself, and every mistake a user can make prints one line.

A user error must print exactly one line, "autoseg <verb>: error: <file>: <problem> Fix: <what to do>", and exit
with status 2 -- no traceback. Most cases run in-process (main() is what the console script calls); one runs
the real console script to check what a shell sees.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autoseg import cli


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(capsys, verb: str, argv: list, names: str | Path) -> str:
    code, out, err = run_cli(capsys, verb, *argv)
    lines = err.strip().splitlines()
    assert code == 2, (out, err)
    assert len(lines) == 1, err
    assert lines[0].startswith(f"autoseg {verb}: error: "), lines[0]
    assert str(names) in lines[0], f"the message must name {names}: {lines[0]}"
    assert "Fix: " in lines[0], lines[0]
    assert "Traceback" not in out + err
    return lines[0]


@pytest.mark.parametrize("verb", sorted(cli.VERBS))
def test_every_verb_has_help(verb, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([verb, "--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0
    assert out.startswith(f"usage: autoseg {verb}")
    assert cli.VERBS[verb][0] in " ".join(out.split())


def test_top_level_help_lists_every_verb(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert all(verb in out for verb in cli.VERBS)


@pytest.mark.parametrize("verb", ["plan", "verify"])
def test_missing_dataset_folder(verb, tmp_path, capsys):
    missing = tmp_path / "no_such_dataset"
    argv = [missing, "-o", tmp_path / "work"] if verb == "plan" else [missing]
    line = assert_one_line_error(capsys, verb, argv, missing)
    assert "dataset folder not found" in line
    assert not (tmp_path / "work" / "plans.json").exists()


@pytest.mark.parametrize(
    "verb, extra",
    [
        ("train", ["-c", "3d_fullres"]),
        ("find-best", []),
        ("predict", ["-i", "{images}", "-o", "{out}"]),
        ("networks", []),
    ],
)
def test_plans_json_missing(verb, extra, tmp_path, synthetic_3d, capsys):
    work = tmp_path / "not_planned"
    work.mkdir()
    argv = [work] + [a.format(images=synthetic_3d / "imagesTs", out=tmp_path / "out") for a in extra]
    line = assert_one_line_error(capsys, verb, argv, work / "plans.json")
    assert "plans.json not found" in line and "autoseg plan" in line


def test_plan_refuses_an_existing_work_folder(planned_3d, synthetic_3d, capsys):
    before = (planned_3d / "plans.json").read_text()
    assert_one_line_error(capsys, "plan", [synthetic_3d, "-o", planned_3d], planned_3d / "plans.json")
    assert (planned_3d / "plans.json").read_text() == before


def test_predict_refuses_existing_predictions(planned_3d, synthetic_3d, tmp_path, capsys):
    out = tmp_path / "predictions"
    out.mkdir()
    existing = out / "case_010.nii.gz"
    existing.write_bytes(b"the user's file")
    line = assert_one_line_error(
        capsys, "predict", [planned_3d, "-i", synthetic_3d / "imagesTs", "-o", out, "-c", "3d_fullres"], out
    )
    assert "--overwrite" in line and existing.name in line
    assert existing.read_bytes() == b"the user's file"


def test_evaluate_refuses_an_existing_summary(synthetic_3d, tmp_path, capsys):
    summary = tmp_path / "summary.json"
    summary.write_text("{}")
    labels = synthetic_3d / "labelsTr"
    assert_one_line_error(capsys, "evaluate", [labels, labels, "-o", summary], summary)
    assert summary.read_text() == "{}"


def test_demo_refuses_an_existing_folder(tmp_path, capsys):
    folder = tmp_path / "my_results"
    folder.mkdir()
    (folder / "precious.txt").write_text("keep me")
    assert_one_line_error(capsys, "demo", ["-o", folder], folder)
    line = assert_one_line_error(capsys, "demo", ["-o", folder, "--overwrite"], folder)
    assert "not made by autoseg demo" in line
    assert (folder / "precious.txt").read_text() == "keep me"


@pytest.mark.parametrize(
    "verb, extra", [("train", []), ("networks", []), ("predict", ["-i", "{images}", "-o", "{out}"])]
)
def test_unknown_configuration(verb, extra, planned_3d, synthetic_3d, tmp_path, capsys):
    argv = [planned_3d, "-c", "4d_superres"] + [
        a.format(images=synthetic_3d / "imagesTs", out=tmp_path / "out") for a in extra
    ]
    line = assert_one_line_error(capsys, verb, argv, "plans.json")
    assert "4d_superres" in line and "3d_fullres" in line, "the fix must list the configurations there are"


@pytest.mark.slow
def test_console_script_prints_one_line_and_exits_2(tmp_path):
    """What a shell sees: the installed `autoseg` command (or the module when not on PATH)."""
    command = [shutil.which("autoseg")] if shutil.which("autoseg") else [sys.executable, "-m", "autoseg.cli"]
    missing = tmp_path / "no_such_dataset"
    result = subprocess.run(
        command + ["plan", str(missing), "-o", str(tmp_path / "w")], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith(f"autoseg plan: error: {missing}: dataset folder not found Fix: ")
    assert "Traceback" not in result.stdout + result.stderr
