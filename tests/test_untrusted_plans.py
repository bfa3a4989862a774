"""A model from someone else (its plans.json or its checkpoint) is refused in one line before any network is
allocated when it makes no sense or would not fit: negative spacing, a patch of 10^6, widths of terabytes,
weights that do not fit the network, a patch the network cannot divide (issue 29)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from autoseg.data.synthetic import make_synthetic_dataset
from autoseg.errors import AutosegError
from autoseg.inference.array_predictor import Predictor
from autoseg.plan_command import plan
from autoseg.training.loop import train
from tests.sharing_fixtures import shorten

pytestmark = pytest.mark.slow  # every test loads or trains a model from a trained WORK

CONFIG = "3d_fullres"
CHECKPOINT = Path("models") / CONFIG / "fold_0" / "checkpoint_final.pt"
# torch and autoseg imported, a small model loaded: a few hundred MB. A refused 10^12-parameter network would
# be terabytes; anything allocated for it would show far above this.
MAX_RSS_MB = 1500


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A WORK folder with one fold of 3d_fullres trained for two iterations (a model folder's layout)."""
    root = tmp_path_factory.mktemp("untrusted")
    dataset = make_synthetic_dataset(root / "U", num_cases=4, shape=(8, 24, 24), spacing=(3.0, 0.9, 0.9), seed=5)
    work = root / "work"
    plan(
        dataset,
        work,
        preset="cpu-fast",
        cpu_gflops=40,
        time_budget="1m",
        folds=2,
        progress=False,
        workers=1,
        configurations=[CONFIG],
    )
    shorten(work, iterations=2)
    train(work, CONFIG, 0, epochs=1, workers=0, progress=False, validate=False)
    return work


def model_copy(trained: Path, tmp_path: Path, plans_change=None, checkpoint_change=None) -> Path:
    """The trained model (plans.json and the fold's checkpoint) copied, then changed as someone else might."""
    model = tmp_path / "model"
    (model / CHECKPOINT.parent).mkdir(parents=True)
    shutil.copy(trained / "plans.json", model / "plans.json")
    shutil.copy(trained / CHECKPOINT, model / CHECKPOINT)
    if plans_change:
        plans = json.loads((model / "plans.json").read_text())
        plans_change(plans["configurations"][CONFIG])
        (model / "plans.json").write_text(json.dumps(plans))
    if checkpoint_change:
        state = torch.load(model / CHECKPOINT, weights_only=True)
        checkpoint_change(state)
        torch.save(state, model / CHECKPOINT)
    return model


def refused(model: Path, *fragments: str) -> str:
    with pytest.raises(AutosegError) as error:
        Predictor.load(model, device="cpu", tta=False)
    text = str(error.value)
    assert "\n" not in text, text
    for fragment in fragments:
        assert fragment in text, (fragment, text)
    return text


def terabyte_widths(config: dict) -> None:
    config["network"]["features"] = [16384] * len(config["network"]["features"])


def test_the_unchanged_model_loads(trained, tmp_path):
    predictor = Predictor.load(model_copy(trained, tmp_path), device="cpu", tta=False)
    assert predictor.folds == {CONFIG: ["0"]}


@pytest.mark.parametrize(
    "change, fragments",
    [
        (lambda c: c["spacing"].__setitem__(0, -3.0), ["plans.json", "spacing[0]", "greater than 0"]),
        (lambda c: c.update(patch_size=[8, 10**6, 24]), ["plans.json", "patch_size[1]", "less than or equal"]),
        (
            lambda c: c["network"].update(features=[2**40] * len(c["network"]["features"])),
            ["plans.json", "network.features[0]"],
        ),
        (terabyte_widths, ["plans.json", "parameters", "above this machine's limit", "AUTOSEG_MAX_NETWORK_BYTES"]),
        (
            lambda c: c.update(patch_size=[c["patch_size"][0], c["patch_size"][1] + 1, c["patch_size"][2]]),
            ["plans.json", "not divisible by the network's total downsampling"],
        ),
        (
            lambda c: c["network"].update(kernel_sizes=c["network"]["kernel_sizes"][:-1]),
            ["plans.json", "kernel_sizes must have"],
        ),
        (lambda c: c["network"].update(in_channels=3), ["plans.json", "3 input channel(s)"]),
        (lambda c: c["network"].update(num_classes=7), ["plans.json", "7 outputs"]),
    ],
)
def test_a_plan_that_makes_no_sense_is_refused(trained, tmp_path, change, fragments):
    refused(model_copy(trained, tmp_path, plans_change=change), *fragments)


