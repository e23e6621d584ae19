"""DICOM node registration by administrators: AE title rules, addresses, disabling, the SCP's
view of the nodes, and the C-ECHO check against real pynetdicom peers."""
from __future__ import annotations

import pytest
from pynetdicom import AE
from pynetdicom.sop_class import Verification

from imaging.models import DicomNode
from imaging.scp.handlers import node_for
from imaging.scp.server import registered_titles
from imaging.services.nodes import node_create
from telemed.accounts.models import Role
from telemed.audit.models import AuditEvent
from tests.conftest import free_port

pytestmark = pytest.mark.django_db


def _form(cast, **fields) -> dict:
    return {"institution": str(cast.north.clinic.pk), "kind": "modality", "ae_title": "QS_CT", "host": "10.20.30.40", "port": "", "device": "", "description": "16排CT", **fields}


@pytest.fixture
def admin(cast, client_for):
    return client_for(cast.north[Role.ADMINISTRATOR])


def test_administrator_registers_a_clinic_ct_which_the_scp_then_accepts(cast, admin):
    response = admin.post("/imaging/nodes/new/", _form(cast))
    assert response.status_code == 302
    node = DicomNode.objects.get()
    assert (node.institution, node.host, node.port, node.is_active) == (cast.north.clinic, "10.20.30.40", None, True)
    assert node.device.is_device and node.device.memberships.get().role == Role.DEVICE
    assert node.device.username == "dicom-qs-ct"
    assert "QS_CT" in registered_titles() and node_for("QS_CT", "10.20.30.40") == node
    assert node_for("QS_CT", "10.20.30.41") is None
    assert AuditEvent.objects.filter(action="dicom_node.create", object_id=str(node.pk)).exists()
    page = admin.get("/imaging/nodes/").content.decode()
    assert "QS_CT" in page and cast.north.clinic.name in page and cast.north.clinic2.name in page  # the second clinic has none yet


def test_an_existing_device_account_can_stand_for_the_node(cast, admin):
    response = admin.post("/imaging/nodes/new/", _form(cast, device=str(cast.pacs_n1.pk), kind="pacs", port="104"))
    assert response.status_code == 302
    assert DicomNode.objects.get().device == cast.pacs_n1


@pytest.mark.parametrize(("title", "message"), [
    ("A" * 17, "at most 16 characters"),
    ("QS\\CT", "backslash"),
    ("QS\x07CT", "no Chinese characters or control characters"),
    ("青山CT", "no Chinese characters or control characters"),
    ("    ", "cannot be empty"),
    ("TELEMED", "TELEMED is this archive"),
])
def test_an_ae_title_outside_the_dicom_rules_is_refused_with_the_rule(cast, admin, title, message):
    response = admin.post("/imaging/nodes/new/", _form(cast, ae_title=title))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not DicomNode.objects.exists()
    assert not cast.north.clinic.memberships.filter(user__is_device=True).exclude(user=cast.pacs_n1).exists()  # no orphan device account


def test_an_ae_title_is_unique_in_the_whole_archive_without_naming_the_other_alliance(cast, admin):
    node_create(by=cast.south[Role.ADMINISTRATOR], institution=cast.south.clinic, ae_title="CT01", host="10.9.9.9")
    response = admin.post("/imaging/nodes/new/", _form(cast, ae_title="  CT01 "))
    body = response.content.decode()
    assert response.status_code == 200 and "already used by another node" in body
    assert cast.south.clinic.name not in body
    assert DicomNode.objects.count() == 1


@pytest.mark.parametrize(("field", "value", "message"), [
    ("host", "ct.qingshan.local", "Enter a valid IPv4 or IPv6 address."),
    ("host", "300.1.1.1", "Enter a valid IPv4 or IPv6 address."),
    ("port", "70000", "less than or equal to 65535"),
    ("port", "0", "greater than or equal to 1"),
])
def test_a_bad_address_is_refused(cast, admin, field, value, message):
    response = admin.post("/imaging/nodes/new/", _form(cast, **{field: value}))
    assert response.status_code == 200 and message in response.content.decode()
    assert not DicomNode.objects.exists()


def test_ipv6_addresses_are_accepted(cast, admin):
    assert admin.post("/imaging/nodes/new/", _form(cast, host="2001:db8::10")).status_code == 302
    assert DicomNode.objects.get().host == "2001:db8::10"


