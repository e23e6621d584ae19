"""Query parameters of several numbers ('a,b,…'), as the viewer and DICOMweb take them."""
from __future__ import annotations

import math


def numbers(raw: str | None, cast, counts: tuple[int, ...]) -> tuple | None:
    """'a,b,…' → a tuple of as many numbers as one of `counts` allows, or None if not given;
    ValueError for any other count, a value that is not a number, or 'nan' and 'inf' (a window
    or a region of them measures or paints nothing)."""
    if not raw:
        return None
    parts = raw.split(",")
    if len(parts) not in counts:
        raise ValueError(raw)
    values = tuple(cast(part) for part in parts)  # ValueError for one that is not a number
    if not all(math.isfinite(value) for value in values):
        raise ValueError(raw)
    return values
