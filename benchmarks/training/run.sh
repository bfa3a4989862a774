#!/usr/bin/env bash
# The training targets of issue 4, on the real datasets in ../shared/data, one heavy job at a time.
#   AUTOSEG_BENCH_WORK=WORK bash benchmarks/training/run.sh hippocampus     # 3d_fullres, fold 0, 15 minutes
#   AUTOSEG_BENCH_WORK=WORK bash benchmarks/training/run.sh isbi            # 2d, fold 4 (slices 24-29 held out), 10 minutes
# Each run plans into $AUTOSEG_BENCH_WORK/<name> (WORK, a folder outside the repository you choose; required),
# measuring CPU speed, trains, validates on the full held-out images, and appends the numbers to
# benchmarks/training/results.json / results.md, its command written with DATA and WORK for the folders.
# Datasets come from $AUTOSEG_DATA (DATA, default ../shared/data beside the repository).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
data="${AUTOSEG_DATA:-$here/../../../shared/data}"
root="${AUTOSEG_BENCH_WORK:?set AUTOSEG_BENCH_WORK to a work folder outside the repository (WORK)}"
case "${1:-}" in
  hippocampus) dataset="$data/Task04_Hippocampus"; config=3d_fullres; fold=0; budget=15m ;;
  isbi)        dataset="$data/Dataset002_ISBIMembranes"; config=2d; fold=4; budget=10m ;;
  *) echo "usage: $0 hippocampus|isbi" >&2; exit 2 ;;
esac
work="$root/$1"
rm -rf "$work"
plan_cmd=(autoseg plan "$dataset" -o "$work" --time-budget "$budget" -c "$config")
train_cmd=(autoseg train "$work" -c "$config" -f "$fold" --time-budget "$budget")
"${plan_cmd[@]}"
/usr/bin/time -v "${train_cmd[@]}" 2> "$work/time.txt"
# the record names the folders DATA and WORK, not this machine's (benchmarks/README.md)
shown="${plan_cmd[*]} && ${train_cmd[*]}"; shown="${shown//"$data"/DATA}"; shown="${shown//"$root"/WORK}"
python3 "$here/record.py" "$work" "$config" "$fold" --name "$1" --command "$shown"
