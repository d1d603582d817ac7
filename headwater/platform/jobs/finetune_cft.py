"""The `cft` method of a fine-tuning job (critique fine-tuning, `headwater.train.cft`): `{"type": "cft", "cft":
{"hyperparameters": {...}}}` on a training file whose every line holds `question`, `response` and `critique` (as
`headwater cft build-data` writes them). The file is checked whole at create, so a job never starts on a file it
cannot train on, and a refused request writes nothing."""

from __future__ import annotations

import json

from headwater.errors import InvalidRequestError
from headwater.jsonl import jsonl_lines

FIELDS = ("question", "response", "critique")
"""What every line of a CFT training file holds (strings)."""
SETTINGS = ("hyperparameters",)


def cft_settings(settings: dict) -> dict[str, str]:
    """`method.cft` takes only hyperparameters; any other key is a 400 naming it (never silently ignored)."""
    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown:
        raise InvalidRequestError(
            f"method.cft.{unknown[0]} is not a cft setting; use {', '.join(SETTINGS)}",
            param=f"method.cft.{unknown[0]}",
        )
    return {}


def check_cft_file(data: bytes, field: str = "training_file") -> None:
    """Every example of an uploaded fine-tune file (already valid JSONL) holds the three CFT strings; the first
    that does not is a 400 naming `field` (the training or validation file), the line and the field."""
    lines = [line for line in enumerate(jsonl_lines(data.decode("utf-8")), start=1) if line[1].strip()]
    if not lines:
        raise InvalidRequestError(f"{field} holds no example", param=field)
    for number, raw in lines:
        record = json.loads(raw)
        for name in FIELDS:
            if not isinstance(record.get(name), str):
                raise InvalidRequestError(
                    f"{field} line {number}: method cft needs a string {name!r} (every line: {', '.join(FIELDS)})",
                    param=field,
                )
