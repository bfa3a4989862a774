"""Two worker processes share one PostgreSQL-backed study: every trial runs once, none is lost or duplicated.

Needs a PostgreSQL server: .ci/run starts one on loopback and exports AUTOSEG_TEST_POSTGRES_URL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import optuna
import pytest

from tests.conftest import shrink_epochs
from tests.test_search import search_work

URL = os.environ.get("AUTOSEG_TEST_POSTGRES_URL")
TRIALS_PER_WORKER = 3

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.skipif(not URL, reason="AUTOSEG_TEST_POSTGRES_URL is not set (no PostgreSQL server)"),
]


def test_two_workers_on_one_postgres_study_run_every_trial_once(planned_3d, tmp_path):
    work = search_work(planned_3d, tmp_path / "W")
    shrink_epochs(work, iterations=3, val_iterations=1)
    space = tmp_path / "space.json"
    space.write_text(
        json.dumps(
            {
                "architecture": {"choices": ["unet", "residual_unet"]},
                "stages": "plan",
                "base_features": 8,
                "blocks_per_stage": 1,
                "decoder_blocks": 1,
                "kernel_size": 3,
                "batch_size": 2,
                "patch_scale": 1.0,
                "optimizer": "adamw",
            }
        )
    )
    study = f"pgtest_{uuid.uuid4().hex[:8]}"
    command = [
        sys.executable,
        "-m",
        "autoseg.cli",
        "search",
        str(work),
        "-c",
        "3d_fullres",
        "--storage",
        URL,
        "--study",
        study,
        "--trials",
        str(TRIALS_PER_WORKER),
        "--trial-epochs",
        "2",
        "--space",
        str(space),
        "--workers",
        "0",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    workers = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]
    outputs = [w.communicate(timeout=600)[0] for w in workers]
    try:
        assert [w.returncode for w in workers] == [0, 0], "\n".join(o[-3000:] for o in outputs)
        trials = optuna.load_study(study_name=study, storage=URL).get_trials()
        assert sorted(t.number for t in trials) == list(range(2 * TRIALS_PER_WORKER))
        finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL)
        assert all(t.state in finished for t in trials)
        assert not [t.user_attrs.get("error") for t in trials if t.state == optuna.trial.TrialState.FAIL]
        assert len({t.user_attrs["trial_name"] for t in trials}) == len(trials)
        assert len({t.user_attrs["worker"] for t in trials}) == 2, "both workers ran trials"
        assert "3d_fullres_search" in json.loads((work / "plans.json").read_text())["configurations"]
    finally:
        optuna.delete_study(study_name=study, storage=URL)
