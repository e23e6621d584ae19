"""Every route of the URL configuration, asked by every role of a foreign alliance for the other
alliance's objects: 403 or 404 (or 405 for a method the route does not take), no foreign data,
nothing written.

The routes are read from the URL configuration, so a new route is tested the moment it exists;
a route with a parameter this file cannot fill fails until FOREIGN_VALUES learns it, which is
the moment to decide its access rule.
"""
from __future__ import annotations

import re

import pytest
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve

from consults.services.calendar_feeds import calendar_feed_create
from telemed.accounts.models import (
    AccessToken,
    Department,
    Institution,
    Membership,
    Pairing,
    Role,
)
from telemed.accounts.services.tokens import token_create
from telemed.patients.models import Patient
from tests.accounts.factories import DepartmentFactory
from tests.consults.factories import foreign_opinion_values
from tests.imaging.reading_factories import foreign_read_values

DENIED = {403, 404, 405}
PUBLIC_ROUTE_NAMES = {"login", "health", "set_language", "admin:login"}
# Parameters that name a kind of page rather than an object of the other alliance: a route with
# only these is checked for foreign data, not for a refusal.
NON_OBJECT_PARAMETERS = {"table", "url"}
AUDIT_ROUTE_PREFIXES = ("audit/", "api/v1/^audit-events")
# A STOW-RS into a study URL may name a study not in the archive yet: one the asker cannot see is
# answered as such a study is (its instances refused as taken UIDs, tests/imaging/test_dicomweb.py),
# so a POST there is checked for foreign data and rows, not for a refusal by the URL alone.
STORES_INTO_NAMED_STUDY = {"dicomweb:dicomweb-study"}


def _walk(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern)


ROUTES = sorted(set(_walk(get_resolver().url_patterns)))
_PARAM = re.compile(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>[^)]*\)")


def _fill(route: str, values: dict[str, str]) -> str:
    def value(match):
        name = match.group(1) or match.group(2)
        if name not in values:
            pytest.fail(f"Route {route!r} takes {name!r}, which this test cannot fill: add a foreign object for it to FOREIGN_VALUES and give the route an access rule.")
        return values[name]

    return "/" + _PARAM.sub(value, route).replace("^", "").replace("$", "")


def _foreign_values(cast) -> dict[str, str]:
    south = cast.south
    doctor = south[Role.CLINIC_DOCTOR]
    token, _secret = token_create(owner=doctor, by=doctor, name="south script", scopes=["api:read"], expires_at=_in_days(30))
    return {
        "institution_id": str(south.clinic.pk),
        "pairing_id": str(Pairing.objects.filter(hospital=south.hospital).first().pk),
        "user_id": str(doctor.pk),
        "membership_id": str(doctor.memberships.first().pk),
        "qualification_id": str(south[Role.SPECIALIST].qualifications.first().pk),
        "token_id": str(token.pk),
        "patient_id": str(south.patient.pk),
        "table": "monthly",  # consult statistics export: scoped by the reader, not by the URL
        **_foreign_consult_values(cast),
        # A second south consult with a signed opinion ("opinion_id") and a referral up from it ("referral_id").
        **foreign_opinion_values(cast.south),
        # A live feed secret of a south expert who takes part in a south consult: signed-in strangers get 404.
        "key": calendar_feed_create(user=south[Role.SPECIALIST])[1],
        # Django admin (operators only): any foreign object will do.
        "object_id": str(south.clinic.pk),
        "id": str(doctor.pk),
        "content_type_id": str(ContentType.objects.get_for_model(Institution).pk),
        "app_label": "accounts",
        "url": "anything/",
        **_foreign_imaging_values(cast),
        # A signed south read with a critical finding (not acknowledged) and an addendum.
        **foreign_read_values(cast.south),
    }


