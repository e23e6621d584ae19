"""Rendered frames and thumbnails: JPEG/PNG, window, viewport, access (compressed data:
test_compressed_rendering.py)."""
from __future__ import annotations

import io
import threading

import pydicom
import pydicom.data
import pytest
from PIL import Image

from imaging.dicom import render
from telemed.accounts.models import Role
from telemed.audit.models import AuditEvent
from tests.imaging.corpus import bundled_as, ct_series, restacked, written
from tests.imaging.stored import stored_by_north

pytestmark = pytest.mark.django_db


def _url(instance, tail: str) -> str:
    series = instance.series
    return f"/dicomweb/studies/{series.study.study_instance_uid}/series/{series.series_instance_uid}/instances/{instance.sop_instance_uid}/{tail}"


def test_ct_frame_is_rendered_as_jpeg_in_the_asked_window_and_size(cast, client_for):
    instance = stored_by_north(cast, ct_series(slices=1, size=64)[0])
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    response = client.get(_url(instance, "rendered"), {"window": "40,400", "viewport": "32,32"})
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    image = Image.open(io.BytesIO(response.content))
    assert image.size == (32, 32) and image.mode == "L"
    lung = client.get(_url(instance, "frames/1/rendered"), {"window": "-600,1500"}, HTTP_ACCEPT="image/png")
    assert lung["Content-Type"] == "image/png" and Image.open(io.BytesIO(lung.content)).size == (64, 64)


def test_a_rendered_image_is_painted_on_another_thread_while_its_access_is_recorded(cast, client_for, monkeypatch):
    instance = stored_by_north(cast, ct_series(slices=1, size=64)[0])
    painted_on, encode = [], render.encode
    monkeypatch.setattr(render, "encode", lambda *args, **kwargs: painted_on.append(threading.current_thread().name) or encode(*args, **kwargs))
    response = client_for(cast.north[Role.CLINIC_DOCTOR]).get(_url(instance, "rendered"), {"window": "40,400"})
    assert response.status_code == 200 and Image.open(io.BytesIO(response.content)).size == (64, 64)
    assert painted_on[0].startswith("render") and painted_on[0] != threading.current_thread().name
    event = AuditEvent.objects.get(action="imaging.wado", detail__rendered=True)
    assert event.actor_id == cast.north[Role.CLINIC_DOCTOR].pk and event.patient_id == instance.series.study.patient_id
    assert event.detail["instance"] == instance.sop_instance_uid and event.detail["frame"] == 1


def test_a_refused_rendering_records_no_access(cast, client_for):
    instance = stored_by_north(cast, ct_series(slices=1)[0])
    assert client_for(cast.north[Role.CLINIC_DOCTOR]).get(_url(instance, "rendered"), {"window": "wide"}).status_code == 400
    assert client_for(cast.doc_n2).get(_url(instance, "rendered")).status_code == 404
    assert not AuditEvent.objects.filter(action="imaging.wado").exists()


def test_thumbnails_are_small(cast, client_for):
    instance = stored_by_north(cast, ct_series(slices=1, size=256)[0])
    response = client_for(cast.north[Role.CLINIC_DOCTOR]).get(_url(instance, "thumbnail"))
    assert max(Image.open(io.BytesIO(response.content)).size) <= 128
    series = instance.series
    series_thumb = client_for(cast.north[Role.CLINIC_DOCTOR]).get(f"/dicomweb/studies/{series.study.study_instance_uid}/series/{series.series_instance_uid}/thumbnail")
    assert series_thumb.status_code == 200


def test_bad_rendering_parameters_get_a_400(cast, client_for):
    instance = stored_by_north(cast, ct_series(slices=1)[0])
    assert client_for(cast.north[Role.CLINIC_DOCTOR]).get(_url(instance, "rendered"), {"window": "wide"}).status_code == 400
    for nothing in ("nan,400", "40,inf"):
        refused = client_for(cast.north[Role.CLINIC_DOCTOR]).get(_url(instance, "rendered"), {"window": nothing})
        assert refused.status_code == 400 and "center,width" in refused.json()["detail"]


def test_another_clinic_cannot_render_the_study(cast, client_for):
    instance = stored_by_north(cast, ct_series(slices=1)[0])
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


@pytest.mark.parametrize("accept", ["image/gif", "application/dicom", "application/dicom+json"])
def test_a_rendering_asked_for_only_in_a_form_not_produced_gets_a_406(cast, client_for, accept):
    instance = stored_by_north(cast, ct_series(slices=1)[0])
    response = client_for(cast.north[Role.CLINIC_DOCTOR]).get(_url(instance, "rendered"), HTTP_ACCEPT=accept)
    assert response.status_code == 406 and "image/jpeg" in response.json()["detail"]
    assert not AuditEvent.objects.filter(action="imaging.wado").exists()


