"""The shapes of the JSON artifacts passed between stages, as plain dataclasses that build nothing."""
