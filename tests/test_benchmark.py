"""`autoseg benchmark`: the whole chain on a tiny synthetic dataset, and its parts on their own."""

from __future__ import annotations

import json
import os
import re
import sys

import pytest

from autoseg.benchmark.dataset_run import choose_configurations
from autoseg.benchmark.heldout import choose_overlay_cases, heldout_set
from autoseg.benchmark.run import benchmark
from autoseg.benchmark.stage import run_stage
from autoseg.benchmark.throughput import training_throughput
from autoseg.data.dataset import load_dataset
from autoseg.data.synthetic import make_synthetic_dataset
from autoseg.errors import AutosegError
from autoseg.schema.plans import load_plans
from autoseg.utils.files import write_json


@pytest.mark.slow
def test_benchmark_writes_a_report_with_every_stage_measured(synthetic_3d, tmp_path):
    report_dir = tmp_path / "R"
    report = benchmark(
        [synthetic_3d], report_dir, configs=["3d_fullres"], preset="cpu-fast", epochs=1, cpu_gflops=40, progress=False
    )
    saved = json.loads((report_dir / "report.json").read_text())
    assert saved == json.loads(json.dumps(report))
    assert saved["machine"]["logical_cores"] >= 1 and saved["versions"]["torch"]
    assert "--epochs 1" in saved["command"] and "--configurations 3d_fullres" in saved["command"]
    record = saved["datasets"][0]
    assert record["status"] == "ok", record["error"]
    stages = {s["name"]: s for s in record["stages"]}
    assert list(stages) == [
        "verify",
        "plan",
        "train 3d_fullres fold 0",
        "find-best",
        "predict (TTA)",
        "evaluate (TTA)",
        "predict (no TTA)",
        "evaluate (no TTA)",
    ]
    assert all(s["returncode"] == 0 and s["seconds"] > 0 for s in stages.values())
    # The trainer and its workers hold a network, batches and the cache: far more than an idle interpreter.
    assert stages["train 3d_fullres fold 0"]["peak_ram_mb"] > stages["verify"]["peak_ram_mb"] > 20
    assert (report_dir / stages["plan"]["log"]).read_text().startswith("$ ")

    fold = record["configurations"]["3d_fullres"]["folds"]["0"]
    assert fold["epochs"] == 1 and fold["iterations"] > 0
    assert fold["iterations_per_second"] > 0 and fold["samples_per_second"] > 0
    evaluation = record["evaluation"]
    assert evaluation["set"] == "test" and evaluation["cases"] == 2  # synthetic_3d has a labelled test set
    for tag in ("tta", "no_tta"):
        scores = evaluation[tag]
        assert set(scores["per_class"]) == {"organ", "lesion"}
        assert 0 <= scores["foreground_mean"]["Dice"] <= 1
        assert sorted(scores["case_dice"]) == ["case_010", "case_011"]
        assert 0 < scores["seconds_per_case"] <= scores["command_seconds_per_case"]
    assert record["selection"]["configurations"] == ["3d_fullres"]

    assert (report_dir / fold["curves"]).stat().st_size > 1000
    pictures = [o["path"] for o in record["overlays"]]
    assert len(pictures) == 2 and all((report_dir / p).stat().st_size > 1000 for p in pictures)
    markdown = (report_dir / "report.md").read_text()
    assert all(f"]({p})" in markdown for p in pictures)
    assert "one epoch only" in markdown  # a one-point curve is an empty plot: it is left out
    page = (report_dir / "report.html").read_text()
    assert page.count("data:image/png;base64,") == len(pictures)
    assert not re.search(r"<img src=\"(?!data:)", page), "the page must not depend on other files"


def test_failed_stage_is_recorded_and_the_report_still_written(tmp_path):
    dataset = tmp_path / "Broken"
    make_synthetic_dataset(dataset, num_cases=3, shape=(24, 24), file_ending=".png", num_classes=2)
    next((dataset / "labelsTr").iterdir()).unlink()
    report = benchmark([dataset], tmp_path / "R", epochs=1, progress=False)
    record = report["datasets"][0]
    assert record["status"] == "failed" and "verify" in record["error"]
    assert [s["name"] for s in record["stages"]] == ["verify"]
    assert "FAILED" in (tmp_path / "R" / "report.md").read_text()


