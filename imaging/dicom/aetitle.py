"""Application Entity titles as DICOM PS3.5 (6.2, VR "AE") defines them; no Django here, so the
settings module checks our own title with the same rule as the node form."""
from __future__ import annotations

MAX_LENGTH = 16

# Problem codes, with the English the settings module prints; the node form translates them.
PROBLEMS = {
    "empty": "an AE title cannot be empty or only spaces",
    "too_long": f"an AE title has at most {MAX_LENGTH} characters",
    "backslash": "an AE title cannot contain a backslash",
    "characters": "an AE title uses printable ASCII characters only (no control characters, no Chinese)",
}


def ae_title_problem(value: str) -> str | None:
    """The code of the rule `value` breaks (a key of PROBLEMS), or None.

    Leading and trailing spaces are not significant (callers store the stripped title); the rest
    must be the default character repertoire (printable ASCII) without a backslash, at most 16
    characters, and not only spaces.
    """
    title = value.strip(" ")
    if not title:
        return "empty"
    if len(title) > MAX_LENGTH:
        return "too_long"
    if "\\" in title:
        return "backslash"
    if not all(" " <= ch <= "~" for ch in title):
        return "characters"
    return None
