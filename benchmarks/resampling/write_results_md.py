"""results.json of bench_resampling.py -> results.md (numbers copied, nothing re-measured)."""

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(path: Path = HERE / "results.json") -> None:
    record = json.loads(path.read_text())
    runs = [r for r in record["rows"] if "implementation" in r]
    diffs = {r["scenario"]: r["legacy_vs_autoseg"] for r in record["rows"] if "legacy_vs_autoseg" in r}
    lines = [
        "# Resampling a 512x512x400 volume to a target spacing and back (issue 18, item 5)",
        "",
        f"Command: `cpu-lock exclusive {record['command']}`. Machine: {record['machine']['cpu']}, "
        f"{record['machine']['cores']} cores, Python {record['machine']['python']}. Data: one synthetic CT "
        "case from `autoseg.data.synthetic_ct.ct_case` (seed 0, 400x512x512 voxels at 1.5x0.8x0.8 mm, "
        "int16 HU read as float32; labels organ + lesion). `legacy` is the former skimage.resize code "
        "(tests/legacy_resample.py), `autoseg` the current autoseg/preprocessing/resample.py; each run in "
        "its own process (peak RSS is that process's, data generation included).",
        "",
        "| scenario | implementation | target shape | image there | image back | labels there | labels back "
        "| total | peak RSS |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        lines.append(
            f"| {r['scenario']} | {r['implementation']} | {'x'.join(map(str, r['target_shape']))} | "
            f"{r['image_forward_s']} s | {r['image_back_s']} s | {r['labels_forward_s']} s | "
            f"{r['labels_back_s']} s | **{r['total_s']} s** | {r['peak_rss_gb']} GB |"
        )
    lines += [
        "",
        "Scenarios: `3d` = to 1.5x1.0x1.0 mm, spline order 3 on every axis (labels: one-hot order 1); "
        "`separate_z` = to 3.0x1.0x1.0 mm with the coarse axis resampled separately (order 3 in-plane, "
        "nearest across slices), as anisotropic data is planned.",
        "",
    ]
    if diffs:
        lines += [
            "Same outputs (legacy vs autoseg on the full volume):",
            "",
            "| scenario | image max abs difference (HU), there / back | label voxels differing, there / back |",
            "|---|---|---|",
        ]
        for scenario, d in diffs.items():
            lines.append(
                f"| {scenario} | {d['image_max_abs_difference_hu']:.2g} / "
                f"{d['image_back_max_abs_difference_hu']:.2g} | {d['labels_voxels_differing']} / "
                f"{d['labels_back_voxels_differing']} |"
            )
    (HERE / "results.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(*(Path(a) for a in sys.argv[1:]))