def test_the_memory_limit_can_be_lowered_and_raised(trained, tmp_path, monkeypatch):
    model = model_copy(trained, tmp_path)
    monkeypatch.setenv("AUTOSEG_MAX_NETWORK_BYTES", "1000")
    refused(model, "above this machine's limit of")
    monkeypatch.setenv("AUTOSEG_MAX_NETWORK_BYTES", str(2**40))
    Predictor.load(model, device="cpu", tta=False)


def test_weights_that_do_not_fit_name_the_tensor_and_both_shapes(trained, tmp_path):
    def wrong_shape(state):
        name = next(iter(state["weights"]))
        state["weights"][name] = torch.zeros(2, 2)

    text = refused(
        model_copy(trained, tmp_path, checkpoint_change=wrong_shape),
        "checkpoint_final.pt",
        "has shape (2, 2) in the checkpoint",
        "needs (",
    )
    assert "tensor '" in text


def test_missing_and_surplus_weights(trained, tmp_path):
    def drop(state):
        state["weights"].pop(sorted(state["weights"])[-1])

    refused(model_copy(trained, tmp_path, checkpoint_change=drop), "the checkpoint has no tensor")

    def extra(state):
        state["weights"]["stowaway.weight"] = torch.zeros(1)

    refused(model_copy(trained, tmp_path / "b", checkpoint_change=extra), "stowaway.weight")


def test_a_checkpoint_spec_that_disagrees_with_the_plan(trained, tmp_path):
    def more_classes(state):
        state["network_spec"]["num_classes"] = 9

    refused(model_copy(trained, tmp_path, checkpoint_change=more_classes), "num_classes 9", "plans.json's")

    def negative_width(state):
        state["network_spec"]["features"][0] = -8

    refused(
        model_copy(trained, tmp_path / "b", checkpoint_change=negative_width),
        "network_spec",
        "features must be positive",
    )

    def string_width(state):
        state["network_spec"]["features"][1] = "32"

    refused(model_copy(trained, tmp_path / "c", checkpoint_change=string_width), "network_spec.features[1]")


@pytest.mark.parametrize("where", ["plans", "checkpoint"])
def test_terabyte_networks_are_refused_before_allocation(trained, tmp_path, where):
    """In a fresh process: the refusal comes before anything large is allocated (peak RSS stays small)."""
    if where == "plans":
        model = model_copy(trained, tmp_path, plans_change=terabyte_widths)
    else:
        model = model_copy(
            trained, tmp_path, checkpoint_change=lambda s: terabyte_widths({"network": s["network_spec"]})
        )
    script = textwrap.dedent(f"""
        import resource
        from autoseg.errors import AutosegError
        from autoseg.inference.array_predictor import Predictor
        try:
            Predictor.load({str(model)!r}, device="cpu", tta=False)
            print("LOADED")
        except AutosegError as error:
            print("REFUSED", error)
        print("RSS_MB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    """)
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[1],
    )
    lines = done.stdout.splitlines()
    assert any(line.startswith("REFUSED") and "parameters" in line for line in lines), done.stdout + done.stderr
    rss = float(next(line.split()[1] for line in lines if line.startswith("RSS_MB")))
    assert rss < MAX_RSS_MB, rss


def test_an_inference_json_naming_an_unknown_configuration(trained, tmp_path):
    model = model_copy(trained, tmp_path)
    (model / "inference.json").write_text(json.dumps({"configurations": ["3d_imaginary"], "postprocessing": None}))
    refused(model, "plans.json", "'3d_imaginary'", "choose one of [")


def test_training_a_terabyte_plan_is_refused_before_allocation(trained, tmp_path):
    """A plan from elsewhere (plan --plans-from, a hand edit) is costed before train builds its network."""
    work = shutil.copytree(trained, tmp_path / "work", ignore=shutil.ignore_patterns("models"))
    plans = json.loads((work / "plans.json").read_text())
    terabyte_widths(plans["configurations"][CONFIG])
    (work / "plans.json").write_text(json.dumps(plans))
    with pytest.raises(AutosegError) as error:
        train(work, CONFIG, 0, epochs=1, workers=0, progress=False, validate=False)
    text = str(error.value)
    assert "\n" not in text and "parameters" in text and "AUTOSEG_MAX_NETWORK_BYTES" in text, text
