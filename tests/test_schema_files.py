"""Every JSON autoseg reads from outside is validated by a declared schema (autoseg/schema/*_file.py): wrong
types, bounds, nesting and size are one AutosegError line naming the file and the field (issue 29)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from autoseg.data.dataset import load_dataset
from autoseg.data.synthetic import make_synthetic_dataset
from autoseg.errors import AutosegError
from autoseg.layout.model_folder import check_model_folder
from autoseg.schema import plans as plans_module
from autoseg.schema.inference_file import InferenceFile
from autoseg.schema.load import load_validated, load_validated_data
from autoseg.schema.network import NetworkSpec
from autoseg.schema.network_file import NetworkSpecFile
from autoseg.schema.plans import load_plans
from autoseg.schema.plans_file import (
    AugmentationPlanFile,
    ChannelNormalizationFile,
    ConfigurationFile,
    PlansFile,
    ResamplingFile,
    TrainingPlanFile,
)
from autoseg.schema.schedule_file import ScheduleFile
from autoseg.schema.splits_file import read_splits
from autoseg.utils.files import read_json
from autoseg.utils.json_limits import nesting_depth


def one_line(error: pytest.ExceptionInfo, *fragments: str) -> str:
    text = str(error.value)
    assert "\n" not in text, text
    for fragment in fragments:
        assert fragment in text, (fragment, text)
    return text


@pytest.fixture(scope="module")
def plans_dict(tmp_path_factory) -> dict:
    """A real plans.json, made by `autoseg plan` on a tiny synthetic dataset (plans only, no cache)."""
    from autoseg.plan_command import plan

    root = tmp_path_factory.mktemp("schema")
    dataset = make_synthetic_dataset(root / "S", num_cases=4, shape=(8, 24, 24), spacing=(3.0, 0.9, 0.9), seed=1)
    plan(
        dataset,
        root / "work",
        preset="cpu-fast",
        cpu_gflops=40,
        time_budget="1m",
        folds=2,
        preprocess=False,
        progress=False,
        workers=1,
    )
    return json.loads((root / "work" / "plans.json").read_text())


def write_plans(folder: Path, data) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "plans.json").write_text(data if isinstance(data, str) else json.dumps(data))
    return folder


def mutated(plans: dict, change) -> dict:
    copy = json.loads(json.dumps(plans))
    change(copy)
    return copy


def first_config(plans: dict) -> str:
    return next(iter(plans["configurations"]))


def test_the_models_list_the_dataclasses_fields():
    """A field added to plans.py's dataclasses must be declared in the schema too (else plans.json is refused)."""
    pairs = [
        (plans_module.Plans, PlansFile),
        (plans_module.Configuration, ConfigurationFile),
        (plans_module.TrainingPlan, TrainingPlanFile),
        (plans_module.AugmentationPlan, AugmentationPlanFile),
        (plans_module.Resampling, ResamplingFile),
        (plans_module.ChannelNormalization, ChannelNormalizationFile),
        (NetworkSpec, NetworkSpecFile),
    ]
    for dataclass, model in pairs:
        assert {f.name for f in dataclasses.fields(dataclass)} == set(model.model_fields), dataclass.__name__


def test_a_real_plan_loads(plans_dict, tmp_path):
    plans = load_plans(write_plans(tmp_path, plans_dict))
    assert set(plans.configurations) == set(plans_dict["configurations"])


@pytest.mark.parametrize(
    "change, fragments",
    [
        (lambda p: p.update(configurations=[]), ["field 'configurations'", "valid dictionary"]),
        (lambda p: p.update(version="1"), ["field 'version'", "'1'"]),
        (
            lambda p: p["configurations"][first_config(p)].update(
                patch_size=[-4, 16, 16][: len(p["configurations"][first_config(p)]["patch_size"])]
            ),
            ["patch_size[0]", "greater than or equal to 1"],
        ),
        (lambda p: p["configurations"][first_config(p)]["spacing"].__setitem__(1, float("nan")), ["spacing[1]"]),
        (
            lambda p: p["configurations"][first_config(p)]["network"].update(features=[10**9] * 5),
            ["network.features[0]", "less than or equal"],
        ),
        (
            lambda p: p["configurations"][first_config(p)].update(previous_stage="nonexistent"),
            ["refers to 'nonexistent'"],
        ),
        (
            lambda p: p["configurations"][first_config(p)].update(variant_of="gone"),
            ["refers to 'gone'"],
        ),
        (
            lambda p: p["configurations"][first_config(p)].update(data_identifier="../../elsewhere"),
            ["data_identifier", "not a plain name"],
        ),
        (
            lambda p: p["configurations"][first_config(p)]["training"].update(batch_dise=True),
            ["training.batch_dise", "not a known field"],
        ),
        (lambda p: p["configurations"][first_config(p)].update(batch_size=0), ["batch_size"]),
    ],
)
def test_wrong_plans_are_one_line_naming_file_and_field(plans_dict, tmp_path, change, fragments):
    folder = write_plans(tmp_path, mutated(plans_dict, change))
    with pytest.raises(AutosegError) as error:
        load_plans(folder)
    one_line(error, "plans.json", *fragments)


def test_unknown_configuration_names_the_choices(plans_dict, tmp_path):
    plans = load_plans(write_plans(tmp_path, plans_dict))
    with pytest.raises(AutosegError) as error:
        plans.configuration("3d_imaginary")
    one_line(error, "3d_imaginary", "choose one of")


def test_deep_nesting_is_refused_before_parsing(tmp_path):
    folder = write_plans(tmp_path, "[" * 100_000 + "]" * 100_000)
    with pytest.raises(AutosegError) as error:
        load_plans(folder)
    one_line(error, "plans.json", "nests 100000 levels")


