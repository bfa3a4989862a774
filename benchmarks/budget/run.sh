#!/usr/bin/env bash
# Issue 32: held-out Dice against the CPU time budget, the budget policy (default preset) against the old rule
# (old_policy.json: no reference budget, so a longer budget grows the patch as before). One model each: fold 0 of
# the configuration nnU-Net users train first (2d for ISBI, 3d_fullres for Hippocampus), scored on the held-out
# cases of a view (benchmarks/scheduler/holdout_view.py: Hippocampus's last 40 cases, ISBI's slices 24-29), which
# no model trains on. Each run holds the machine alone (cpu-lock exclusive); a finished run is skipped, and a
# killed one (a 4-hour run outlives a session) continues with `autoseg benchmark --resume`.
# POLICIES: new (default preset), old (old_policy.json), uncapped (uncapped.json: the policy without its cap on
# passes over the training images, as the runs that set the cap trained), or an alternative way to spend the
# budget, each a preset here sized to the whole budget as before the policy: wide (2x features), resenc (residual
# encoder), batch (4x).
#
# Usage: bash benchmarks/budget/run.sh OUT [BUDGETS (default "15m 1h")] [POLICIES (default "new old")]
#        DATASETS="isbi" bash benchmarks/budget/run.sh OUT "15m 1h 4h" new
# Then:  python benchmarks/budget/summarize.py OUT   (results.md, results.json, dice_vs_budget.png here)
# Budgets up to 15 minutes plan the same under both policies: run them once, as "new".
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
DATA="${DATA:-$HERE/../../../shared/data}"
OUT="${1:?usage: run.sh OUT [BUDGETS] [POLICIES]}"
BUDGETS="${2:-15m 1h}"
POLICIES="${3:-new old}"
DATASETS="${DATASETS:-isbi hippocampus}"
LOCK="${LOCK-cpu-lock exclusive}"   # LOCK= (empty) runs without the lock (a machine of your own)
# GFLOPS=100: every plan uses this CPU rate instead of measuring it, so the 15-minute plan and the reference plan
# inside a longer budget's plan come out the same (two measurements differ by 10-20% and can change the patch).
RATE=(); [ -n "${GFLOPS:-}" ] && RATE=(--cpu-gflops "$GFLOPS")
mkdir -p "$OUT/views"
[ -d "$OUT/views/hippocampus" ] || python "$HERE/../scheduler/holdout_view.py" "$DATA/Task04_Hippocampus" "$OUT/views/hippocampus" --last 40
[ -d "$OUT/views/isbi" ] || python "$HERE/../scheduler/holdout_view.py" "$DATA/Dataset002_ISBIMembranes" "$OUT/views/isbi" --last 6
declare -A CONFIG=([hippocampus]=3d_fullres [isbi]=2d)

for budget in $BUDGETS; do
  for ds in $DATASETS; do
    for policy in $POLICIES; do
      name="${ds}_${policy}_${budget}"
      case "$policy" in   # new: the default preset; old, uncapped and the alternatives (wide, resenc, batch): a preset here
        new) preset=default ;; old) preset="$HERE/old_policy.json" ;; *) preset="$HERE/$policy.json" ;;
      esac
      if [ "$policy" != new ] && [ "$budget" = 15m ]; then continue; fi
      if [ -f "$OUT/$name/work/$ds/heldout/summary_tta.json" ]; then echo "skip $name (done)"; continue; fi
      resume=(); [ -f "$OUT/$name/benchmark_settings.json" ] && resume=(--resume)   # killed (a session ended)
      echo "$(date -u +%FT%TZ) $name ${resume[*]}"
      $LOCK autoseg benchmark "$OUT/views/$ds" --time-budget "$budget" -c "${CONFIG[$ds]}" -f 0 \
        --preset "$preset" "${RATE[@]}" "${resume[@]}" -o "$OUT/$name" >> "$OUT/$name.log" 2>&1 \
        || echo "$name FAILED (see $OUT/$name.log)"
    done
  done
done
python "$HERE/summarize.py" "$OUT"
