"""Why a file is refused: in English where a machine reads it (STOW-RS, C-STORE, logs, the
rejected-instance record), in the reader's language on a page.

A `Reason` is the English text itself (a str, so every interface that sends, cuts or stores a
reason keeps working), and keeps the message id and values it was made from, so that a page can
translate it. This module knows nothing of Django: the caller passes its gettext.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import reduce


def gettext_noop(message: str) -> str:
    """Marks a message id for the translation catalogue (makemessages finds it by this name)."""
    return message


class Reason(str):
    template: str
    values: dict
    brief: str  # the same, shorter, for a DICOM Error Comment (see error_comment); empty: the text

    def __new__(cls, template: str, /, *, brief: str = "", **values) -> Reason:
        reason = super().__new__(cls, template % values if values else template)
        reason.template, reason.values = template, values
        reason.brief = brief % values if brief and values else brief
        return reason

    def translated(self, gettext: Callable[[str], str]) -> str:
        values = {name: translated(value, gettext) for name, value in self.values.items()}
        return gettext(self.template) % values if values else gettext(self.template)

    @classmethod
    def joined(cls, reasons: list[Reason]) -> Reason:
        """Several reasons in one, separated by semicolons. Its brief (see error_comment) holds the
        parts' briefs that fit whole, the first always, and counts the others: cut, the joined
        text lost the first point's end, or the whole of it."""
        joined = reduce(lambda first, then: cls("%(first)s; %(then)s", first=first, then=then), reasons)
        if len(reasons) > 1:
            joined.brief = _joined_brief([getattr(r, "brief", "") or str(r) for r in reasons])
        return joined


def _joined_brief(briefs: list[str]) -> str:
    brief = briefs[0]
    for n, then in enumerate(briefs[1:], start=1):
        after = len(briefs) - n - 1  # not yet added once `then` is
        if len(f"{brief}; {then}{f'; and {after} more' if after else ''}") > ERROR_COMMENT:
            return f"{brief}; and {len(briefs) - n} more"
        brief = f"{brief}; {then}"
    return brief


def translated(reason, gettext: Callable[[str], str]):
    """`reason` in gettext's language, if it is a Reason; anything else as it is."""
    return reason.translated(gettext) if isinstance(reason, Reason) else reason


ERROR_COMMENT = 64  # characters: an Error Comment (0000,0902) is an LO


def error_comment(reason: str) -> str:
    """Why, for the person reading a sender's log, as the Error Comment of a STOW-RS failure or a
    C-STORE status: a reason's brief wording where its text would lose its point when cut
    (English, as every reason a machine reads). A text still too long is cut and says so: at a
    word, unless that word is long (a UID), which is cut where the comment ends."""
    text = str(getattr(reason, "brief", "") or reason)
    if len(text) <= ERROR_COMMENT:
        return text
    head = text[:ERROR_COMMENT - 3]
    at_word = head.rsplit(" ", 1)[0]
    return (at_word if len(at_word) >= len(head) * 2 // 3 else head) + "..."
