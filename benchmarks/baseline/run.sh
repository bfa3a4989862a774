#!/usr/bin/env bash
# The hand-written yardstick of issue 4 on this machine, on the split autoseg's training benchmark used:
#   export AUTOSEG_BENCH_WORK=WORK   # a work folder outside the repository, the same for both scripts
#   bash benchmarks/training/run.sh hippocampus && bash benchmarks/baseline/run.sh hippocampus   # fold 0, 15 min
#   bash benchmarks/training/run.sh isbi && bash benchmarks/baseline/run.sh isbi                 # fold 4, 10 min
# Appends to benchmarks/baseline/results.json; predictions and links to the references go to
# $AUTOSEG_BENCH_WORK/baseline_<name> (WORK/baseline_<name> in the records), where `autoseg evaluate` can score them again.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
data="${AUTOSEG_DATA:-$here/../../../shared/data}"
root="${AUTOSEG_BENCH_WORK:?set AUTOSEG_BENCH_WORK to the work folder of benchmarks/training/run.sh (WORK)}"
case "${1:-}" in
  hippocampus) dataset="$data/Task04_Hippocampus"; fold=0; minutes=15; dims=3 ;;
  isbi)        dataset="$data/Dataset002_ISBIMembranes"; fold=4; minutes=10; dims=2 ;;
  *) echo "usage: $0 hippocampus|isbi" >&2; exit 2 ;;
esac
splits="$root/$1/splits.json"
if [ ! -f "$splits" ]; then
  echo "$splits not found: run 'bash benchmarks/training/run.sh $1' first (or 'autoseg plan' into $root/$1)" >&2
  exit 2
fi
out="$root/baseline_$1"
rm -rf "$out"
python3 "$here/handwritten_unet.py" "$dataset" "$splits" "$fold" "$out" --minutes "$minutes" --dims "$dims" \
  --record "$here/results.json"