def test_editing_the_address_moves_where_the_scp_accepts_the_node_from(cast, admin):
    node = node_create(by=cast.north[Role.ADMINISTRATOR], institution=cast.north.clinic, ae_title="QS_CT", host="10.0.0.1")
    response = admin.post(f"/imaging/nodes/{node.pk}/edit/", {"kind": "modality", "ae_title": "QS_CT", "host": "10.0.0.2", "port": "11112", "device": str(node.device_id), "description": ""})
    assert response.status_code == 302
    assert node_for("QS_CT", "10.0.0.1") is None and node_for("QS_CT", "10.0.0.2").port == 11112
    event = AuditEvent.objects.get(action="dicom_node.update")
    assert event.detail["fields"] == ["host", "port"]


def test_a_disabled_node_is_refused_until_enabled_again(cast, admin):
    node = node_create(by=cast.north[Role.ADMINISTRATOR], institution=cast.north.clinic, ae_title="QS_CT", host="10.0.0.1")
    assert admin.post(f"/imaging/nodes/{node.pk}/active/", {"active": "0"}).status_code == 302
    assert node_for("QS_CT", "10.0.0.1") is None and "QS_CT" not in registered_titles()
    admin.post(f"/imaging/nodes/{node.pk}/active/", {"active": "1"})
    assert node_for("QS_CT", "10.0.0.1") is not None
    assert list(AuditEvent.objects.filter(action__startswith="dicom_node.").order_by("seq").values_list("action", flat=True))[-2:] == ["dicom_node.disable", "dicom_node.enable"]


@pytest.mark.parametrize("role", [Role.COORDINATOR, Role.CLINIC_DOCTOR, Role.AUDITOR, Role.SPECIALIST])
def test_only_administrators_manage_nodes(cast, client_for, role):
    node = node_create(by=cast.north[Role.ADMINISTRATOR], institution=cast.north.clinic, ae_title="QS_CT", host="10.0.0.1", port=104)
    client = client_for(cast.north[role])
    assert client.get("/imaging/nodes/").status_code == 403
    assert client.post("/imaging/nodes/new/", _form(cast, ae_title="OTHER")).status_code == 403
    assert client.post(f"/imaging/nodes/{node.pk}/active/", {"active": "0"}).status_code == 404
    assert client.post(f"/imaging/nodes/{node.pk}/echo/").status_code == 404
    assert DicomNode.objects.get().is_active and DicomNode.objects.count() == 1


@pytest.fixture
def listening_node(cast):
    """A real DICOM peer on a free local port, registered as the north clinic's PACS."""
    peer = AE(ae_title="QS_PACS")
    peer.add_supported_context(Verification)
    port = free_port()
    server = peer.start_server(("127.0.0.1", port), block=False)
    node = node_create(by=cast.north[Role.ADMINISTRATOR], institution=cast.north.clinic, ae_title="QS_PACS", host="127.0.0.1", port=port, kind="pacs")
    yield peer, node
    server.shutdown()


def _echo_message(client, node) -> str:
    response = client.post(f"/imaging/nodes/{node.pk}/echo/", follow=True)
    return " ".join(str(m) for m in response.context["messages"])


def test_c_echo_reports_a_node_that_answers(cast, admin, listening_node):
    _peer, node = listening_node
    assert "QS_PACS at 127.0.0.1" in _echo_message(admin, node) and "answered the C-ECHO" in _echo_message(admin, node)
    event = AuditEvent.objects.filter(action="dicom_node.echo").last()
    assert (event.outcome, event.detail["result"]) == ("success", "ok")


def test_c_echo_says_when_the_node_does_not_know_our_title(cast, admin, listening_node):
    peer, node = listening_node
    peer.require_calling_aet = ["SOMEONE"]
    message = _echo_message(admin, node)
    assert "does not know this archive's AE title TELEMED" in message
    assert AuditEvent.objects.filter(action="dicom_node.echo").last().outcome == "failed"


def test_c_echo_says_when_the_node_has_another_title(cast, admin, listening_node):
    peer, node = listening_node
    peer.require_called_aet = True
    DicomNode.objects.filter(pk=node.pk).update(ae_title="QS_PACS2")
    assert "does not answer to the AE title QS_PACS2" in _echo_message(admin, node)


def test_c_echo_says_when_nothing_listens(cast, admin):
    node = node_create(by=cast.north[Role.ADMINISTRATOR], institution=cast.north.clinic, ae_title="QS_PACS", host="127.0.0.1", port=free_port())
    assert "Nothing answered at 127.0.0.1:" in _echo_message(admin, node)


def test_c_echo_needs_a_port(cast, admin):
    node = node_create(by=cast.north[Role.ADMINISTRATOR], institution=cast.north.clinic, ae_title="QS_CT", host="127.0.0.1")
    assert "Register the port QS_CT listens on" in _echo_message(admin, node)
    assert not AuditEvent.objects.filter(action="dicom_node.echo").exists()