def _foreign_imaging_values(cast) -> dict[str, str]:
    """A CT study the south clinic sent, with the south patient's MRN as Patient ID."""
    import io

    from imaging.services.ingest import instance_ingest
    from tests.imaging.corpus import ct_series

    south = cast.south
    data = ct_series(slices=1, patient_id=south.patient.mrn)[0]
    instance = instance_ingest(stream=io.BytesIO(data), institution=south.clinic, by=south[Role.CLINIC_DOCTOR], source="test").instance
    return {
        "study_id": str(instance.series.study.pk),
        "study_uid": instance.series.study.study_instance_uid,
        "series_uid": instance.series.series_instance_uid,
        "instance_uid": instance.sop_instance_uid,
        "frames": "1",
        "frame": "1",  # the viewer's window of a frame
        "attribute_path": "7FE00010",
        **_foreign_archive_values(cast, instance.series.study),
    }


def _foreign_archive_values(cast, study) -> dict[str, str]:
    """The south clinic's CT registered as a DICOM node, and a teaching export of the south study."""
    from imaging.services.exports import export_request
    from imaging.services.nodes import node_create

    south = cast.south
    node = node_create(by=south[Role.ADMINISTRATOR], institution=south.clinic, ae_title="SOUTH_CT", host="10.1.2.3", port=104)
    export = export_request(by=south[Role.CLINIC_DOCTOR], study=study)
    return {"node_id": str(node.pk), "export_id": str(export.pk)}


def _foreign_consult_values(cast) -> dict[str, str]:
    from tests.consults.factories import booked_consult

    from telemed.video.services.admission import room_for
    from telemed.video.services.invitations import invitation_create_guest

    consult = booked_consult(cast.south)
    expert = cast.south[Role.SPECIALIST]
    room = room_for(consult)
    invitation, secret = invitation_create_guest(by=expert, room=room, name="South interpreter", role="interpreter")
    return {
        "recording_id": str(_south_recording(room, expert).pk),
        "consult_id": str(consult.pk),
        # The south consult's video room: a guest link (signed-in people are refused it) and its invitation.
        "invitation_id": str(invitation.pk),
        "secret": secret,
        "attachment_id": str(_south_attachment(consult).pk),
        "rule_id": str(expert.availability_rules.first().pk),
        "exception_id": str(_south_exception(expert).pk),
    }


def _south_recording(room, expert):
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from telemed.video.models import Recording

    key = default_storage.save(f"recordings/{room.consult_id}/south.webm", ContentFile(b"webm"))
    return Recording.objects.create(room=room, storage_key=key, sha256="0" * 64, size=4, duration_seconds=1, started_by=expert)


def _south_attachment(consult):
    from django.core.files.base import ContentFile

    from consults.models import Attachment

    return Attachment.objects.create(
        consult=consult, file=ContentFile(b"report", name="south.txt"), name="south.txt", content_type="text/plain",
        size=6, sha256="0" * 64, uploaded_by=consult.requested_by,
    )


def _south_exception(expert):
    from consults.models import AvailabilityException

    return AvailabilityException.objects.create(
        expert=expert, kind="blocked", starts_at=_in_days(3), ends_at=_in_days(4), reason="leave", created_by=expert
    )


def _in_days(days: int):
    from datetime import timedelta

    from django.utils import timezone

    return timezone.now() + timedelta(days=days)


def _foreign_sentinels(cast, *, with_ids: bool) -> list[str]:
    south = cast.south
    words = [south.patient.name, south.patient.mrn, south.hospital.name, south.clinic.name]
    words += [person.full_name for person in south.people.values()]
    if with_ids:
        words += [str(south.patient.pk), str(south.clinic.pk), str(south.hospital.pk)]
        words += [str(person.pk) for person in south.people.values()]
    return words


