"""The viewer page: what it is told about a study (series, images, spacing, slice positions) and
who may open it."""
from __future__ import annotations

import io
import json

import pytest
from pydicom.uid import generate_uid

from imaging.services.ingest import instance_ingest
from telemed.accounts.models import Role
from telemed.audit.models import AuditEvent
from tests.imaging.corpus import BUNDLED, ct_series, restacked

pytestmark = pytest.mark.django_db


def _store(cast, data: bytes):
    result = instance_ingest(stream=io.BytesIO(data), institution=cast.north.clinic, by=cast.north[Role.CLINIC_DOCTOR], source="test")
    assert result.ok, result.reason
    return result.instance


def _viewer_data(response) -> dict:
    html = response.content.decode()
    start = html.index('<script id="viewer-data" type="application/json">') + len('<script id="viewer-data" type="application/json">')
    return json.loads(html[start:html.index("</script>", start)])


def test_viewer_lists_series_in_order_with_spacing_and_slice_positions(cast, client_for):
    study_uid, frame_of_reference = generate_uid(), generate_uid()
    same = {"study_uid": study_uid, "frame_of_reference": frame_of_reference}
    for data in restacked(ct_series(slices=3), **same, series_number=3, slice_gap=2.5):
        study = _store(cast, data).series.study
    for data in restacked(ct_series(slices=2), **same, series_number=2, slice_gap=5.0):
        _store(cast, data)
    response = client_for(cast.north[Role.CLINIC_DOCTOR]).get(f"/imaging/studies/{study.pk}/view/")
    assert response.status_code == 200
    viewer = _viewer_data(response)
    assert [s["label"].split()[0] for s in viewer["series"]] == ["2", "3"]
    thin = viewer["series"][1]
    assert thin["normal"] == [0, 0, 1] and thin["frameOfReference"] == frame_of_reference
    assert [image["ipp"][2] for image in thin["images"]] == [2.5, 5.0, 7.5]
    assert thin["images"][0]["spacing"] == [0.7, 0.7] and thin["images"][0]["size"] == [64, 64]
    assert AuditEvent.objects.filter(action="imaging.study_view", object_id=str(study.pk)).count() == 1


def test_a_multiframe_instance_becomes_one_image_per_frame(cast, client_for):
    instance = _store(cast, next(p for p in BUNDLED if p.name == "examples_ybr_color.dcm").read_bytes())
    viewer = _viewer_data(client_for(cast.north[Role.CLINIC_DOCTOR]).get(f"/imaging/studies/{instance.series.study.pk}/view/"))
    (series,) = viewer["series"]
    assert [image["frame"] for image in series["images"]] == list(range(1, 31))
    assert {image["uid"] for image in series["images"]} == {instance.sop_instance_uid}


def test_objects_without_pixels_are_left_out_of_the_viewer(cast, client_for):
    report = _store(cast, next(p for p in BUNDLED if p.name == "test-SR.dcm").read_bytes())
    viewer = _viewer_data(client_for(cast.north[Role.CLINIC_DOCTOR]).get(f"/imaging/studies/{report.series.study.pk}/view/"))
    assert viewer["series"] == []


def test_the_sibling_clinic_cannot_open_the_viewer(cast, client_for):
    study = _store(cast, ct_series(slices=1)[0]).series.study
    assert client_for(cast.doc_n2).get(f"/imaging/studies/{study.pk}/view/").status_code == 404
    assert client_for(cast.south[Role.CLINIC_DOCTOR]).get(f"/imaging/studies/{study.pk}/view/").status_code == 404