@pytest.mark.parametrize("accept, produced", [(None, "image/jpeg"), ("*/*", "image/jpeg"), ("image/*", "image/jpeg"), ("image/gif, image/png", "image/png"), ("image/jpeg;q=0.5, image/png", "image/png")])
def test_a_rendering_is_sent_in_the_first_acceptable_form(cast, client_for, accept, produced):
    instance = stored_by_north(cast, ct_series(slices=1)[0])
    headers = {"HTTP_ACCEPT": accept} if accept else {}
    response = client_for(cast.north[Role.CLINIC_DOCTOR]).get(_url(instance, "rendered"), **headers)
    assert response.status_code == 200 and response["Content-Type"] == produced


@pytest.mark.parametrize("params, named", [
    ({"window": "40,0"}, "window"), ({"window": "40,-5"}, "window"), ({"viewport": "0,0"}, "viewport"),
    ({"window": "40,400,bogus"}, "window"), ({"window": "40,400,linear,1"}, "window"), ({"window": "40"}, "window"),
    ({"viewport": "32,32,0,0,-8,8"}, "viewport"), ({"viewport": "32,32,-1,0,8,8"}, "viewport"), ({"viewport": "32,32,0,0"}, "viewport"),
    ({"viewport": "32,32,60,0,8,8"}, "The viewport's region"),
    ({"quality": "0"}, "quality"), ({"quality": "101"}, "quality"), ({"quality": "50.5"}, "quality"), ({"quality": "-9999999999999999999999"}, "quality"),
])
def test_a_rendering_parameter_out_of_its_range_gets_a_400_naming_it(cast, client_for, params, named):
    instance = stored_by_north(cast, ct_series(slices=1)[0])
    response = client_for(cast.north[Role.CLINIC_DOCTOR]).get(_url(instance, "rendered"), params)
    assert response.status_code == 400 and response.json()["detail"].startswith(named)


def test_a_window_one_wide_and_quality_at_its_ends_are_rendered(cast, client_for):
    instance = stored_by_north(cast, ct_series(slices=1)[0])
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    for params in ({"window": "40,1"}, {"quality": "1"}, {"quality": "100"}):
        assert client.get(_url(instance, "rendered"), params).status_code == 200


def _parts(response) -> list[bytes]:
    boundary = response["Content-Type"].split("boundary=")[1].encode()
    chunks = b"".join(response.streaming_content).split(b"--" + boundary)[1:-1]
    return [chunk.split(b"\r\n\r\n", 1)[1][:-2] for chunk in chunks]


def test_a_series_is_rendered_as_a_multipart_of_its_images_and_audited_once(cast, client_for):
    from tests.imaging.reading_factories import ct_study

    study = ct_study(cast.north, slices=3)
    series = study.series.get()
    response = client_for(cast.north[Role.CLINIC_DOCTOR]).get(f"/dicomweb/studies/{study.study_instance_uid}/series/{series.series_instance_uid}/rendered", {"viewport": "16,16"})
    assert response.status_code == 200 and response["Content-Type"].startswith('multipart/related; type="image/jpeg"')
    images = [Image.open(io.BytesIO(part)) for part in _parts(response)]
    assert len(images) == 3 and {image.size for image in images} == {(16, 16)}
    event = AuditEvent.objects.get(action="imaging.wado", detail__rendered=True)
    assert event.detail["series"] == series.series_instance_uid and event.detail["count"] == 3


def test_a_study_thumbnail_is_its_first_series_middle_image(cast, client_for):
    from tests.imaging.reading_factories import ct_study

    study = ct_study(cast.north, slices=3)
    response = client_for(cast.north[Role.CLINIC_DOCTOR]).get(f"/dicomweb/studies/{study.study_instance_uid}/thumbnail")
    assert response.status_code == 200 and max(Image.open(io.BytesIO(response.content)).size) <= 128
    middle = study.series.get().instances.order_by("instance_number")[1]
    assert AuditEvent.objects.get(action="imaging.wado").detail["instance"] == middle.sop_instance_uid


def test_a_study_thumbnail_skips_a_first_series_without_images(cast, client_for):
    first = ct_series(slices=1)[0]
    study_uid = pydicom.dcmread(io.BytesIO(first)).StudyInstanceUID
    report = pydicom.dcmread(pydicom.data.get_testdata_file("test-SR.dcm"))
    report.StudyInstanceUID, report.SeriesNumber, report.PatientID = study_uid, 0, pydicom.dcmread(io.BytesIO(first)).PatientID
    stored_by_north(cast, written(report))
    images = [stored_by_north(cast, data) for data in restacked(ct_series(slices=5), study_uid=study_uid, frame_of_reference="1.2.3", series_number=2, slice_gap=1.0)]
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    assert client.get(f"/dicomweb/studies/{study_uid}/thumbnail").status_code == 200
    middle = sorted(images, key=lambda i: i.instance_number)[2]
    assert AuditEvent.objects.get(action="imaging.wado").detail["instance"] == middle.sop_instance_uid
    assert client.get(f"/dicomweb/studies/{study_uid}/series/{report.SeriesInstanceUID}/thumbnail").status_code == 404