def test_report_folder_must_be_new(synthetic_3d, tmp_path):
    (tmp_path / "R").mkdir()
    (tmp_path / "R" / "old.txt").write_text("x")
    with pytest.raises(AutosegError, match="not empty"):
        benchmark([synthetic_3d], tmp_path / "R", epochs=1)
    with pytest.raises(AutosegError, match="fold numbers"):
        benchmark([synthetic_3d], tmp_path / "new", folds=["all"])


def test_stage_peak_memory_covers_child_processes(tmp_path):
    # A child that starts a grandchild holding ~150 MB: the tree's peak must include the grandchild.
    grandchild = "import time; b = bytearray(150 * 2**20); b[::4096] = b'x' * len(b[::4096]); time.sleep(1.5)"
    child = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {grandchild!r}])"
    result = run_stage("alloc", [sys.executable, "-c", child], tmp_path / "alloc.log")
    assert result.returncode == 0
    assert 140 < result.peak_ram_mb < 400
    assert result.peak_rss_sum_mb >= result.peak_ram_mb


def test_held_out_cases_are_the_folds_validation_cases(tmp_path):
    dataset = make_synthetic_dataset(tmp_path / "D", num_cases=4, shape=(16, 16), file_ending=".png", num_classes=2)
    work = tmp_path / "W"
    write_json(
        work / "splits.json",
        [
            {"train": ["case_002", "case_003"], "val": ["case_000", "case_001"]},
            {"train": ["case_000", "case_001"], "val": ["case_002", "case_003"]},
        ],
    )
    held_out = heldout_set(load_dataset(dataset), work, [1])
    assert held_out.kind == "cross-validation" and held_out.case_ids == ["case_002", "case_003"]
    assert sorted(p.name for p in held_out.labels_dir.iterdir()) == ["case_002.png", "case_003.png"]
    [(label, images, options)] = held_out.predict_jobs(["2d"], [1])
    assert sorted(p.name for p in images.iterdir()) == ["case_002_0000.png", "case_003_0000.png"]
    assert options == ["-c", "2d", "-f", "1", "--no-postprocessing"] and label == "fold 1 "


def test_overlay_cases_worst_median_best_without_repeats():
    def case(name, dice):
        return {"case": name, "metrics": {"a": {"Dice": dice}, "b": {"Dice": dice}}}

    summary = {"cases": [case("c1", 0.9), case("c2", 0.1), case("c3", 0.5), case("c4", 0.7)]}
    assert [(k, c) for k, c, _ in choose_overlay_cases(summary)] == [("worst", "c2"), ("median", "c4"), ("best", "c1")]
    two = {"cases": [case("c1", 0.9), case("c2", 0.1)]}
    assert [k for k, _, _ in choose_overlay_cases(two)] == ["worst", "best"]


def test_configurations_skip_what_the_plan_lacks(planned_3d):
    plans = load_plans(planned_3d)
    names, skipped = choose_configurations(plans, ["3d_fullres", "3d_lowres"])
    assert names == ["3d_fullres"] and "3d_lowres" in skipped
    assert choose_configurations(plans, None)[0] == list(plans.configurations)  # every planned one
    with pytest.raises(AutosegError, match="none of the configurations"):
        choose_configurations(plans, ["3d_lowres"])


def test_throughput_counts_progressive_phase_with_its_own_batch(planned_3d):
    config = load_plans(planned_3d).configuration("3d_fullres")
    config.training.progressive_fraction = 0.5
    config.training.progressive_patch_size = [8, 16, 16]
    config.training.progressive_batch_size = 2 * config.batch_size
    history = [{"iterations": 10, "elapsed_s": 40.0}, {"iterations": 20, "elapsed_s": 100.0}]
    result = training_throughput(history, config, 100.0, budget_seconds=100.0)
    samples = 10 * 2 * config.batch_size + 10 * config.batch_size
    assert result["samples_per_second"] == pytest.approx(samples / 100.0)


def test_sampler_reads_the_costly_pss_only_on_a_new_high(monkeypatch):
    # PSS walks the page tables under the measured process's memory lock: in steady state it is read rarely.
    from autoseg.benchmark import stage

    reads = []
    monkeypatch.setattr(stage, "_pss", lambda process: reads.append(1) or 100 * 2**20)
    sampler = stage.TreeMemorySampler(os.getpid())
    for _ in range(20):
        sampler.sample()
    assert len(reads) == 1 and sampler.peak_pss == 100 * 2**20 and sampler.peak_rss > 0
    monkeypatch.setattr(stage, "_rss", lambda process: 10 * 2**30)  # a new high: read again
    sampler.sample()
    assert len(reads) == 2
