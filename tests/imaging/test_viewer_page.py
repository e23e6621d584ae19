"""The viewer page: what it is told about a study (series, images, spacing, slice positions, each
image's own window, colour), the window of an image whose header has none, a study without images,
and who may open it."""
from __future__ import annotations

import io
import json
import re

import pydicom
import pytest
from pydicom.uid import generate_uid

from imaging.services import pixels
from telemed.accounts.models import Role
from telemed.audit.models import AuditEvent
from tests.imaging.corpus import BUNDLED, ct_series, restacked, written
from tests.imaging.stored import stored_by_north

pytestmark = pytest.mark.django_db


def _viewer_data(response) -> dict:
    html = response.content.decode()
    start = html.index('<script id="viewer-data" type="application/json">') + len('<script id="viewer-data" type="application/json">')
    return json.loads(html[start:html.index("</script>", start)])


def test_viewer_lists_series_in_order_with_spacing_and_slice_positions(cast, client_for):
    study_uid, frame_of_reference = generate_uid(), generate_uid()
    same = {"study_uid": study_uid, "frame_of_reference": frame_of_reference}
    for data in restacked(ct_series(slices=3), **same, series_number=3, slice_gap=2.5):
        study = stored_by_north(cast, data).series.study
    for data in restacked(ct_series(slices=2), **same, series_number=2, slice_gap=5.0):
        stored_by_north(cast, data)
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
    instance = stored_by_north(cast, next(p for p in BUNDLED if p.name == "examples_ybr_color.dcm").read_bytes())
    viewer = _viewer_data(client_for(cast.north[Role.CLINIC_DOCTOR]).get(f"/imaging/studies/{instance.series.study.pk}/view/"))
    (series,) = viewer["series"]
    assert [image["frame"] for image in series["images"]] == list(range(1, 31))
    assert {image["uid"] for image in series["images"]} == {instance.sop_instance_uid}


def test_the_sibling_clinic_cannot_open_the_viewer(cast, client_for):
    study = stored_by_north(cast, ct_series(slices=1)[0]).series.study
    assert client_for(cast.doc_n2).get(f"/imaging/studies/{study.pk}/view/").status_code == 404
    assert client_for(cast.south[Role.CLINIC_DOCTOR]).get(f"/imaging/studies/{study.pk}/view/").status_code == 404


def _bundled(name: str) -> bytes:
    return next(p for p in BUNDLED if p.name == name).read_bytes()


def test_the_viewer_is_told_each_images_own_window_and_which_series_are_in_colour(cast, client_for):
    ct = stored_by_north(cast, ct_series(slices=1)[0])
    mr = stored_by_north(cast, _bundled("MR_small.dcm"))
    colour = stored_by_north(cast, _bundled("examples_ybr_color.dcm"))
    doctor = client_for(cast.north[Role.CLINIC_DOCTOR])
    (ct_view,) = _viewer_data(doctor.get(f"/imaging/studies/{ct.series.study.pk}/view/"))["series"]
    (mr_view,) = _viewer_data(doctor.get(f"/imaging/studies/{mr.series.study.pk}/view/"))["series"]
    (colour_view,) = _viewer_data(doctor.get(f"/imaging/studies/{colour.series.study.pk}/view/"))["series"]
    assert ct_view["images"][0]["window"] == [40, 400]  # the first of the header's two, as rendered
    assert mr_view["images"][0]["window"] == [600, 1600]
    assert not ct_view["colour"] and not mr_view["colour"] and colour_view["colour"]


def _window_url(instance, frame: int = 1) -> str:
    return f"/imaging/studies/{instance.series.study.pk}/view/{instance.series.series_instance_uid}/{instance.sop_instance_uid}/{frame}/window/"


def test_an_image_whose_header_names_no_window_is_given_the_window_the_server_renders_it_with(cast, client_for):
    instance = stored_by_north(cast, _bundled("CT_small.dcm"))
    doctor = client_for(cast.north[Role.CLINIC_DOCTOR])
    (series,) = _viewer_data(doctor.get(f"/imaging/studies/{instance.series.study.pk}/view/"))["series"]
    assert series["images"][0]["window"] is None
    response = doctor.get(_window_url(instance))
    assert response.status_code == 200
    frame = pixels.frame_get(instance=instance, number=1)
    assert response.json() == {"window": list(frame.window)}
    assert doctor.get(_window_url(instance, frame=2)).status_code == 404


def test_asking_an_images_window_is_audited_as_a_read_of_that_image(cast, client_for):
    instance = stored_by_north(cast, _bundled("CT_small.dcm"))
    client_for(cast.north[Role.CLINIC_DOCTOR]).get(_window_url(instance))
    event = AuditEvent.objects.get(action="imaging.frame_window")
    assert event.object_id == str(instance.series.study.pk) and event.patient_id == instance.series.study.patient_id
    assert event.actor == cast.north[Role.CLINIC_DOCTOR]
    assert event.detail == {"series": instance.series.series_instance_uid, "instance": instance.sop_instance_uid, "frame": 1}


def test_the_window_of_an_undecodable_image_is_refused_with_the_decoders_reason(cast, client_for):
    instance = stored_by_north(cast, _bundled("JPEG-lossy.dcm"))
    response = client_for(cast.north[Role.CLINIC_DOCTOR]).get(_window_url(instance))
    assert response.status_code == 406 and response.json()["detail"]


