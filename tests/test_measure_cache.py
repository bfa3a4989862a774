"""Training-speed measurements during planning: each distinct sizing is timed once, and a re-plan reuses them."""

import json

import pytest

from autoseg.planning import budget as budget_module
from autoseg.planning.budget import DeviceBudget
from autoseg.planning.measure_cache import CACHE_FILE, MeasurementCache, measurement_key
from autoseg.planning.planner import plan_configurations
from autoseg.planning.presets import load_preset
from tests.test_planning_rules import fingerprint


@pytest.fixture
def timed(monkeypatch):
    """measure_cpu_flops replaced by a fake that records what it was asked to time (45 GFLOP/s for all)."""
    calls = []

    def fake(spec, patch_size, batch_size, iterations=3):
        calls.append((json.dumps(spec.__dict__, default=str, sort_keys=True), tuple(patch_size), batch_size))
        return 45e9

    monkeypatch.setattr(budget_module, "measure_cpu_flops", fake)
    return calls


def _plan(rate):
    budget = DeviceBudget(kind="cpu", name="test", time_budget_s=600, threads=2)
    fp = fingerprint((155, 240, 240), (1.0, 1.0, 1.0), n=4, channels=("FLAIR", "T1c"), labels=5)
    return plan_configurations(fp, load_preset("default"), budget, rate)


@pytest.mark.slow
def test_each_sizing_is_measured_once_and_a_replan_measures_nothing(timed, tmp_path):
    cache = MeasurementCache(tmp_path / CACHE_FILE)
    first = _plan(cache.rate)
    assert "3d_lowres" in first["configurations"]  # the low-resolution search asks for many sizings
    assert cache.measured == len(timed) == len(set(timed))  # never the same network, patch and batch twice
    assert cache.reused > 0
    again = MeasurementCache(tmp_path / CACHE_FILE)
    second = _plan(again.rate)
    assert again.measured == 0 and len(timed) == cache.measured
    assert {k: c.patch_size for k, c in second["configurations"].items()} == {
        k: c.patch_size for k, c in first["configurations"].items()
    }


@pytest.mark.slow
def test_the_key_changes_with_network_patch_or_batch_and_a_broken_cache_file_is_ignored(timed, tmp_path):
    cache = MeasurementCache()
    plans = _plan(cache.rate)
    config = plans["configurations"]["3d_fullres"]
    from autoseg.planning.patch_and_batch import Sizing

    sizing = Sizing(config.patch_size, config.batch_size, None, config.network, {}, None, [])
    smaller = Sizing([p // 2 for p in config.patch_size], config.batch_size, None, config.network, {}, None, [])
    bigger_batch = Sizing(config.patch_size, config.batch_size + 1, None, config.network, {}, None, [])
    keys = {measurement_key(s)[0] for s in (sizing, smaller, bigger_batch)}
    assert len(keys) == 3
    (tmp_path / CACHE_FILE).write_text("{not json")
    broken = MeasurementCache(tmp_path / CACHE_FILE)
    assert broken.entries == {}
    broken.rate("3d", sizing)
    assert broken.measured == 1 and json.loads((tmp_path / CACHE_FILE).read_text())["version"] == 1
