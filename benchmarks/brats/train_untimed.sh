#!/bin/bash
# The untimed part of the BraTS / synthetic-CT record: plan and train (3d_lowres on both folds, so each training
# case of the cascade gets an out-of-fold low-resolution prediction; the cascade; 3d_fullres to weigh it against).
# Run while other jobs share the CPU: training stops at its time budget, so the shared CPU costs iterations, not
# time; the peak RAM of every stage is still its own. Each step is a measured stage (stage.py).
#   WORK=FOLDER bash benchmarks/brats/train_untimed.sh brats|ct   (FOLDER: outside the repository)
set -u
cd "$(dirname "$0")/../.."
# WORK: where the work folders go, kept for the later steps; DATA: the datasets (default ../shared/data); both
# taken from the repository when relative
H=${WORK:?set WORK to a work folder outside the repository}; H=$(realpath -m "$H")
case "$1" in
brats)
  # (the recorded run trained 3d_lowres fold 0 for 3m, the others 2m: the budget was cut while it ran, to fit
  # the CPU others were sharing)
  D=$(realpath -m "${DATA:-../shared/data}")/Dataset003_BraTSSample; W=$H/brats2; R=$H/brats2_stages/records.json; B=2m
  PLAN=(--cv-folds 2 --regions benchmarks/brats/regions.json --cpu-gflops 160)
  # 3d_lowres validates with TTA (its predictions are the cascade's inputs); the cascade and 3d_fullres were
  # trained by train_no_tta_validation.py (closing validation without TTA), the two chains side by side:
  #   python benchmarks/brats/train_no_tta_validation.py $W 3d_fullres|3d_cascade_fullres 0|1 2m
  JOBS=("3d_lowres 0" "3d_lowres 1");;
ct)
  python benchmarks/brats/make_ct.py "$H/ct"
  D=$H/ct/Dataset901_SyntheticCT; W=$H/ct/work; R=$H/ct_stages/records.json; B=2m
  PLAN=(--cv-folds 2 --cpu-gflops 160)
  # no closing validation for the full-resolution stages: with mirror TTA over 80x512x512 cases it would take
  # longer than their training (the 3d_lowres validation is kept: it is the cascade's out-of-fold input)
  # (3d_fullres is not trained for CT: the 400-slice case is predicted by the cascade, and the shared CPU left no
  # time for a find-best between them)
  JOBS=("3d_lowres 0" "3d_lowres 1" "3d_cascade_fullres 0 --no-validation");;
*) echo "usage: $0 brats|ct" >&2; exit 2;;
esac
S="python benchmarks/brats/stage.py $R"
cpu-lock shared $S "plan" -- autoseg plan $D -o $W "${PLAN[@]}" || exit 1
for job in "${JOBS[@]}"; do
  set -- $job
  cpu-lock shared $S "train $1 fold $2" -- autoseg train $W -c $1 -f $2 --time-budget $B ${3:-}
done
