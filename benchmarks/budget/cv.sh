#!/usr/bin/env bash
# Issue 32: Hippocampus 5-fold cross-validation at one budget per fold, next to nnU-Net's published 5-fold CV
# (3d_fullres: anterior 0.8975, posterior 0.8807). Every case of Task04 is scored once, by the fold that held it
# out, as nnU-Net's CV does. A run killed by a session's end continues when the command is run again (--resume).
#
# Usage: bash benchmarks/budget/cv.sh OUT [BUDGET (default 15m)]
#        GFLOPS=100 pins the CPU rate the plan assumes (as run.sh does)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
DATA="${DATA:-$HERE/../../../shared/data}"
OUT="${1:?usage: cv.sh OUT [BUDGET]}"
BUDGET="${2:-15m}"
LOCK="${LOCK:-cpu-lock exclusive}"
RATE=(); [ -n "${GFLOPS:-}" ] && RATE=(--cpu-gflops "$GFLOPS")
name="hippocampus_cv_$BUDGET"
mkdir -p "$OUT"
resume=(); [ -f "$OUT/$name/benchmark_settings.json" ] && resume=(--resume)
echo "$(date -u +%FT%TZ) $name ${resume[*]}" | tee -a "$OUT/$name.log"
$LOCK autoseg benchmark "$DATA/Task04_Hippocampus" --time-budget "$BUDGET" -c 3d_fullres -f 0 1 2 3 4 \
  "${RATE[@]}" "${resume[@]}" -o "$OUT/$name" >> "$OUT/$name.log" 2>&1
python - "$OUT/$name/report.json" <<'PY'
import json, sys
record = json.load(open(sys.argv[1]))["datasets"][0]
scores = record["evaluation"]["tta"]
print("5-fold CV, mirror TTA:", {k: round(v["Dice"], 4) for k, v in scores["per_class"].items()},
      "mean", round(scores["foreground_mean"]["Dice"], 4), "| nnU-Net 3d_fullres: Anterior 0.8975, Posterior 0.8807")
PY
