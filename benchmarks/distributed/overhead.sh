#!/usr/bin/env bash
# Ray's overhead: the same tiny schedule in this process and through `--ray local`, wall time side by side,
# and the start-up of the embedded Ray. Run on a quiet machine (the numbers are wall times):
#   cpu-lock exclusive bash benchmarks/distributed/overhead.sh OUT [TOTAL, default 10m]
set -euo pipefail
OUT=${1:?usage: overhead.sh OUT_DIR [TOTAL]}
TOTAL=${2:-10m}
mkdir -p "$OUT"
python - "$OUT" <<'PY'
import sys
from pathlib import Path
from autoseg.data.synthetic import make_synthetic_dataset
out = Path(sys.argv[1])
if not (out / "Tiny").exists():
    make_synthetic_dataset(out / "Tiny", num_cases=10, num_test=2, shape=(12, 40, 40), spacing=(3.0, 0.9, 0.9),
                           seed=3, name="Tiny")
PY
[ -d "$OUT/plan" ] || autoseg plan "$OUT/Tiny" -o "$OUT/plan" --preset cpu-fast --cpu-gflops 40 --time-budget 2m --cv-folds 5
for mode in local ray; do
  rm -rf "$OUT/work_$mode" && cp -r "$OUT/plan" "$OUT/work_$mode"
done
calc() { python -c "print(round($1, 1))"; }
seconds() { local s=$(date +%s.%N); "$@" > "$OUT/$LOG.log" 2>&1; calc "$(date +%s.%N) - $s"; }
LOG=local; t_local=$(seconds autoseg train "$OUT/work_local" --total-budget "$TOTAL")
LOG=ray;   t_ray=$(seconds autoseg train "$OUT/work_ray" --total-budget "$TOTAL" --ray local)
LOG=startup; t_start=$(seconds python -c "
import time, ray
t = time.monotonic(); ray.init(include_dashboard=False, _node_ip_address='127.0.0.1')
print(f'{time.monotonic() - t:.2f}'); ray.shutdown()")
startup=$(tail -1 "$OUT/startup.log")
echo "| run | wall time (s) |"
echo "|---|---|"
echo "| train --total-budget $TOTAL (in this process) | $t_local |"
echo "| train --total-budget $TOTAL --ray local | $t_ray |"
echo "| overhead | $(calc "100 * ($t_ray - $t_local) / $t_local") % |"
echo "| ray.init (embedded, start-up) | $startup |"
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p') ($(nproc) cores)"
