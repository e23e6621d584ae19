"""STOW-RS from someone who stores for several institutions must say which one."""
from __future__ import annotations

import pytest
import requests

from imaging.models import Instance, Study
from telemed.accounts.models import Membership, Role
from tests.imaging.corpus import ct_series
from tests.imaging.test_dicomweb import Archive, _multipart, _token

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_doctor_of_two_clinics_must_name_the_clinic_and_is_told_how(live_server, cast):
    doctor = cast.north[Role.CLINIC_DOCTOR]
    Membership.objects.create(user=doctor, institution=cast.north.clinic2, role=Role.CLINIC_DOCTOR)
    archive = Archive(live_server.url + "/dicomweb", _token(doctor))
    response = archive.stow(ct_series(slices=1))
    assert response.status_code == 400
    assert response.json()["detail"] == "You store for several institutions: name one with ?institution=<id>."
    assert not Instance.objects.exists()
    named = archive.stow(ct_series(slices=1), params={"institution": str(cast.north.clinic2.pk)})
    assert named.status_code == 200 and Study.objects.get().institution == cast.north.clinic2


def test_the_reason_comes_in_the_clients_language(live_server, cast):
    doctor = cast.north[Role.CLINIC_DOCTOR]
    Membership.objects.create(user=doctor, institution=cast.north.clinic2, role=Role.CLINIC_DOCTOR)
    body, content_type = _multipart(ct_series(slices=1))
    headers = {"Authorization": f"Bearer {_token(doctor)}", "Content-Type": content_type, "Accept-Language": "zh-hans"}
    response = requests.post(live_server.url + "/dicomweb/studies", data=body, headers=headers, timeout=30)
    assert response.status_code == 400 and "?institution=" in response.json()["detail"] and "机构" in response.json()["detail"]


def _signed_in(live_server, client, user) -> requests.Session:
    """A browser's session: the sign-in cookie and a CSRF cookie whose secret the page would send back."""
    client.force_login(user)
    session = requests.Session()
    session.cookies.set("sessionid", client.cookies["sessionid"].value)
    session.cookies.set("csrftoken", "a" * 32)
    return session


def test_a_signed_in_doctor_stores_from_the_browser_with_the_csrf_header(live_server, client, cast):
    session = _signed_in(live_server, client, cast.north[Role.CLINIC_DOCTOR])
    body, content_type = _multipart(ct_series(slices=1))
    stored = session.post(live_server.url + "/dicomweb/studies", data=body, headers={"Content-Type": content_type, "X-CSRFToken": "a" * 32}, timeout=30)
    assert stored.status_code == 200 and Instance.objects.count() == 1


def test_a_signed_in_post_without_the_csrf_header_is_refused_and_stores_nothing(live_server, client, cast):
    session = _signed_in(live_server, client, cast.north[Role.CLINIC_DOCTOR])
    body, content_type = _multipart(ct_series(slices=1))
    refused = session.post(live_server.url + "/dicomweb/studies", data=body, headers={"Content-Type": content_type}, timeout=30)
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    assert not Instance.objects.exists()


def test_the_institution_named_must_be_one_the_sender_stores_for_however_it_is_written(live_server, cast):
    doctor = cast.north[Role.CLINIC_DOCTOR]
    Membership.objects.create(user=doctor, institution=cast.north.clinic2, role=Role.CLINIC_DOCTOR)
    archive = Archive(live_server.url + "/dicomweb", _token(doctor))
    for named in (str(cast.south.clinic.pk), "not-a-uuid", str(cast.north.hospital.pk)):
        refused = archive.stow(ct_series(slices=1), params={"institution": named})
        assert refused.status_code == 403 and refused.json()["detail"] == "You cannot store studies for this institution."
    assert not Instance.objects.exists()
    upper = archive.stow(ct_series(slices=1), params={"institution": str(cast.north.clinic2.pk).upper()})
    assert upper.status_code == 200 and Study.objects.get().institution == cast.north.clinic2


def test_who_stores_for_no_institution_is_told_so(live_server, cast):
    response = Archive(live_server.url + "/dicomweb", _token(cast.north[Role.SPECIALIST])).stow(ct_series(slices=1))
    assert response.status_code == 403 and response.json()["detail"] == "You cannot store studies for any institution."
    assert not Instance.objects.exists()
