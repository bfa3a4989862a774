"""Hypothesis fuzzing of the JSON loaders (issue 29): generated JSON values, raw bytes and mutations of real
plans.json / dataset.json / model.json files. Invariant: a correct load, or one AutosegError line naming the
file; never another exception (a traceback). Small example counts: the whole file runs in seconds."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoseg.data.dataset import load_dataset
from autoseg.data.synthetic import make_synthetic_dataset
from autoseg.errors import AutosegError
from autoseg.labels.region_sets import load_regions_file
from autoseg.layout.model_folder import check_model_folder
from autoseg.planning.presets import PRESET_DIR, load_preset
from autoseg.schema.inference_file import InferenceFile
from autoseg.schema.load import load_validated
from autoseg.schema.plans import load_plans
from autoseg.schema.schedule_file import ScheduleFile
from autoseg.schema.splits_file import read_splits

FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=24,
)


def load_or_one_line(load, path: Path):
    """The invariant: load() returns, or raises AutosegError whose one line names the file."""
    try:
        return load()
    except AutosegError as error:
        text = str(error)
        assert "\n" not in text, text
        assert path.name in text, text
        return None


@pytest.fixture(scope="module")
def real_files(tmp_path_factory) -> dict[str, object]:
    """A real dataset folder, its plans.json (planned, not preprocessed) and a model.json."""
    from autoseg.plan_command import plan

    root = tmp_path_factory.mktemp("fuzz")
    dataset = make_synthetic_dataset(root / "F", num_cases=4, shape=(8, 24, 24), spacing=(3.0, 0.9, 0.9), seed=4)
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
    card = {
        "format": "autoseg-model",
        "format_version": 1,
        "autoseg_version": "0.1.0",
        "prediction": {"configurations": ["3d_fullres"], "postprocessing": None},
        "configurations": {
            "3d_fullres": {
                "spatial_dims": 3,
                "spacing": [3.0, 0.9, 0.9],
                "patch_size": [8, 24, 24],
                "folds": ["0"],
                "training": {},
            }
        },
        "files": {},
    }
    return {
        "root": root,
        "dataset": dataset,
        "dataset_json": json.loads((dataset / "dataset.json").read_text()),
        "plans": json.loads((root / "work" / "plans.json").read_text()),
        "card": card,
    }


def mutate(data, rng: random.Random, value):
    """`data` with one randomly chosen node replaced by `value` (or a dict key deleted)."""
    copy = json.loads(json.dumps(data))
    node, parent, key = copy, None, None
    for _ in range(rng.randint(1, 6)):
        children = (
            list(node.items()) if isinstance(node, dict) else list(enumerate(node)) if isinstance(node, list) else []
        )
        if not children:
            break
        key, child = rng.choice(children)
        parent = node
        if rng.random() < 0.3 or not isinstance(child, (dict, list)):
            break
        node = child
    if parent is None:
        return value
    if isinstance(parent, dict) and rng.random() < 0.2:
        del parent[key]
    else:
        parent[key] = value
    return copy


@FUZZ
@given(value=json_values)
def test_generated_json_for_every_file(real_files, value):
    root: Path = real_files["root"] / "generated"
    root.mkdir(exist_ok=True)
    text = json.dumps(value)
    for name, load in [
        ("plans.json", lambda p: load_plans(p.parent)),
        ("splits.json", read_splits),
        ("inference.json", lambda p: load_validated(p, InferenceFile, "inference.json")),
        ("schedule.json", lambda p: load_validated(p, ScheduleFile, "schedule.json")),
        ("regions.json", lambda p: load_regions_file(p, {1, 2})),
        ("model.json", lambda p: check_model_folder(p.parent)),
        ("preset.json", load_preset),
    ]:
        path = root / name
        path.write_text(text)
        load_or_one_line(lambda load=load, path=path: load(path), path)


@FUZZ
@given(
    data=st.binary(max_size=200) | st.text(alphabet='[]{}",:0123456789.eE-truefalsn \\', max_size=300).map(str.encode)
)
def test_raw_bytes_as_plans(real_files, data):
    folder: Path = real_files["root"] / "raw"
    folder.mkdir(exist_ok=True)
    (folder / "plans.json").write_bytes(data)
    load_or_one_line(lambda: load_plans(folder), folder / "plans.json")


@FUZZ
@given(seed=st.integers(0, 2**32 - 1), value=json_values)
def test_mutated_preset(real_files, seed, value):
    folder: Path = real_files["root"] / "mutated_preset"
    folder.mkdir(exist_ok=True)
    default = json.loads((PRESET_DIR / "default.json").read_text())
    path = folder / "preset.json"
    path.write_text(json.dumps(mutate(default, random.Random(seed), value)))
    preset = load_or_one_line(lambda: load_preset(path), path)
    if preset is not None:  # what loads gives the planner what it reads, with sizes in bounds
        assert 1 <= preset["cpu"]["max_batch_2d"] <= 4096 and preset["gpu"]["memory_gb"] > 0


@FUZZ
@given(seed=st.integers(0, 2**32 - 1), value=json_values)
def test_mutated_plans(real_files, seed, value):
    folder: Path = real_files["root"] / "mutated_plans"
    folder.mkdir(exist_ok=True)
    (folder / "plans.json").write_text(json.dumps(mutate(real_files["plans"], random.Random(seed), value)))
    plans = load_or_one_line(lambda: load_plans(folder), folder / "plans.json")
    if plans is not None:  # what loads is usable: its configurations are there, with patches in bounds
        assert all(1 <= p <= 8192 for c in plans.configurations.values() for p in c.patch_size)


@FUZZ
@given(seed=st.integers(0, 2**32 - 1), value=json_values)
def test_mutated_dataset_json(real_files, seed, value):
    dataset: Path = real_files["dataset"]
    path = dataset / "dataset.json"
    original = path.read_text()
    try:
        path.write_text(json.dumps(mutate(real_files["dataset_json"], random.Random(seed), value)))
        info = load_or_one_line(lambda: load_dataset(dataset), path)
        if info is not None:
            assert info.channel_names and info.labels
    finally:
        path.write_text(original)


@FUZZ
@given(seed=st.integers(0, 2**32 - 1), value=json_values)
def test_mutated_model_card(real_files, seed, value):
    folder: Path = real_files["root"] / "card"
    folder.mkdir(exist_ok=True)
    (folder / "model.json").write_text(json.dumps(mutate(real_files["card"], random.Random(seed), value)))
    load_or_one_line(lambda: check_model_folder(folder), folder / "model.json")
