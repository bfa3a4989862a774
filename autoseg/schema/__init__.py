"""The shapes of the JSON artifacts passed between stages, as plain dataclasses that build nothing, and the
declared schemas every JSON file from outside is validated against before it is used (schema/*_file.py, read
through schema/load.py's load_validated, with utils/json_limits.py's size and nesting bounds).

The schema library is pydantic v2 rather than msgspec: its validators are mature and give every error a precise
location (configurations.3d_fullres.patch_size[1]), which is what the one-line error needs; field constraints
(ge/le, finite floats, string patterns) are declarative; strict mode refuses "1" for 1 and true for 1; and the
models export a JSON schema for people writing these files by hand. msgspec decodes faster, but the files are a
few KB and read once per command, so speed is not what matters here.
"""
