"""Trained models that travel: export a WORK folder's models to a zip or folder (export.py), check and unpack one
safely (importing.py, with the zip and model-folder checks of autoseg/layout/), describe it (model_card.py). An
exported model has a WORK folder's layout (plans.json, inference.json,
models/<configuration>/fold_<k>/checkpoint_final.pt), so `autoseg predict` and autoseg.Predictor run on it
unchanged."""