def test_another_clinic_cannot_render_the_series_or_the_study_thumbnail(cast, client_for):
    from tests.imaging.reading_factories import ct_study

    study = ct_study(cast.north, slices=2)
    series = study.series.get()
    base = f"/dicomweb/studies/{study.study_instance_uid}"
    for path in (f"{base}/series/{series.series_instance_uid}/rendered", f"{base}/thumbnail", f"{base}/series/{series.series_instance_uid}/thumbnail"):
        assert client_for(cast.doc_n2).get(path).status_code == 404
        assert client_for(cast.south[Role.CLINIC_DOCTOR]).get(path).status_code == 404
    assert not AuditEvent.objects.filter(action="imaging.wado").exists()


def test_several_frames_rendered_come_as_a_multipart_of_each_frame(cast, client_for):
    instance = stored_by_north(cast, bundled_as("rtdose.dcm", patient_id=cast.north.patient.mrn))
    response = client_for(cast.north[Role.CLINIC_DOCTOR]).get(_url(instance, "frames/1,3,15/rendered"), HTTP_ACCEPT="image/png")
    assert response.status_code == 200 and response["Content-Type"].startswith('multipart/related; type="image/png"')
    images = [Image.open(io.BytesIO(part)) for part in _parts(response)]
    assert len(images) == 3 and {image.size for image in images} == {(instance.columns, instance.rows)}
    assert images[0].tobytes() != images[2].tobytes()  # frames 1 and 15 of the dose grid differ
    assert AuditEvent.objects.get(action="imaging.wado", detail__rendered=True).detail["frames"] == [1, 3, 15]


@pytest.mark.parametrize("tail", ["frames/{n}", "frames/{n}/rendered", "frames/1,{n}"])
def test_a_frame_number_of_thousands_of_digits_is_a_404_not_a_server_error(cast, client_for, tail):
    instance = stored_by_north(cast, ct_series(slices=1)[0])
    response = client_for(cast.north[Role.CLINIC_DOCTOR]).get(_url(instance, tail.format(n="9" * 5000)))
    assert response.status_code == 404 and response.json()["detail"]


@pytest.mark.parametrize("tail", ["frames/1", "frames/1/rendered", "rendered", "thumbnail", "bulkdata/7FE00010"])
def test_the_images_of_an_instance_without_pixel_data_are_not_found(cast, client_for, tail):
    instance = stored_by_north(cast, bundled_as("rtplan.dcm", patient_id=cast.north.patient.mrn))
    response = client_for(cast.north[Role.CLINIC_DOCTOR]).get(_url(instance, tail), HTTP_ACCEPT="*/*")
    assert response.status_code == 404 and "no pixel data" in response.json()["detail"]


def test_a_viewport_region_shows_that_part_of_the_image_fitted_into_the_viewport(cast, client_for):
    instance = stored_by_north(cast, ct_series(slices=1, size=64)[0])
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    whole = Image.open(io.BytesIO(client.get(_url(instance, "rendered"), {"window": "40,400"}, HTTP_ACCEPT="image/png").content))
    part = client.get(_url(instance, "rendered"), {"window": "40,400", "viewport": "16,16,8,24,32,32"}, HTTP_ACCEPT="image/png")
    assert part.status_code == 200
    assert Image.open(io.BytesIO(part.content)).tobytes() == whole.crop((8, 24, 40, 56)).resize((16, 16), Image.Resampling.LANCZOS).tobytes()


def test_a_window_function_shapes_the_grey_between_the_ends(cast, client_for):
    instance = stored_by_north(cast, ct_series(slices=1, size=64)[0])
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    grey = {function: client.get(_url(instance, "rendered"), {"window": f"40,400,{function}"}, HTTP_ACCEPT="image/png") for function in ("linear", "LINEAR-EXACT", "sigmoid")}
    assert {response.status_code for response in grey.values()} == {200}
    assert len({response.content for response in grey.values()}) == 3


def test_a_thumbnail_takes_the_viewport_asked_for(cast, client_for):
    instance = stored_by_north(cast, ct_series(slices=1, size=64)[0])
    client = client_for(cast.north[Role.CLINIC_DOCTOR])
    assert Image.open(io.BytesIO(client.get(_url(instance, "thumbnail"), {"viewport": "24,24"}).content)).size == (24, 24)
    assert client.get(_url(instance, "thumbnail"), {"viewport": "abc"}).status_code == 400
