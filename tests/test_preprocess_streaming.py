"""Preprocessing streams cases through workers bounded by memory, and reports its peak RAM in the log."""

from concurrent.futures import ProcessPoolExecutor

import pytest

from autoseg.data.dataset import load_dataset
from autoseg.data.synthetic import make_synthetic_dataset
from autoseg.plan_command import plan
from autoseg.preprocessing import cache as cache_module
from autoseg.preprocessing import memory_plan
from autoseg.preprocessing.memory_plan import case_peak_bytes, plan_workers
from autoseg.schema.plans import load_plans


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    root = tmp_path_factory.mktemp("stream")
    data = make_synthetic_dataset(root / "D", num_cases=4, shape=(12, 40, 40), num_classes=2)
    plan(
        data,
        root / "W",
        cpu_gflops=40,
        time_budget="2m",
        progress=False,
        workers=1,
        preprocess=False,
        configurations=["3d_fullres"],
    )
    return data, root / "W"


def test_workers_are_bounded_by_the_memory_the_largest_case_needs(planned):
    data, work = planned
    info, plans = load_dataset(data), load_plans(work)
    config = plans.configuration("3d_fullres")
    need = case_peak_bytes(info.training[0], plans, config)
    assert need > memory_plan.WORKER_BASE_BYTES
    assert plan_workers(info.training, plans, config, requested=2, budget_bytes=1.5 * need).workers == 1
    assert plan_workers(info.training, plans, config, requested=2, budget_bytes=10 * need).workers == 2
    assert plan_workers(info.training, plans, config, requested=8, budget_bytes=100 * need).workers == 4
    assert plan_workers(info.training[:1], plans, config, requested=2, budget_bytes=100 * need).workers == 1


def test_preprocessing_uses_the_bounded_pool_and_logs_its_peak_ram(planned, monkeypatch, tmp_path):
    data, work = planned
    pools = []

    class RecordingPool(ProcessPoolExecutor):
        def __init__(self, workers):
            pools.append(workers)
            super().__init__(workers)

    monkeypatch.setattr(cache_module, "ProcessPoolExecutor", RecordingPool)
    monkeypatch.setattr(memory_plan, "MEMORY_BUDGET_BYTES", 10**15)
    monkeypatch.setattr(memory_plan.psutil, "virtual_memory", lambda: type("M", (), {"available": 10**15})())
    from autoseg.preprocessing.run import preprocess

    folders = preprocess(work, ["3d_fullres"], workers=2, progress=False)
    assert pools == [2] and len(list(folders["3d_fullres"].glob("*_seg.npy"))) == 4
    log = (work / "preprocess.log").read_text()
    assert "2 worker(s): the largest case needs" in log
    assert "preprocessed 4 case(s)" in log and "peak RAM" in log
