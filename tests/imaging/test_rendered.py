"""Rendered frames and thumbnails: JPEG/PNG, window, viewport, access (compressed data:
test_compressed_rendering.py)."""
from __future__ import annotations

import io
import threading

import pytest
from PIL import Image

from imaging.dicom import render
from imaging.services.ingest import instance_ingest
from telemed.accounts.models import Role
from telemed.audit.models import AuditEvent
from tests.imaging.corpus import ct_series

pytestmark = pytest.mark.django_db


def _store(cast, data: bytes):
    return instance_ingest(stream=io.BytesIO(data), institution=cast.north.clinic, by=cast.north[Role.CLINIC_DOCTOR], source="test").instance


def _url(instance, tail: str) -> str:
    series = instance.series
    return f"/dicomweb/studies/{series.study.study_instance_uid}/series/{series.series_instance_uid}/instances/{instance.sop_instance_uid}/{tail}"


def test_ct_frame_is_rendered_as_jpeg_in_the_asked_window_and_size(cast, client_for):
    instance = _store(cast, ct_series(slices=1, size=64)[0])
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    response = client.get(_url(instance, "rendered"), {"window": "40,400", "viewport": "32,32"})
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    image = Image.open(io.BytesIO(response.content))
    assert image.size == (32, 32) and image.mode == "L"
    lung = client.get(_url(instance, "frames/1/rendered"), {"window": "-600,1500"}, HTTP_ACCEPT="image/png")
    assert lung["Content-Type"] == "image/png" and Image.open(io.BytesIO(lung.content)).size == (64, 64)


def test_a_rendered_image_is_painted_on_another_thread_while_its_access_is_recorded(cast, client_for, monkeypatch):
    instance = _store(cast, ct_series(slices=1, size=64)[0])
    painted_on, encode = [], render.encode
    monkeypatch.setattr(render, "encode", lambda *args, **kwargs: painted_on.append(threading.current_thread().name) or encode(*args, **kwargs))
    response = client_for(cast.north[Role.CLINIC_DOCTOR]).get(_url(instance, "rendered"), {"window": "40,400"})
    assert response.status_code == 200 and Image.open(io.BytesIO(response.content)).size == (64, 64)
    assert painted_on[0].startswith("render") and painted_on[0] != threading.current_thread().name
    event = AuditEvent.objects.get(action="imaging.wado", detail__rendered=True)
    assert event.actor_id == cast.north[Role.CLINIC_DOCTOR].pk and event.patient_id == instance.series.study.patient_id
    assert event.detail["instance"] == instance.sop_instance_uid and event.detail["frame"] == 1


def test_a_refused_rendering_records_no_access(cast, client_for):
    instance = _store(cast, ct_series(slices=1)[0])
    assert client_for(cast.north[Role.CLINIC_DOCTOR]).get(_url(instance, "rendered"), {"window": "wide"}).status_code == 400
    assert client_for(cast.doc_n2).get(_url(instance, "rendered")).status_code == 404
    assert not AuditEvent.objects.filter(action="imaging.wado").exists()


def test_thumbnails_are_small(cast, client_for):
    instance = _store(cast, ct_series(slices=1, size=256)[0])
    response = client_for(cast.north[Role.CLINIC_DOCTOR]).get(_url(instance, "thumbnail"))
    assert max(Image.open(io.BytesIO(response.content)).size) <= 128
    series = instance.series
    series_thumb = client_for(cast.north[Role.CLINIC_DOCTOR]).get(f"/dicomweb/studies/{series.study.study_instance_uid}/series/{series.series_instance_uid}/thumbnail")
    assert series_thumb.status_code == 200


def test_bad_rendering_parameters_get_a_400(cast, client_for):
    instance = _store(cast, ct_series(slices=1)[0])
    assert client_for(cast.north[Role.CLINIC_DOCTOR]).get(_url(instance, "rendered"), {"window": "wide"}).status_code == 400
    for nothing in ("nan,400", "40,inf"):
        refused = client_for(cast.north[Role.CLINIC_DOCTOR]).get(_url(instance, "rendered"), {"window": nothing})
        assert refused.status_code == 400 and "center,width" in refused.json()["detail"]


def test_another_clinic_cannot_render_the_study(cast, client_for):
    instance = _store(cast, ct_series(slices=1)[0])
    assert client_for(cast.doc_n2).get(_url(instance, "rendered")).status_code == 404
    assert client_for(cast.doc_n2).get(_url(instance, "thumbnail")).status_code == 404


def test_the_hospitals_radiologist_renders_a_study_sent_for_reading_and_no_other(cast, client_for):
    from tests.imaging.reading_factories import ct_study, requested_read

    read = requested_read(cast.north)
    sent = read.study.series.get().instances.first()
    kept = ct_study(cast.north, patient=cast.patient_n1b).series.get().instances.first()
    radiologist = client_for(cast.north[Role.RADIOLOGIST])
    assert radiologist.get(_url(sent, "rendered")).status_code == 200
    assert radiologist.get(_url(kept, "rendered")).status_code == 404
    wrong_series = _url(sent, "rendered").replace(sent.series.series_instance_uid, kept.series.series_instance_uid)
    assert client_for(cast.north[Role.CLINIC_DOCTOR]).get(wrong_series).status_code == 404
