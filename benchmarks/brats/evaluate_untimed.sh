#!/bin/bash
# Scores of the BraTS / synthetic-CT record (untimed, shared CPU):
#  1. BraTS held-out region Dice: each configuration's out-of-fold predictions (training's full-image validation
#     of fold k's held-out cases, mirror TTA) gathered into one folder and scored by `autoseg evaluate --regions`;
#  2. the timed single-case predictions (run_recorded.sh) scored, with and without TTA;
#  3. the CT 400x512x512 case scored.
# Then summarize.py writes results.json / results.md.
set -u
cd "$(dirname "$0")/../.."
# WORK: where run_recorded.sh put its work folders; DATA: the datasets folder (../shared/data by default)
H=${WORK:?set WORK to the work folder of run_recorded.sh}; H=$(realpath -m "$H"); D=$(realpath -m "${DATA:-../shared/data}")/Dataset003_BraTSSample; W=$H/brats2; OUT=$H/recorded
CT=$H/ct/Dataset901_SyntheticCT
EV="cpu-lock shared autoseg evaluate"
for c in 3d_lowres 3d_cascade_fullres 3d_fullres; do
  rm -rf $H/heldout/$c && mkdir -p $H/heldout/$c
  ln -s $W/models/$c/fold_*/validation/*.nii.gz $H/heldout/$c/
  $EV $H/heldout/$c $D/labelsTr -o $H/heldout/summary_$c.json --dataset $D --regions $W/plans.json --overwrite
done
for run in brats_cascade_no_tta brats_cascade_tta brats_fullres_no_tta brats_fullres_tta; do
  [ -d $OUT/$run ] && $EV $OUT/$run $D/labelsTr -o $OUT/summary_$run.json --dataset $D --regions $W/plans.json --overwrite
done
for run in ct_cascade_no_tta ct_fullres_no_tta; do
  [ -d $OUT/$run ] && $EV $OUT/$run $CT/labelsTs -o $OUT/summary_$run.json --dataset $CT --overwrite
done
python benchmarks/brats/summarize.py
