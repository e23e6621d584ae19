"""Generated CT series that look like a chest CT: for the demo alliance and for the tests.

A numerical phantom, slice by slice: air, a body with a fat rim, two lungs that grow towards the
middle of the chest, a heart, the aorta and a vertebra, with noise, in Hounsfield units stored
with RescaleIntercept -1024. Lesions (a consolidation, a nodule) are balls of tissue density in
the lungs. Pure pydicom and numpy; nothing here touches Django.

With a `seed` the series is the same bytes every time (UIDs and noise derived from it), so the
demo can be loaded twice without making a second copy; without one, every call is a new study.
"""
from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

FIELD_OF_VIEW_MM = 350.0
SLICE_MM = 5.0


@dataclass(frozen=True)
class Lesion:
    """A ball of `hu` in image coordinates: x, y in -0.5..0.5 of the field, z in 0..1 of the series."""

    x: float
    y: float
    z: float
    radius: float  # fraction of the field of view
    hu: float = 30.0


# The radiological convention shows the patient's right on the image's left: a right lower lobe
# consolidation sits at negative x, in the lower (later) slices.
RIGHT_LOWER_LOBE_CONSOLIDATION = (Lesion(-0.23, 0.06, 0.75, 0.06, 35.0), Lesion(-0.2, 0.1, 0.82, 0.05, 30.0))
LEFT_UPPER_NODULE = (Lesion(0.22, -0.1, 0.3, 0.02, 45.0),)


def _ellipse(xx: np.ndarray, yy: np.ndarray, cx: float, cy: float, ax: float, ay: float) -> np.ndarray:
    return ((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2 <= 1.0


def chest_slice(size: int, z: float, lesions: tuple[Lesion, ...] = (), noise: np.random.Generator | None = None) -> np.ndarray:
    """One axial slice at height z (0 = lung apex, 1 = diaphragm), in HU, as int16."""
    grid = (np.arange(size) + 0.5) / size - 0.5
    xx, yy = np.meshgrid(grid, grid)
    hu = np.full((size, size), -1000.0)
    hu[_ellipse(xx, yy, 0, 0.02, 0.42, 0.3)] = -90.0  # subcutaneous fat
    hu[_ellipse(xx, yy, 0, 0.02, 0.39, 0.27)] = 40.0  # muscle and mediastinum
    lung = np.sin(np.pi * min(max(z, 0.05), 0.95)) ** 0.5  # small at the apex and the base
    for side in (-1, 1):
        hu[_ellipse(xx, yy, side * 0.2, -0.02, 0.15 * lung, 0.22 * lung)] = -850.0
    if z > 0.4:
        hu[_ellipse(xx, yy, 0.06, 0.08, 0.085, 0.075)] = 45.0  # heart, left of the midline
    hu[_ellipse(xx, yy, -0.035, 0.16, 0.025, 0.025)] = 50.0  # descending aorta
    hu[_ellipse(xx, yy, 0, 0.24, 0.045, 0.04)] = 700.0  # vertebral body, cortical rim
    hu[_ellipse(xx, yy, 0, 0.24, 0.032, 0.027)] = 250.0  # and its cancellous core
    for lesion in lesions:
        reach = lesion.radius**2 - ((z - lesion.z) * 0.25) ** 2
        if reach > 0:
            hu[_ellipse(xx, yy, lesion.x, lesion.y, reach**0.5, reach**0.5)] = lesion.hu
    if noise is not None:
        hu += noise.normal(0.0, 12.0, hu.shape)
    # 12 bits stored: with the intercept of -1024, HU from -1024 to 1023 fit.
    return np.clip(np.rint(hu), -1024, 1023).astype(np.int16)


def seeded_uid(seed: str, *parts) -> str:
    """The UID `ct_series(seed=seed)` gives its study ("study"), series ("series"), frame of
    reference ("frame") or n-th instance ("instance", n)."""
    return generate_uid(entropy_srcs=[seed, *map(str, parts)])


def ct_series(
    *,
    slices: int = 5,
    patient_id: str = "MRN-CT-1",
    patient_name: str = "王^秀英",
    size: int = 64,
    charset: str = "GB18030",
    description: str = "胸部CT平扫",
    study_date: str | None = None,
    lesions: tuple[Lesion, ...] = (),
    seed: str | None = None,
    institution_name: str = "",
    pixel_spacing: float = 0.7,
) -> list[bytes]:
    """A chest CT series in one study: `slices` Part 10 files of `size`×`size` 16-bit pixels."""
    from datetime import date

    def uid(*parts) -> str:
        return seeded_uid(seed, *parts) if seed is not None else generate_uid()

    study, series, frame_of_reference = uid("study"), uid("series"), uid("frame")
    noise = np.random.default_rng(int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "little") if seed is not None else None)
    spacing = pixel_spacing  # the tests' 0.7 mm by default; a real chest field is FIELD_OF_VIEW_MM / size
    files = []
    for n in range(1, slices + 1):
        ds = _ct_header(charset=charset, sop_instance_uid=uid("instance", n))
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame_of_reference
        ds.PatientName, ds.PatientID, ds.PatientSex, ds.PatientBirthDate = patient_name, patient_id, "F", "19560314"
        ds.StudyDate = study_date or date.today().strftime("%Y%m%d")
        ds.StudyTime, ds.StudyDescription, ds.SeriesDescription = "093000", description, "胸部 5mm"
        ds.InstitutionName = institution_name
        ds.SeriesNumber, ds.InstanceNumber, ds.BodyPartExamined = 2, n, "CHEST"
        ds.Rows = ds.Columns = size
        ds.PixelSpacing, ds.SliceThickness = [round(spacing, 4), round(spacing, 4)], SLICE_MM
        ds.ImagePositionPatient = [-spacing * size / 2, -spacing * size / 2, -SLICE_MM * n]
        ds.SliceLocation = -SLICE_MM * n
        z = (n - 0.5) / slices
        ds.PixelData = (chest_slice(size, z, lesions, noise) + 1024).astype("<i2").tobytes()
        buffer = io.BytesIO()
        pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
        files.append(buffer.getvalue())
    return files


def _ct_header(*, charset: str, sop_instance_uid: str) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = sop_instance_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = charset
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, sop_instance_uid
    ds.Modality, ds.Manufacturer, ds.KVP, ds.ConvolutionKernel = "CT", "Telemed phantom", 120, "STANDARD"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 1
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = -1024, 1, "HU"
    ds.WindowCenter, ds.WindowWidth = [40, -600], [400, 1500]
    ds.BurnedInAnnotation = "NO"
    return ds
