"""The size limit of the platform's synchronous services (moderation, judging, detection): a text too long for an
interactive answer is refused with 413 before any model sees it; long work goes through a file and a job."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from headwater.errors import PayloadTooLargeError


def check_text_sizes(value: object, limit: int, field: str = "body") -> None:
    """Every string inside `value` (nested objects and lists too) is at most `limit` characters."""
    if isinstance(value, str):
        if len(value) > limit:
            raise PayloadTooLargeError(
                f"{field} has {len(value)} characters; a synchronous request takes at most {limit} "
                "(HEADWATER_SERVICE_MAX_CHARS): send a file as a job instead",
                param=field,
            )
    elif isinstance(value, Mapping):
        for key, inner in value.items():
            check_text_sizes(inner, limit, str(key) if field == "body" else f"{field}.{key}")
    elif isinstance(value, Sequence):
        for index, inner in enumerate(value):
            check_text_sizes(inner, limit, f"{field}[{index}]")
