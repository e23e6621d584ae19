"""The C-ECHO / C-STORE SCP: a pynetdicom AE that accepts storage from registered nodes only."""
from __future__ import annotations

import threading

from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import Verification

from imaging.models import DicomNode
from imaging.scp.handlers import handle_echo, make_store_handler, node_for
from imaging.services.ingest import instance_ingest

# pynetdicom treats an empty list as "anyone": with no node registered yet, require a title
# that no modality uses, so nobody gets in.
NOBODY = ["NO-NODE-YET"]


def registered_titles() -> list[str]:
    return list(DicomNode.objects.filter(is_active=True).values_list("ae_title", flat=True)) or NOBODY


def build_ae(ae_title: str) -> AE:
    ae = AE(ae_title=ae_title)
    # Every transfer syntax pynetdicom knows, compressed ones included: the original bytes are
    # stored as sent, and the viewer decodes JPEG, JPEG-LS, JPEG 2000 and RLE (pynetdicom's
    # default, the three uncompressed syntaxes, turned away a modality that sends JPEG).
    for context in AllStoragePresentationContexts:
        ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
    ae.add_supported_context(Verification)
    ae.require_called_aet = True  # an association meant for another AE title is refused
    ae.require_calling_aet = registered_titles()
    ae.maximum_pdu_size = 0  # no limit: large CT slices in few PDUs
    return ae


def handlers() -> list:
    return [(evt.EVT_C_ECHO, handle_echo), (evt.EVT_C_STORE, make_store_handler(find_node=node_for, ingest=instance_ingest))]


def keep_titles_fresh(ae: AE, stop: threading.Event, every: float = 30.0) -> threading.Thread:
    """Registering a node takes effect without a restart: the allowed titles are re-read."""

    def refresh() -> None:
        from django.db import close_old_connections

        while not stop.wait(every):
            close_old_connections()
            ae.require_calling_aet = registered_titles()

    thread = threading.Thread(target=refresh, name="scp-titles", daemon=True)
    thread.start()
    return thread
