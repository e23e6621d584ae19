"""The viewer's region tool: the values (HU for CT, dose for RT Dose) inside an ellipse or a
rectangle drawn on an image, or of the one pixel clicked; measured on the stored pixels, checked
against pydicom's own modality LUT and an RT Dose's Dose Grid Scaling, refused with a reason for a
region it cannot measure, and audited as a read."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.pixels import apply_modality_lut

from imaging.dicom.regions import RegionError, region_values
from imaging.dicom.render import Frame
from imaging.services import pixels
from imaging.services.ingest import instance_ingest
from telemed.accounts.models import Role
from telemed.audit.models import AuditEvent
from tests.imaging.corpus import archivable, written

pytestmark = pytest.mark.django_db


def _stored(cast, name: str, data: bytes | None = None):
    data = data or archivable(Path(get_testdata_file(name)))
    result = instance_ingest(stream=io.BytesIO(data), institution=cast.north.clinic, by=cast.north[Role.CLINIC_DOCTOR], source="test")
    assert result.ok, result.reason
    return result.instance


def _region_url(instance, **params) -> str:
    series = instance.series
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"/imaging/studies/{series.study.pk}/view/{series.series_instance_uid}/{instance.sop_instance_uid}/1/region/?{query}"


def _hounsfield(name: str) -> np.ndarray:
    dataset = pydicom.dcmread(get_testdata_file(name))
    return apply_modality_lut(dataset.pixel_array, dataset).astype(np.float64)


def test_a_rectangle_on_a_ct_slice_gives_the_hounsfield_units_of_its_pixels(cast, client_for):
    instance = _stored(cast, "CT_small.dcm")
    response = client_for(cast.north[Role.CLINIC_DOCTOR]).get(_region_url(instance, box="10,20,30,25", shape="rectangle"))
    assert response.status_code == 200
    expected = _hounsfield("CT_small.dcm")[20:25, 10:30]
    answer = response.json()
    assert answer["unit"] == "HU" and answer["pixels"] == expected.size == 100
    assert answer["mean"] == pytest.approx(expected.mean()) and answer["sd"] == pytest.approx(expected.std())
    assert (answer["min"], answer["max"]) == (expected.min(), expected.max())


def test_a_click_gives_the_value_of_the_pixel_under_it(cast, client_for):
    instance = _stored(cast, "CT_small.dcm")
    answer = client_for(cast.north[Role.CLINIC_DOCTOR]).get(_region_url(instance, box="12.3,40.8,12.3,40.8")).json()
    assert answer["pixels"] == 1 and answer["mean"] == _hounsfield("CT_small.dcm")[40, 12] and answer["sd"] == 0


def test_an_mr_image_is_measured_in_its_stored_values_with_no_unit_named(cast, client_for):
    instance = _stored(cast, "MR_small.dcm")
    answer = client_for(cast.north[Role.CLINIC_DOCTOR]).get(_region_url(instance, box="0,0,4,4", shape="rectangle")).json()
    assert answer["unit"] == "" and answer["mean"] == pytest.approx(_hounsfield("MR_small.dcm")[:4, :4].mean())


def test_an_ellipse_counts_only_the_pixels_inside_it():
    values = np.zeros((40, 40), np.int16)
    yy, xx = np.mgrid[:40, :40]
    values[(xx - 19.5) ** 2 + (yy - 19.5) ** 2 <= 10**2] = 1100  # a disc of 60 HU after the rescale
    frame = Frame(values=values, window=(40, 400), rescale=(1.0, -1040.0))
    inside = region_values(frame, (12, 12, 28, 28), ellipse=True)
    assert inside.mean == 60 and inside.sd == 0 and 150 < inside.pixels < 256 - 40
    around = region_values(frame, (8, 8, 32, 32), ellipse=False)
    assert around.pixels == 24 * 24 and (around.minimum, around.maximum) == (-1040, 60)


@pytest.mark.parametrize("params, reason", [
    ({"box": "1,2,3"}, "box=x0,y0,x1,y1"),
    ({"box": "a,b,c,d"}, "box=x0,y0,x1,y1"),
    ({"box": "1,2,3,nan"}, "box=x0,y0,x1,y1"),
    ({"box": "1" * 400 + ",0,0,0"}, "box=x0,y0,x1,y1"),
    ({"box": "1,2,3,4", "shape": "star"}, "ellipse or rectangle"),
    ({"box": "500,500,600,600"}, "outside the image (128 × 128 pixels)"),
    ({"box": "-50,-50,-10,-10"}, "outside the image"),
])
def test_a_region_that_cannot_be_measured_is_refused_with_a_reason(cast, client_for, params, reason):
    instance = _stored(cast, "CT_small.dcm")
    response = client_for(cast.north[Role.CLINIC_DOCTOR]).get(_region_url(instance, **params))
    assert response.status_code == 400 and reason in response.json()["detail"]


def test_a_colour_image_has_no_values_to_measure(cast, client_for):
    instance = _stored(cast, "SC_rgb_small_odd.dcm")
    response = client_for(cast.north[Role.CLINIC_DOCTOR]).get(_region_url(instance, box="0,0,4,4"))
    assert response.status_code == 400 and "colour" in response.json()["detail"]


def test_the_reason_is_given_in_the_readers_language(cast, client_for):
    instance = _stored(cast, "CT_small.dcm")
    response = client_for(cast.north[Role.CLINIC_DOCTOR], language="zh-hans").get(_region_url(instance, box="500,500,600,600"))
    assert response.status_code == 400 and "图像" in response.json()["detail"]


def test_measuring_a_region_is_audited_as_a_read_of_that_image(cast, client_for):
    instance = _stored(cast, "CT_small.dcm")
    client_for(cast.north[Role.CLINIC_DOCTOR]).get(_region_url(instance, box="1,2,3,4", shape="rectangle"))
    event = AuditEvent.objects.get(action="imaging.region")
    assert event.object_id == str(instance.series.study.pk) and event.patient_id == instance.series.study.patient_id
    assert event.detail == {"series": instance.series.series_instance_uid, "instance": instance.sop_instance_uid, "frame": 1, "box": "1,2,3,4", "shape": "rectangle"}


def test_the_sibling_clinic_cannot_measure_a_region_of_the_image(cast, client_for):
    instance = _stored(cast, "CT_small.dcm")
    assert client_for(cast.doc_n2).get(_region_url(instance, box="1,2,3,4")).status_code == 404
    assert not AuditEvent.objects.filter(action="imaging.region", outcome="success").exists()


def _dose(units: str | None, scaling: str | None = "1.5e-5") -> tuple[pydicom.Dataset, bytes]:
    """pydicom's RT Dose grid (15 frames of 10 × 10, RELATIVE, scaling 1e-6) in `units` and `scaling`."""
    dataset = pydicom.dcmread(get_testdata_file("rtdose.dcm"))
    for keyword, value in (("DoseUnits", units), ("DoseGridScaling", scaling)):
        if value is None:
            del dataset[keyword]
        else:
            setattr(dataset, keyword, value)
    return dataset, written(dataset)