def test_brackets_inside_strings_do_not_count():
    assert nesting_depth(b'{"a": "[[[[{{{{", "b": [1, [2]], "c": "\\"[["}') == 3


def test_huge_file_is_refused_before_reading(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOSEG_MAX_JSON_BYTES", "1000")
    folder = write_plans(tmp_path, json.dumps({"version": 1, "padding": "x" * 5000}))
    with pytest.raises(AutosegError) as error:
        load_plans(folder)
    one_line(error, "plans.json", "above the limit of 1000", "AUTOSEG_MAX_JSON_BYTES")


def test_unsafe_case_id_in_dataset_json(tmp_path):
    dataset = make_synthetic_dataset(tmp_path / "D", num_cases=2, shape=(4, 8, 8), seed=2)
    data = json.loads((dataset / "dataset.json").read_text())
    data["dataset"] = {"../x": {"images": ["imagesTr/case_000_0000.nii.gz"]}}
    (dataset / "dataset.json").write_text(json.dumps(data))
    with pytest.raises(AutosegError) as error:
        load_dataset(dataset)
    one_line(error, "dataset.json", "'dataset.../x", "not a plain name")


@pytest.mark.parametrize(
    "change, fragments",
    [
        (lambda d: d.update(numTraining="4"), ["numTraining"]),
        (lambda d: d.update(channel_names=["MRI"]), ["channel_names"]),
        (lambda d: d.update(file_ending=7), ["file_ending"]),
        (lambda d: d.update(labels={"background": 0, "organ": 1, "lesion": 2**40}), ["labels"]),
    ],
)
def test_wrong_dataset_json_is_one_line(tmp_path, change, fragments):
    dataset = make_synthetic_dataset(tmp_path / "D", num_cases=2, shape=(4, 8, 8), seed=2)
    data = json.loads((dataset / "dataset.json").read_text())
    change(data)
    (dataset / "dataset.json").write_text(json.dumps(data))
    with pytest.raises(AutosegError) as error:
        load_dataset(dataset)
    one_line(error, "dataset.json", *fragments)


def test_splits_inference_and_schedule(tmp_path):
    path = tmp_path / "splits.json"
    path.write_text(json.dumps([{"train": ["a", "b"], "val": ["c"]}]))
    assert read_splits(path)[0]["val"] == ["c"]
    for bad, fragment in [
        ({"train": [], "val": []}, "top level"),
        ([{"train": ["a"], "val": "c"}], "[0].val"),
        ([{"train": ["/etc/passwd"], "val": []}], "[0].train[0]"),
    ]:
        path.write_text(json.dumps(bad))
        with pytest.raises(AutosegError) as error:
            read_splits(path)
        one_line(error, "splits.json", fragment)
    path = tmp_path / "inference.json"
    path.write_text(json.dumps({"configurations": ["3d_fullres"], "postprocessing": None, "cv_dice": {"x": 0.5}}))
    assert load_validated_data(path, InferenceFile, "inference.json")["cv_dice"] == {"x": 0.5}
    path.write_text(json.dumps({"configurations": ["../models"], "postprocessing": None}))
    with pytest.raises(AutosegError) as error:
        load_validated(path, InferenceFile, "inference.json")
    one_line(error, "inference.json", "configurations[0]")
    path = tmp_path / "schedule.json"
    path.write_text(
        json.dumps(
            {
                "version": 1,
                "status": "running",
                "steps": [
                    {
                        "id": "s",
                        "configuration": "2d",
                        "fold": "0",
                        "status": "running",
                        "call": {"os_system": "rm -rf /"},
                    }
                ],
            }
        )
    )
    with pytest.raises(AutosegError) as error:
        load_validated(path, ScheduleFile, "schedule.json")
    one_line(error, "schedule.json", "steps[0].call.os_system", "not a known field")


def test_model_card_member_names(tmp_path):
    card = {
        "format": "autoseg-model",
        "format_version": 1,
        "files": {"../../outside.txt": {"bytes": 1, "sha256": "0" * 64}},
    }
    (tmp_path / "model.json").write_text(json.dumps(card))
    with pytest.raises(AutosegError) as error:
        check_model_folder(tmp_path)
    one_line(error, "model.json", "files.../../outside.txt (the name itself)")
    card["files"] = {"plans.json": {"bytes": "1", "sha256": "0" * 64}}
    (tmp_path / "model.json").write_text(json.dumps(card))
    with pytest.raises(AutosegError) as error:
        check_model_folder(tmp_path)
    one_line(error, "model.json", "files.plans.json.bytes")


def test_plain_read_json_has_the_limits_too(tmp_path):
    path = tmp_path / "history.json"
    path.write_text("[" * 5000 + "]" * 5000)
    with pytest.raises(AutosegError) as error:
        read_json(path, "training history")
    one_line(error, "history.json", "nests 5000 levels")
    shutil.rmtree(tmp_path)


def test_groups_and_user_splits_files(tmp_path):
    from autoseg.planning.splits import load_user_splits
    from autoseg.schema.splits_file import GroupsFile

    path = tmp_path / "groups.json"
    path.write_text(json.dumps({"a": "p1", "b": 2}))
    assert load_validated_data(path, GroupsFile, "groups file") == {"a": "p1", "b": 2}
    path.write_text(json.dumps({"../a": "p1"}))
    with pytest.raises(AutosegError) as error:
        load_validated_data(path, GroupsFile, "groups file")
    one_line(error, "groups.json", "not a plain name")
    path = tmp_path / "my_splits.json"
    path.write_text(json.dumps([{"train": ["a"], "val": [["b"]]}]))
    with pytest.raises(AutosegError) as error:
        load_user_splits(path, ["a", "b"])
    one_line(error, "my_splits.json", "[0].val[0]")
