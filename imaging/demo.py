"""The imaging part of the demo: each clinic's CT and PACS registered as DICOM nodes, generated
chest CT series and pydicom's sample images for demo patients, all through the ingest service.

Run by `manage.py seed_demo` after the alliance exists. Every series has fixed UIDs and is skipped
when its study is already stored, so running it again adds nothing.
"""
from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pydicom
import pydicom.data
from django.utils import timezone

from imaging.dicom.synthetic import FIELD_OF_VIEW_MM, LEFT_UPPER_NODULE, RIGHT_LOWER_LOBE_CONSOLIDATION, ct_series, seeded_uid
from imaging.models import DicomNode, Study
from imaging.services.ingest import instance_ingest
from imaging.services.nodes import node_create
from telemed.accounts.models import Institution, User
from telemed.patients.models import Patient

SEED = "telemed-demo"
SAMPLES = Path(pydicom.data.__file__).parent / "test_files"

# (clinic code, AE title, kind, port, description); both at 127.0.0.1 so that a modality on the
# demo machine (`python -m pynetdicom storescu 127.0.0.1 11112 FILE -aet QINGSHAN_CT`) gets in.
NODES = [
    ("C-0101", "QINGSHAN_CT", DicomNode.Kind.MODALITY, None, "16排CT（示范）"),
    ("C-0102", "HEKOU_PACS", DicomNode.Kind.PACS, 11113, "河口社区PACS（示范，未运行）"),
]
# (clinic code, patient record number, description, lesions, days before the seed)
GENERATED = [
    ("C-0101", "QS-0001", "胸部CT平扫", RIGHT_LOWER_LOBE_CONSOLIDATION, 2),
    ("C-0102", "HK-0001", "胸部CT平扫（复查）", LEFT_UPPER_NODULE, 5),
]
# (clinic code, patient record number, pydicom sample file, study description)
SAMPLE_FILES = [("C-0101", "QS-0004", "CT_small.dcm", "胸部CT（pydicom 示例）"), ("C-0102", "HK-0003", "MR_small.dcm", "头颅MR（pydicom 示例）")]
SLICES, SIZE = 40, 256


def seed_imaging() -> None:
    admin = User.objects.get(username="admin")
    clinics = {i.code: i for i in Institution.objects.filter(code__in=[n[0] for n in NODES])}
    for code, ae_title, kind, port, description in NODES:
        if not DicomNode.objects.filter(ae_title=ae_title).exists():
            node_create(by=admin, institution=clinics[code], ae_title=ae_title, host="127.0.0.1", port=port, kind=kind, description=description)
    senders = {node.institution.code: node.device for node in DicomNode.objects.filter(ae_title__in=[n[1] for n in NODES]).select_related("institution", "device")}
    for code, mrn, description, lesions, days in GENERATED:
        patient = Patient.objects.get(institution=clinics[code], mrn=mrn)
        seed = f"{SEED}:{mrn}"
        if Study.objects.filter(study_instance_uid=seeded_uid(seed, "study")).exists():
            continue
        files = ct_series(
            slices=SLICES, size=SIZE, seed=seed, patient_id=mrn, patient_name=patient.name, description=description,
            lesions=lesions, pixel_spacing=round(FIELD_OF_VIEW_MM / SIZE, 4), study_date=(timezone.localdate() - timedelta(days=days)).strftime("%Y%m%d"), institution_name=clinics[code].name,
        )
        _ingest(files, clinics[code], senders[code])
    for code, mrn, name, description in SAMPLE_FILES:
        patient = Patient.objects.get(institution=clinics[code], mrn=mrn)
        data = _sample_for(name, patient, description)
        if not Study.objects.filter(study_instance_uid=pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True).StudyInstanceUID).exists():
            _ingest([data], clinics[code], senders[code])


def _sample_for(name: str, patient: Patient, description: str) -> bytes:
    """A pydicom sample given to a demo patient: their Patient ID and name, and UIDs of its own
    (derived, so the sample can be loaded for the tests or another patient without a clash)."""
    dataset = pydicom.dcmread(SAMPLES / name)
    dataset.SpecificCharacterSet = "ISO_IR 192"
    dataset.PatientID, dataset.PatientName, dataset.StudyDescription = patient.mrn, patient.name, description
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID"):
        if keyword in dataset:
            setattr(dataset, keyword, seeded_uid(f"{SEED}:{patient.mrn}", name, keyword))
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _ingest(files: list[bytes], clinic: Institution, device: User) -> None:
    for data in files:
        result = instance_ingest(stream=io.BytesIO(data), institution=clinic, by=device, source="demo")
        if not result.ok:
            raise RuntimeError(f"the demo image was refused: {result.reason}")
