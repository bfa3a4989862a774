"""The 2-node fault run: a Ray cluster of 2 nodes on this machine (ray.cluster_utils.Cluster: real raylets,
loopback only), `train -f 0 1` with one fold on each node, the node of fold 0 removed once that fold has a
checkpoint, a fresh node added; fold 0 resumes there from checkpoint_latest.pt and both folds finish.

    python benchmarks/distributed/fault_run.py OUT [EPOCHS]
Prints where each attempt ran, the resume lines of the logs, and the wall time.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.ray_cluster import add_worker, start_cluster, stop_cluster, tiny_work  # noqa: E402


def main(out: Path, epochs: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    _, work = tiny_work(out, name=f"Fault{int(time.time())}")
    cluster = start_cluster()
    try:
        started = time.monotonic()
        driver = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "autoseg.cli",
                "train",
                str(work),
                "-c",
                "3d_fullres",
                "-f",
                "0",
                "1",
                "--epochs",
                str(epochs),
                "--workers",
                "0",
                "--ray",
                cluster.address,
            ]
        )
        fold = work / "models" / "3d_fullres" / "fold_0"
        attempts = fold.parent / ".fold_0.attempts.json"
        while driver.poll() is None and not ((fold / "history.json").is_file() and attempts.is_file()):
            time.sleep(0.2)
        node = json.loads(attempts.read_text())[0]["node_id"]
        print(
            f"removing node {node[:12]} (fold 0 after epoch "
            f"{len(json.loads((fold / 'history.json').read_text()))}) at {time.monotonic() - started:.1f} s"
        )
        cluster.remove_node(next(n for n in cluster.worker_nodes if n.node_id == node))
        add_worker(cluster)
        driver.wait()
        print(f"driver exit {driver.returncode} after {time.monotonic() - started:.1f} s")
        for f in (0, 1):
            ran = json.loads((fold.parent / f"fold_{f}" / "training_summary.json").read_text())["ran_on"]
            print(
                f"fold {f}: "
                + "; ".join(
                    f"attempt {a['attempt']} on {a['node_id'][:12]} {a['started']}-{a['ended']} {a['outcome']}"
                    for a in ran["attempts"]
                )
            )
        for line in (fold / "train.log").read_text().splitlines():
            if "resuming" in line or "taking over" in line:
                print("  train.log:", line)
    finally:
        stop_cluster(cluster)


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 4)
