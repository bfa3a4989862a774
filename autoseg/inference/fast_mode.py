"""`autoseg predict --fast`: fewer windows and fewer mirror variants, for when time matters more than the last
bit of Dice.

- step 0.75 instead of 0.5: windows overlap by a quarter instead of a half (a BraTS case at the plan's patch
  48x64x80: 80 windows instead of 210);
- mirroring along the last spatial axis only (x, left-right in most medical images): 2 variants instead of 8.

A BraTS case costs about as many network inputs as without TTA at step 0.5 (160 against 210). The measured Dice
cost is in benchmarks/large_volume/results.md. --step and --tta-axes override either half.
"""

FAST_STEP = 0.75
FAST_TTA_AXES = (-1,)  # the last spatial axis of the network (see predictor.mirror_axes)