def test_an_images_window_asked_for_with_an_overlong_address_is_a_404_audited_in_bounds(cast, client_for):
    instance = stored_by_north(cast, _bundled("CT_small.dcm"))
    study = instance.series.study
    response = client_for(cast.north[Role.CLINIC_DOCTOR]).get(f"/imaging/studies/{study.pk}/view/{'1' * 5000}/{'2' * 5000}/{'9' * 40}/window/")
    assert response.status_code == 404
    event = AuditEvent.objects.get(action="imaging.frame_window")
    assert event.detail == {"series": "1" * 64, "instance": "2" * 64, "frame": 2**31}


def test_the_sibling_clinic_cannot_ask_for_an_images_window(cast, client_for):
    instance = stored_by_north(cast, _bundled("CT_small.dcm"))
    assert client_for(cast.doc_n2).get(_window_url(instance)).status_code == 404
    assert not AuditEvent.objects.filter(action="imaging.frame_window", outcome="success").exists()


def test_a_study_without_images_says_so_and_its_page_offers_no_viewer(cast, client_for):
    report = stored_by_north(cast, _bundled("test-SR.dcm"))
    doctor = client_for(cast.north[Role.CLINIC_DOCTOR])
    viewer = doctor.get(f"/imaging/studies/{report.series.study.pk}/view/").content.decode()
    assert "This study has no images to display" in viewer and 'id="viewer"' not in viewer
    detail = doctor.get(f"/imaging/studies/{report.series.study.pk}/").content.decode()
    assert "This study has no images to display" in detail and "Open in the viewer" not in detail
    image = stored_by_north(cast, ct_series(slices=1)[0])
    assert "Open in the viewer" in doctor.get(f"/imaging/studies/{image.series.study.pk}/").content.decode()


def test_the_viewer_heading_shows_the_study_date_as_the_pages_write_dates(cast, client_for):
    instance = stored_by_north(cast, _bundled("MR_small.dcm"))  # Study Date 20040826
    url = f"/imaging/studies/{instance.series.study.pk}/view/"
    assert "2004-08-26" in client_for(cast.north[Role.CLINIC_DOCTOR]).get(url).content.decode()
    assert "2004-08-26" in client_for(cast.north[Role.CLINIC_DOCTOR], language="zh-hans").get(url).content.decode()



def test_the_viewer_heading_and_title_of_a_study_without_a_description_end_in_no_separator(cast, client_for):
    study = stored_by_north(cast, ct_series(slices=1, description="", study_date="20261120")[0]).series.study
    html = client_for(cast.north[Role.CLINIC_DOCTOR]).get(f"/imaging/studies/{study.pk}/view/").content.decode()
    heading = " ".join(re.sub(r"<[^>]+>", " ", html[html.index("<h1>"):html.index("</h1>")]).split())
    title = " ".join(html[html.index("<title>") + 7:html.index("</title>")].split())
    assert heading == "王秀英 2026-11-20"  # not '王秀英 · ' with nothing after the dot
    assert title == "Viewer · Remote consultation and rounds"

# --- The tag panel -------------------------------------------------------------------------------------

def _tags_url(instance) -> str:
    return f"/imaging/studies/{instance.series.study.pk}/view/{instance.series.series_instance_uid}/{instance.sop_instance_uid}/tags/"


def test_the_tag_panel_names_each_attribute_with_its_vr_and_value_and_indents_sequence_items(cast, client_for):
    instance = stored_by_north(cast, _bundled("CT_small.dcm"))
    panel = client_for(cast.north[Role.CLINIC_DOCTOR]).get(_tags_url(instance)).content.decode()
    assert "<code>(0010,0010)</code>" in panel and "Patient&#x27;s Name" in panel
    assert '<td class="vr">PN</td>' in panel and "CompressedSamples^CT1" in panel
    # Other Patient IDs Sequence: its items one level in, their attributes two.
    assert "Other Patient IDs Sequence" in panel and 'style="--depth: 1" class="item"' in panel
    assert '<tr style="--depth: 2">\n      <td class="tag"><code>(0010,0020)</code></td>' in panel
    assert "private attribute" in panel  # GE's private elements have no name in the dictionary
    chinese = client_for(cast.north[Role.CLINIC_DOCTOR], language="zh-hans").get(_tags_url(instance)).content.decode()
    assert "私有属性" in chinese and "第 1 项" in chinese


def test_a_long_value_is_cut_with_a_way_to_see_all_of_it(cast, client_for):
    dataset = pydicom.dcmread(io.BytesIO(ct_series(slices=1)[0]))
    dataset.ImageComments = "A long comment. " * 20
    instance = stored_by_north(cast, written(dataset))
    panel = client_for(cast.north[Role.CLINIC_DOCTOR]).get(_tags_url(instance)).content.decode()
    assert '<details><summary><span class="cut">A long comment.' in panel and "Show all" in panel
    assert ("A long comment. " * 20).strip() in panel


def test_the_tag_panel_is_audited_as_a_read_of_the_image_and_closed_to_the_sibling_clinic(cast, client_for):
    instance = stored_by_north(cast, _bundled("CT_small.dcm"))
    client_for(cast.north[Role.CLINIC_DOCTOR]).get(_tags_url(instance))
    event = AuditEvent.objects.get(action="imaging.instance_tags")
    assert event.detail == {"series": instance.series.series_instance_uid, "instance": instance.sop_instance_uid}
    assert event.patient_id == instance.series.study.patient_id
    assert client_for(cast.doc_n2).get(_tags_url(instance)).status_code == 404
    wrong = f"/imaging/studies/{instance.series.study.pk}/view/{instance.series.series_instance_uid}/1.2.3/tags/"
    assert client_for(cast.north[Role.CLINIC_DOCTOR]).get(wrong).status_code == 404
