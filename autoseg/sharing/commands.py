"""The command-line verbs of sharing: export, import, convert-checkpoint (registered in autoseg/cli.py)."""

from __future__ import annotations

from autoseg.layout.work import CHECKPOINT_BEST, CHECKPOINT_FINAL


def export_args(p):
    p.add_argument("work", help="work folder with trained models")
    p.add_argument("-o", "--output", required=True, help="model.zip, or a folder name for an unzipped model")
    p.add_argument(
        "-c",
        "--configurations",
        nargs="+",
        help="only these configurations (default: find-best's choice, else the best trained one)",
    )
    p.add_argument("-f", "--folds", nargs="+", help="only these folds (default: the ones predict would use)")
    p.add_argument(
        "--checkpoint",
        default=CHECKPOINT_FINAL,
        help=f"checkpoint of each fold to export: {CHECKPOINT_FINAL} or {CHECKPOINT_BEST} (default {CHECKPOINT_FINAL})",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument(
        "--onnx",
        action="store_true",
        help="also write each network as ONNX, so the model predicts "
        "without PyTorch (predict --backend onnxruntime; needs onnx and onnxruntime)",
    )


def export(a):
    from autoseg.sharing.export import export_model

    path = export_model(
        a.work,
        a.output,
        configurations=a.configurations,
        folds=a.folds,
        checkpoint=a.checkpoint,
        overwrite=a.overwrite,
        onnx=a.onnx,
    )
    print(
        f"exported to {path}; use it with: autoseg predict --model {path} -i IMAGES -o OUTPUT"
        + (" [--backend onnxruntime]" if a.onnx else "")
    )
    return 0


def import_args(p):
    p.add_argument("model", help="model zip written by 'autoseg export'")
    p.add_argument("-o", "--models", help="models folder (default: $AUTOSEG_MODELS or ~/.autoseg/models)")
    p.add_argument("--name", help="folder name inside it (default: the zip's name)")
    p.add_argument("--overwrite", action="store_true", help="replace a model imported under that name")


def import_(a):
    from autoseg.sharing.importing import import_model

    folder = import_model(a.model, a.models, name=a.name, overwrite=a.overwrite)
    print(f"imported into {folder}; use it with: autoseg predict --model {folder} -i IMAGES -o OUTPUT")
    return 0


def convert_args(p):
    p.add_argument("checkpoint", help="checkpoint_*.pt that autoseg refuses to load (written by an older autoseg)")
    p.add_argument(
        "--trust",
        action="store_true",
        help="required: the file is read once with an unsafe load, "
        "which runs any code it carries; only for files you made or trust",
    )


def convert(a):
    from autoseg.training.checkpoint_convert import convert_checkpoint

    backup = convert_checkpoint(a.checkpoint, trust=a.trust)
    print(
        f"{a.checkpoint}: now loads weights-only"
        + (f" (original kept as {backup})" if str(backup) != str(a.checkpoint) else " (it already did)")
    )
    return 0


VERBS = {"export": (export_args, export), "import": (import_args, import_), "convert": (convert_args, convert)}
