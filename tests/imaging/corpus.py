"""DICOM test material: pydicom's bundled files, a generated CT series, and malformed files."""
from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pydicom
import pydicom.data
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

BUNDLED = sorted(
    list((Path(pydicom.data.__file__).parent / "test_files").glob("*.dcm")) + list((Path(pydicom.data.__file__).parent / "charset_files").glob("*.dcm"))
)


def ct_series(
    *, slices: int = 5, patient_id: str = "MRN-CT-1", patient_name: str = "王^秀英", size: int = 64, charset: str = "GB18030",
    study_uid: str | None = None, frame_of_reference: str | None = None, series_number: int = 2, slice_gap: float = 5.0,
) -> list[bytes]:
    """A small axial CT series: `slices` instances of `size`×`size` 16-bit pixels, `slice_gap` mm
    apart. Give `study_uid` and `frame_of_reference` to put a second series beside a first."""
    study, series, frame_of_reference = study_uid or generate_uid(), generate_uid(), frame_of_reference or generate_uid()
    files = []
    for n in range(1, slices + 1):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SpecificCharacterSet = charset
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.PatientName, ds.PatientID, ds.PatientSex, ds.PatientBirthDate = patient_name, patient_id, "F", "19560314"
        ds.StudyDate, ds.StudyTime, ds.Modality, ds.StudyDescription = date.today().strftime("%Y%m%d"), "093000", "CT", "胸部CT平扫"
        ds.SeriesNumber, ds.InstanceNumber, ds.BodyPartExamined = series_number, n, "CHEST"
        ds.FrameOfReferenceUID, ds.ImageOrientationPatient = frame_of_reference, [1, 0, 0, 0, 1, 0]
        ds.Rows = ds.Columns = size
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 1
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.PixelSpacing, ds.SliceThickness, ds.ImagePositionPatient = [0.7, 0.7], slice_gap, [0, 0, slice_gap * n]
        ds.RescaleIntercept, ds.RescaleSlope, ds.WindowCenter, ds.WindowWidth = -1024, 1, 40, 400
        ds.PixelData = bytes((n + i) % 256 for i in range(size * size * 2))
        buffer = io.BytesIO()
        pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
        files.append(buffer.getvalue())
    return files


def archivable(path: Path) -> bytes:
    """The file's bytes; a few test files lack the study or series UID an archive needs, and get
    one (the pixel data is written back untouched)."""
    dataset = pydicom.dcmread(path)
    missing = [k for k in ("StudyInstanceUID", "SeriesInstanceUID") if not dataset.get(k)]
    if not missing:
        return path.read_bytes()
    for keyword in missing:
        setattr(dataset, keyword, generate_uid())
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def malformed() -> dict[str, bytes]:
    """Broken objects, each with the reason an archive must give."""
    good = ct_series(slices=1)[0]
    bad_uid = pydicom.dcmread(io.BytesIO(good))
    bad_uid.SOPInstanceUID = "1.2.abc"
    missing = pydicom.dcmread(io.BytesIO(good))
    del missing.StudyInstanceUID
    return {
        "not dicom": b"%PDF-1.4 this is a report, not an image" * 10,
        "empty": b"",
        "truncated header": good[:200],
        "bad uid": _write(bad_uid),
        "missing study uid": _write(missing),
        "no preamble": good[128:],
    }


def _write(dataset) -> bytes:
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def zeroed_preamble(data: bytes) -> bytes:
    return b"\0" * 128 + data[128:]
