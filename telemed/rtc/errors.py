"""Why the relay refused a request; the message is meant for the person's screen (in English:
the signalling side maps each class to a translated message)."""
from __future__ import annotations


class RelayError(Exception):
    pass


class RoomFull(RelayError):
    """The room already has its maximum of publishing participants; join as a listener."""


class RoomClosed(RelayError):
    pass


class UnknownParticipant(RelayError):
    pass


class BadDescription(RelayError):
    """An SDP offer or answer the relay cannot use (malformed, or no codec in common)."""


class NegotiationConflict(RelayError):
    """The participant offered while the relay's own offer awaits its answer ("glare"): the
    browser, the polite side, rolls back, answers the relay's offer, then offers again."""


class ConnectionClosed(RelayError):
    """The participant's connection has closed (its link failed): it must join again."""


class NoOfferPending(RelayError):
    """An answer arrived when the relay had not offered."""
