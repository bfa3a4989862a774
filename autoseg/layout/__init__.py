"""Where things live on disk, by name, low in the house so every stage can use it: the WORK folder and an exported
model (work.py), and the checks a model zip (archive.py, zip_stream.py) and a model folder (model_folder.py)
pass before inference or training uses them."""
