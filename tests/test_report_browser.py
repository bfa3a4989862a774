"""The benchmark's HTML report in a real browser (issue 31): Debian's headless Chromium opens report.html, every
image decodes (naturalWidth > 0), the tables are there with their rows, and the console stays silent (the page has
no scripts of its own, so any console line is a problem: a blocked resource, a parse error). A full-page
screenshot is kept in the test's folder and copied to tests/artifacts/ (ignored by git) for a person to look at.

Chromium is driven from the command line only (no DevTools client, no extra packages): --dump-dom prints the DOM
after the load event, into which a checking script appended to a copy of the page writes what it measured, and
--enable-logging=stderr prints every console message as a CONSOLE line."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from autoseg.benchmark.run import benchmark

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).parent / "artifacts"
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install chromium; .ci/run installs it)"
)

# Appended to a copy of the page: after the load event (images decoded or failed) it writes its findings into
# the DOM, which --dump-dom prints.
CHECK = """<script>
window.addEventListener("load", () => {
  const images = [...document.images].map(i => ({alt: i.alt, complete: i.complete, width: i.naturalWidth,
                                                 height: i.naturalHeight}));
  const tables = [...document.querySelectorAll("table")].map(t => ({
    columns: t.tHead ? t.tHead.rows[0].cells.length : 0, rows: t.tBodies.length ? t.tBodies[0].rows.length : 0}));
  const out = document.createElement("pre");
  out.id = "browser-check";
  out.textContent = JSON.stringify({images, tables, title: document.title,
                                    headings: [...document.querySelectorAll("h1, h2")].map(h => h.textContent),
                                    height: document.documentElement.scrollHeight});
  document.body.appendChild(out);
});
</script>"""
WIDTH = 1280
MAX_HEIGHT = 16000


def _chromium(out: Path, *arguments: str) -> subprocess.CompletedProcess:
    """Headless Chromium with a profile of its own; as root (CI containers) it needs --no-sandbox."""
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        f"--user-data-dir={out / 'chromium-profile'}",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=10000",
        *arguments,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def _has_mlflow() -> bool:
    try:
        import mlflow  # noqa: F401
    except ImportError:
        return False
    return True


def _console_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


@pytest.fixture(scope="module")
def report_dir(synthetic_3d, tmp_path_factory) -> Path:
    """A real benchmark of the tiny synthetic dataset (as tests/test_benchmark.py runs it): two epochs, so the
    report has a training curve as well as the overlays. Tracked with MLflow when it is installed, so the same
    run also shows the benchmark's parent run (one benchmark is the costly part of both tests)."""
    folder = tmp_path_factory.mktemp("browser") / "R"
    report = benchmark(
        [synthetic_3d],
        folder,
        configs=["3d_fullres"],
        preset="cpu-fast",
        epochs=2,
        cpu_gflops=40,
        progress=False,
        mlflow="" if _has_mlflow() else None,
    )
    assert report["datasets"][0]["status"] == "ok", report["datasets"][0]["error"]
    return folder


@pytest.mark.slow
def test_report_opens_in_chromium_with_every_image_and_table_and_no_console_message(report_dir, tmp_path):
    page = report_dir / "report.html"
    checked = tmp_path / "report_checked.html"
    checked.write_text(page.read_text().replace("</body>", CHECK + "</body>"))
    result = _chromium(tmp_path, "--dump-dom", checked.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    found = re.search(r'<pre id="browser-check">(.*?)</pre>', result.stdout, re.S)
    assert found, "the page did not finish loading: " + result.stderr[-2000:]
    seen = json.loads(
        found.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    )
    assert _console_lines(result.stderr) == []

    record = json.loads((report_dir / "report.json").read_text())["datasets"][0]
    pictures = [o["path"] for o in record["overlays"]] + [
        fold["curves"] for fold in record["configurations"]["3d_fullres"]["folds"].values()
    ]
    assert len(seen["images"]) == len(pictures) == 3
    broken = [i for i in seen["images"] if not (i["complete"] and i["width"] > 0 and i["height"] > 0)]
    assert not broken, f"images that did not load: {broken}"
    assert seen["title"] == "autoseg benchmark" and seen["headings"][0] == "autoseg benchmark"
    assert len(seen["tables"]) >= 5 and all(t["columns"] >= 2 and t["rows"] >= 1 for t in seen["tables"])

    shot = _screenshot(page, tmp_path, seen["height"])
    print(f"screenshot of the report: {shot} (copy: {ARTIFACTS / shot.name})")


def _screenshot(page: Path, out: Path, height: int) -> Path:
    """The whole page (as tall as the browser laid it out), kept in the test's folder and tests/artifacts/."""
    shot = out / "benchmark_report.png"
    result = _chromium(
        out, f"--window-size={WIDTH},{min(max(height, 800), MAX_HEIGHT)}", f"--screenshot={shot}", page.as_uri()
    )
    assert result.returncode == 0 and shot.stat().st_size > 10_000, result.stderr[-2000:]
    assert _console_lines(result.stderr) == []
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copyfile(shot, ARTIFACTS / shot.name)
    return shot


@pytest.mark.slow
def test_benchmark_is_an_mlflow_parent_run_with_its_training_nested(report_dir):
    """The benchmark's training stage is another process: it gets the store, experiment and parent run id as
    train --mlflow URI --mlflow-experiment NAME --mlflow-parent ID."""
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{(report_dir / 'mlflow.db').resolve()}")
    experiment = client.get_experiment_by_name("autoseg benchmark")
    runs = client.search_runs([experiment.experiment_id])
    parent = next(r for r in runs if r.data.tags.get("kind") == "benchmark")
    assert parent.info.run_name == report_dir.name and parent.info.status == "FINISHED"
    assert parent.data.params["epochs"] == "2" and parent.data.params["configs"] == '["3d_fullres"]'
    assert 0 <= parent.data.metrics["Synthetic3D/heldout_dice_tta"] <= 1
    assert {a.path for a in client.list_artifacts(parent.info.run_id)} >= {"report.html", "report.json"}
    nested = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert [r.info.run_name for r in nested] == ["3d_fullres fold 0"]
    training = nested[0]
    assert training.info.status == "FINISHED" and training.data.params["job.epochs"] == "2"
    assert sorted(m.step for m in client.get_metric_history(training.info.run_id, "train_loss")) == [0, 1]
