#!/usr/bin/env bash
# Issue 21: Dice on held-out cases as a function of the total budget, scheduler vs "all of it on one model".
# For each dataset and budget (15m, 30m, 1h) two benchmark runs, one after the other, each holding the machine
# alone (cpu-lock exclusive):
#   scheduler: autoseg benchmark VIEW --total-budget B --time-budget 15m   (the plan is sized for 15-minute models)
#   simple:    autoseg benchmark VIEW --time-budget B --configurations 3d_fullres --folds 0   (2d for ISBI)
# Both score the same labelled test set of a view (holdout_view.py: Hippocampus's last 40 cases, ISBI's slices
# 24-29), which no model trains on. About 7.5 hours in all. Then: python benchmarks/scheduler/summarize.py OUT
# and, for a run whose schedule ensembled folds: python benchmarks/scheduler/members.py OUT/RUN (each fold alone).
#
# Usage: bash benchmarks/scheduler/run.sh OUT [BUDGETS (default "15m 30m 1h")]   (OUT: a folder outside the repository)
#        DATASETS="hippocampus" bash benchmarks/scheduler/run.sh ...   (a subset; default "hippocampus isbi")
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
DATA="${DATA:-$HERE/../../../shared/data}"
OUT="${1:?usage: bash benchmarks/scheduler/run.sh OUT [BUDGETS]  (OUT: a folder outside the repository)}"
BUDGETS="${2:-15m 30m 1h}"
mkdir -p "$OUT/views"
[ -d "$OUT/views/hippocampus" ] || python "$HERE/holdout_view.py" "$DATA/Task04_Hippocampus" "$OUT/views/hippocampus" --last 40
[ -d "$OUT/views/isbi" ] || python "$HERE/holdout_view.py" "$DATA/Dataset002_ISBIMembranes" "$OUT/views/isbi" --last 6
DATASETS="${DATASETS:-hippocampus isbi}"
LOCK="${LOCK-cpu-lock exclusive}"   # LOCK= (empty) runs without the lock (a machine of your own)

run() {  # name, then the benchmark arguments; a finished run (report.json with every dataset ok) is skipped
  local name="$1"; shift
  if [ -f "$OUT/$name/report.json" ] && python -c "import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if all(d['status']=='ok' for d in r['datasets']) else 1)" "$OUT/$name/report.json"; then
    echo "skip $name (done)"; return
  fi
  rm -rf "${OUT:?}/$name"
  echo "$(date -u +%FT%TZ) $name: autoseg benchmark $*"
  $LOCK autoseg benchmark "$@" -o "$OUT/$name" > "$OUT/$name.log" 2>&1 || echo "$name FAILED (see $OUT/$name.log)"
}

declare -A SIMPLE_CONFIG=([hippocampus]=3d_fullres [isbi]=2d)
for budget in $BUDGETS; do
  for ds in $DATASETS; do
    run "${ds}_scheduler_$budget" "$OUT/views/$ds" --total-budget "$budget" --time-budget 15m
    run "${ds}_simple_$budget" "$OUT/views/$ds" --time-budget "$budget" --configurations "${SIMPLE_CONFIG[$ds]}" --folds 0
  done
done
python "$HERE/summarize.py" "$OUT"