def _foreign_rows(cast) -> dict[str, int]:
    south = cast.south
    alliance = south.hospital.alliance
    return {
        "patients": Patient.objects.filter(institution__alliance=alliance).count(),
        "institutions": Institution.objects.filter(alliance=alliance).count(),
        "pairings": Pairing.objects.filter(hospital__alliance=alliance).count(),
        "memberships": Membership.objects.filter(institution__alliance=alliance).count(),
        "departments": Department.objects.filter(institution__alliance=alliance).count(),
        "tokens": AccessToken.objects.filter(user__memberships__institution__alliance=alliance).count(),
        "active_users": south[Role.CLINIC_DOCTOR].__class__.objects.filter(memberships__institution__alliance=alliance, is_active=True).count(),
        "verified": south[Role.SPECIALIST].qualifications.filter(verified_at__isnull=False).count(),
    }


def _post_payload(cast) -> dict[str, str]:
    """Form data aimed at the foreign alliance, for every form field name a route might read."""
    south = cast.south
    return {
        "institution": str(south.clinic.pk),
        "hospital": str(south.hospital.pk),
        "clinic": str(south.clinic.pk),
        "alliance": str(south.hospital.alliance_id),
        "role": Role.CLINIC_DOCTOR,
        "owner": str(south[Role.CLINIC_DOCTOR].pk),
        "user": str(south[Role.CLINIC_DOCTOR].pk),
        "active": "0",
        "kind": "clinic",
        "name": "Intruder",
        "code": "INTRUDER-1",
        "mrn": "INTRUDER",
        "sex": "1",
        "birth_date": "1970-01-01",
        "username": "intruder",
        "full_name": "Intruder",
        "password": "a-long-enough-password-1",
        "specialty": "respiratory",
        "scopes": "api:read",
        "expires_on": "2099-01-01",
        "expires_at": "2099-01-01T00:00:00Z",
        "started_on": "2020-01-01",
    }


def _north_askers(cast):
    north = cast.north
    for role in north.people:
        yield f"north {role}", north[role]
    yield "north sibling clinic doctor", cast.doc_n2


@pytest.mark.django_db
@pytest.mark.parametrize("route", ROUTES)
def test_foreign_users_get_no_foreign_data_from_route(cast, route):
    DepartmentFactory(institution=cast.south.hospital, name="South Department")
    values = _foreign_values(cast)
    url = _fill(route, values)
    match = resolve(url.split("?")[0])
    public = match.view_name in PUBLIC_ROUTE_NAMES
    # The page may echo its own address (the language switcher does), which is not a leak.
    sentinels = [w for w in _foreign_sentinels(cast, with_ids=not route.startswith(AUDIT_ROUTE_PREFIXES)) if w not in url]
    has_foreign_parameter = any((m.group(1) or m.group(2)) not in NON_OBJECT_PARAMETERS for m in _PARAM.finditer(route))
    before = _foreign_rows(cast)
    for label, user in _north_askers(cast):
        client = Client(HTTP_ACCEPT_LANGUAGE="en")
        client.force_login(user)
        for method in ("get", "post"):
            response = getattr(client, method)(url, data=_post_payload(cast) if method == "post" else None, follow=False)
            body = b"".join(response.streaming_content) if response.streaming else response.content
            text = body.decode("utf-8", errors="replace")
            leaked = [word for word in sentinels if word in text]
            assert not leaked, f"{label} {method.upper()} {url} → {response.status_code} shows foreign data: {leaked}"
            assert response.status_code != 500, f"{label} {method.upper()} {url} → 500"
            if has_foreign_parameter and not public and not (method == "post" and match.view_name in STORES_INTO_NAMED_STUDY):
                assert response.status_code in DENIED, f"{label} {method.upper()} {url} → {response.status_code}, expected 403/404"
        assert _foreign_rows(cast) == before, f"{label} changed the foreign alliance's rows through {url}"


def test_every_route_is_in_the_matrix():
    assert len(ROUTES) > 40
    for name in ("patients/<uuid:patient_id>/", "audit/export.csv", "api/v1/^patients/(?P<patient_id>[^/.]+)/$"):
        assert name in ROUTES
