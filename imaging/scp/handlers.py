"""DIMSE handlers: C-ECHO and C-STORE into the ingest service.

The handlers receive what they need (how to find a node, how to ingest) as arguments, so they
can be tested with a real pynetdicom client and the real service, without a running command.
"""
from __future__ import annotations

import io
import logging
from collections.abc import Callable

from django.db import close_old_connections
from pydicom.dataset import Dataset

from imaging.dicom.reasons import error_comment
from imaging.models import DicomNode
from imaging.services.ingest import IngestResult, Status
from telemed.audit.models import Channel
from telemed.audit.origin import Origin, origin_scope

logger = logging.getLogger(__name__)

SUCCESS = 0x0000
REFUSED_OUT_OF_RESOURCES = 0xA700
ERROR_DATASET_MISMATCH = 0xA900
ERROR_CANNOT_UNDERSTAND = 0xC000
REFUSED_NOT_AUTHORISED = 0x0124

STATUS_OF = {
    Status.STORED: SUCCESS,
    Status.DUPLICATE: SUCCESS,
    Status.CONFLICT: ERROR_DATASET_MISMATCH,
    Status.INVALID: ERROR_CANNOT_UNDERSTAND,
    Status.UNSUPPORTED: ERROR_CANNOT_UNDERSTAND,  # not met: the association agreed the transfer syntax
    Status.OVER_QUOTA: REFUSED_OUT_OF_RESOURCES,
}


def _status(code: int, comment: str = "") -> Dataset:
    """A C-STORE status; the Error Comment (at most 64 characters) tells the modality's operator why."""
    status = Dataset()
    status.Status = code
    if comment and code != SUCCESS:
        status.ErrorComment = error_comment(comment)
    return status


def node_for(ae_title: str, address: str) -> DicomNode | None:
    return DicomNode.objects.select_related("institution", "device").filter(ae_title=ae_title.strip(), host=address, is_active=True).first()


def handle_echo(event) -> int:
    return SUCCESS


def make_store_handler(*, find_node: Callable[[str, str], DicomNode | None], ingest: Callable[..., IngestResult]):
    def handle_store(event):
        """Ingest one instance; the association's node decides the institution and the account."""
        close_old_connections()
        requestor = event.assoc.requestor
        node = find_node(requestor.ae_title, requestor.address)
        if node is None:
            return _status(REFUSED_NOT_AUTHORISED, f"{requestor.ae_title.strip()} at {requestor.address} is not registered")
        origin = Origin(ip=requestor.address, user_agent=f"DICOM AE {requestor.ae_title.strip()}", channel=Channel.DICOM)
        try:
            with origin_scope(origin):
                result = ingest(stream=io.BytesIO(event.encoded_dataset()), institution=node.institution, by=node.device, source="c-store")
        except Exception:  # the association must survive one bad instance
            logger.exception("C-STORE from %s failed", node)
            return REFUSED_OUT_OF_RESOURCES
        if not result.ok:
            logger.warning("C-STORE from %s refused %s: %s", node, result.sop_instance_uid, result.reason)
        return _status(STATUS_OF[result.status], result.reason)

    return handle_store
