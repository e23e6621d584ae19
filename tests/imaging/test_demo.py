"""The demo's studies: generated chest CTs and pydicom samples for demo patients, through the
ingest service, matched to the patients; loading the demo again adds nothing."""
from __future__ import annotations

import numpy as np
import pydicom
import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from pydicom.pixels import apply_modality_lut

from imaging.models import DicomNode, Instance, StorageUsage, Study

pytestmark = pytest.mark.django_db


def _counts():
    return (Study.objects.count(), Instance.objects.count(), DicomNode.objects.count(), sum(StorageUsage.objects.values_list("bytes", flat=True)))


def test_the_demo_loads_its_studies_once_matched_to_demo_patients():
    call_command("seed_demo")
    first = _counts()
    call_command("seed_demo")
    assert _counts() == first
    studies = {s.patient.mrn: s for s in Study.objects.select_related("patient", "institution")}
    assert set(studies) == {"QS-0001", "QS-0004", "HK-0001", "HK-0003"}
    assert all(s.institution == s.patient.institution for s in studies.values())
    assert studies["QS-0001"].series.get().instances.count() == 40
    assert {n.ae_title for n in DicomNode.objects.all()} == {"QINGSHAN_CT", "HEKOU_PACS"}
    assert set(Instance.objects.values_list("source", flat=True)) == {"demo"}


def test_the_generated_ct_looks_like_a_chest_ct():
    call_command("seed_demo")
    middle = Study.objects.get(patient__mrn="QS-0001").series.get().instances.order_by("instance_number")[20]
    with default_storage.open(middle.file.name) as handle:
        ds = pydicom.dcmread(handle)
    hu = apply_modality_lut(ds.pixel_array, ds)
    assert (ds.Rows, ds.Columns, ds.Modality) == (256, 256, "CT") and ds.PatientName == "王秀英"
    assert np.mean(hu < -700) > 0.2  # air around the body and in the lungs
    assert np.mean((hu > 0) & (hu < 100)) > 0.1  # soft tissue
    assert np.sum(hu > 300) > 50  # the spine