@pytest.mark.parametrize("units, unit", [("GY", "Gy"), ("RELATIVE", "")])
def test_an_rt_dose_region_is_measured_in_dose_with_its_unit(cast, units, unit):
    dataset, data = _dose(units)
    instance = _stored(cast, "rtdose.dcm", data)
    values, named = pixels.region_get(instance=instance, number=3, box=(2, 1, 7, 9), ellipse=False)
    dose = dataset.pixel_array[2].astype(np.float64) * 1.5e-5
    assert named == unit and values.pixels == 40
    assert values.mean == pytest.approx(dose[1:9, 2:7].mean()) and values.sd == pytest.approx(dose[1:9, 2:7].std())
    assert (values.minimum, values.maximum) == (pytest.approx(dose[1:9, 2:7].min()), pytest.approx(dose[1:9, 2:7].max()))
    assert values.maximum < 100  # dose, not the stored integers (up to 1254000)


def test_an_rt_dose_without_a_dose_grid_scaling_is_refused_with_a_reason(cast):
    instance = _stored(cast, "rtdose.dcm", _dose("GY", scaling=None)[1])
    with pytest.raises(RegionError, match=r"Dose Grid Scaling \(3004,000E\)"):
        pixels.region_get(instance=instance, number=1, box=(0, 0, 4, 4), ellipse=False)


def test_the_viewer_is_told_an_rt_dose_regions_unit(cast, client_for):
    instance = _stored(cast, "rtdose.dcm", _dose("GY")[1])
    answer = client_for(cast.north[Role.CLINIC_DOCTOR]).get(_region_url(instance, box="4.5,4.5,4.5,4.5")).json()
    assert answer["unit"] == "Gy" and answer["pixels"] == 1
