#!/usr/bin/env bash
# Install nnU-Net v2 into its own virtual environment (outside the repo), next to CPU torch 2.13.0.
#   bash benchmarks/nnunet/setup_venv.sh [VENV]        (default: nnunet_venv beside the repository)
# Steps, each needed on this machine (see issue 7):
#   1. torch==2.13.0 first (the CPU build on disk); 2. nnunetv2 with torch pinned by constraints.txt, or pip
#   pulls a CUDA torch; 3. the torchvision pip then brings is a CUDA build whose operators do not exist beside
#   CPU torch: patch_torchvision.py makes its fake-kernel registrations skip them, in this venv only.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
VENV="${1:-$HERE/../../../nnunet_venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet torch==2.13.0
"$VENV/bin/python" -m pip install --quiet -c "$HERE/constraints.txt" nnunetv2
"$VENV/bin/python" "$HERE/patch_torchvision.py"
"$VENV/bin/python" - <<'PY'
import importlib.metadata as md
import torch, torchvision, nnunetv2  # noqa: F401  (importing is the check)
print("nnunetv2", md.version("nnunetv2"), "| torch", torch.__version__, "| torchvision", torchvision.__version__)
PY
