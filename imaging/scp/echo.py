"""C-ECHO as an SCU: does a registered node answer at its address, and does it accept our title?

No Django here: the node service passes the address and titles and records the outcome.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from pynetdicom import AE, evt
from pynetdicom.sop_class import Verification


@dataclass(frozen=True)
class EchoOutcome:
    code: str  # "ok", "no_connection", "rejected", "aborted", "no_response", "status"
    detail: str = ""  # what the peer said, in the standard's words, for the audit trail
    status: int | None = None
    milliseconds: int | None = None
    # A rejection's source and diagnostic (PS3.8 9.3.4): (1, 3) the node does not know our title,
    # (1, 7) it does not answer to the title we called.
    rejected_by: tuple[int, int] | None = None

    @property
    def ok(self) -> bool:
        return self.code == "ok"


def echo(*, host: str, port: int, called_ae: str, calling_ae: str, timeout: float = 5.0) -> EchoOutcome:
    """Associate, send one C-ECHO, release; every way this can go wrong becomes an outcome."""
    ae = AE(ae_title=calling_ae)
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = ae.connection_timeout = timeout
    answers = []

    def remember(event) -> None:  # the A-ASSOCIATE-RJ carries the reason for a rejection
        answers.append(event.primitive)

    started = time.monotonic()
    try:
        assoc = ae.associate(host, port, ae_title=called_ae, evt_handlers=[(evt.EVT_ACSE_RECV, remember)])
        if assoc.is_established:
            status = assoc.send_c_echo()
            assoc.release()
            elapsed = round((time.monotonic() - started) * 1000)
            if not status or "Status" not in status:
                return EchoOutcome("no_response", milliseconds=elapsed)
            if status.Status != 0x0000:
                return EchoOutcome("status", f"status 0x{status.Status:04X}", status.Status, elapsed)
            return EchoOutcome("ok", milliseconds=elapsed)
        if assoc.is_rejected:
            rejection = next((a for a in reversed(answers) if getattr(a, "result", None) in (0x01, 0x02)), None)
            detail = f"{rejection.result_str}, {rejection.source_str}: {rejection.reason_str}" if rejection else ""
            return EchoOutcome("rejected", detail, rejected_by=(rejection.result_source, rejection.diagnostic) if rejection else None)
        if any(answers):  # the peer spoke, then broke off
            return EchoOutcome("aborted")
        return EchoOutcome("no_connection")
    finally:
        ae.shutdown()
