"""Where things live on disk, by name, low in the house so every stage can use it: the WORK folder and an exported
model (work.py), and the checks a model folder passes before it is used (model_folder.py)."""
