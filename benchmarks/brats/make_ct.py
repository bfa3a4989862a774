"""The synthetic CT-like dataset of the record: 4 training cases of 80x512x512 (int16 HU, 1.5x0.8x0.8 mm) made
by autoseg.data.synthetic.make_ct_dataset, and one full-size 400x512x512 case as its labelled test set (imagesTs /
labelsTs), in FOLDER/Dataset901_SyntheticCT (FOLDER outside the repository, train_untimed.sh gives WORK/ct; links,
nothing copied twice).

    python benchmarks/brats/make_ct.py FOLDER
"""

import json
import os
import sys
from pathlib import Path

from autoseg.data.synthetic import make_ct_dataset

if len(sys.argv) != 2:
    raise SystemExit("usage: python benchmarks/brats/make_ct.py FOLDER   (outside the repository)")
root = Path(sys.argv[1]).resolve()  # absolute: the links must point at it from anywhere
if (root / "Dataset901_SyntheticCT" / "dataset.json").is_file():
    raise SystemExit(f"{root}/Dataset901_SyntheticCT exists already")
small = make_ct_dataset(root / "small", cases=4, shape=(80, 512, 512), seed=1, name="SyntheticCT")
big = make_ct_dataset(root / "big", cases=1, shape=(400, 512, 512), seed=2, name="SyntheticCTBig")
ds = root / "Dataset901_SyntheticCT"
for sub in ("imagesTr", "labelsTr"):
    (ds / sub).mkdir(parents=True, exist_ok=True)
    for f in (small / sub).iterdir():
        os.symlink(f, ds / sub / f.name)
for sub, target in (("imagesTr", "imagesTs"), ("labelsTr", "labelsTs")):
    (ds / target).mkdir(parents=True, exist_ok=True)
    for f in (big / sub).iterdir():
        os.symlink(f, ds / target / f.name.replace("ct_000", "ct_big_400"))
d = json.loads((small / "dataset.json").read_text())
(ds / "dataset.json").write_text(json.dumps(d, indent=1))
print(d)
