#!/bin/bash
# The timed part of the BraTS / synthetic-CT record (benchmarks/brats/results.md), run as ONE job under
#   WORK=FOLDER cpu-lock exclusive bash benchmarks/brats/run_recorded.sh   (the WORK of train_untimed.sh)
# after the untimed part (train_untimed.sh: plan, 3d_lowres on both folds, the cascade, 3d_fullres) has finished.
# Every step is one measured stage (stage.py: wall time, peak summed PSS of the process tree). Kept to about 25
# minutes: plan and training are measured in train_untimed.sh (their time is their budget, their RAM their own);
# the CT case is predicted by the cascade only; nnU-Net's TTA run is stopped after 3 minutes.
set -u
cd "$(dirname "$0")/../.."
# WORK: the folder train_untimed.sh trained in; DATA: the datasets (default ../shared/data); both taken from the
# repository when relative
H=${WORK:?set WORK to the work folder of train_untimed.sh}; H=$(realpath -m "$H")
D=$(realpath -m "${DATA:-../shared/data}")/Dataset003_BraTSSample
W=$H/brats2                                   # trained BraTS work folder (regions, 2 folds)
CT=$H/ct/Dataset901_SyntheticCT               # 4 training cases 80x512x512, test case 400x512x512
CW=$H/ct/work
OUT=$H/recorded
R=$OUT/records.json
S="python benchmarks/brats/stage.py $R"
CASE=brats_2013_pat0003_1                     # held out by fold 0: predicted with fold 0's models
for need in "$H/brats2_stages/records.json:train 3d_cascade_fullres fold 0" "$H/brats2_stages/records.json:train 3d_fullres fold 0" \
            "$H/ct_stages/records.json:train 3d_cascade_fullres fold 0"; do
  grep -q "\"${need#*:}\"" "${need%%:*}" || { echo "not trained yet: ${need#*:}" >&2; exit 1; }
done
mkdir -p $OUT/in_brats && ln -sf $D/imagesTr/${CASE}_000[01].nii.gz $OUT/in_brats/
$S "brats find-best" -- autoseg find-best $W
# most wanted first: the deadline may cut the end short
$S "brats predict cascade no_tta" -- autoseg predict $W -i $OUT/in_brats -o $OUT/brats_cascade_no_tta -c 3d_cascade_fullres -f 0 --no-tta
$S "brats predict fullres no_tta" -- autoseg predict $W -i $OUT/in_brats -o $OUT/brats_fullres_no_tta -c 3d_fullres -f 0 --no-tta
$S "brats predict cascade tta" -- autoseg predict $W -i $OUT/in_brats -o $OUT/brats_cascade_tta -c 3d_cascade_fullres -f 0
$S "ct predict cascade no_tta" -- autoseg predict $CW -i $CT/imagesTs -o $OUT/ct_cascade_no_tta -c 3d_cascade_fullres -f 0 --no-tta
python benchmarks/brats/nnunet_side.py predict --case $CASE --timeout 180 --out $H/nnunet
