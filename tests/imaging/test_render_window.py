"""Windowing a greyscale frame kept as stored: one lookup table over every stored value gives the
same grey, value for value, as applying the modality rescale (pydicom) and then the window."""
from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut

from imaging.dicom import render
from tests.imaging.corpus import ct_series


def _header(**elements) -> Dataset:
    header = Dataset()
    header.PhotometricInterpretation = "MONOCHROME2"
    for keyword, value in elements.items():
        setattr(header, keyword, value)
    return header


def _every_value(kind: str) -> np.ndarray:
    """Every value the stored type can hold, as a frame."""
    info = np.iinfo(kind)
    return np.arange(info.min, info.max + 1, dtype=kind).reshape(-1, 256)


def _grey(frame: render.Frame, window=None) -> np.ndarray:
    return np.asarray(render.to_image(frame, window=window))


def _through_pydicom(header: Dataset, pixels: np.ndarray, center: float, width: float) -> np.ndarray:
    """What windowing gave before: pydicom's modality LUT, in float32, then the linear window."""
    return render._window(np.asarray(apply_modality_lut(pixels, header), dtype=np.float32), center, width)


@pytest.mark.parametrize("kind, slope, intercept", [
    ("uint16", 1, -1024),  # CT as most scanners store it
    ("int16", 1, 0),
    ("int16", 0.5, -20.25),
    ("uint16", -2, 100),  # a negative slope turns the order of values round
    ("uint8", 1, 0),
    ("int8", 3, 7),
])
@pytest.mark.parametrize("window", [(40, 400), (-600, 1500), (0.5, 1), (1e6, 10)])
def test_a_window_on_stored_values_matches_the_rescale_then_the_window(kind, slope, intercept, window):
    pixels = _every_value(kind)
    header = _header(RescaleSlope=slope, RescaleIntercept=intercept)
    frame = render._prepare(header, pixels)
    assert frame.values is pixels and frame.rescale == (slope, intercept)  # kept as stored: no copy
    assert (_grey(frame, window) == _through_pydicom(header, pixels, *window)).all()


def test_the_standards_linear_window_ends_flat_and_rises_in_between():
    hu = np.array([[-1000, -161, -160, 40, 239, 240, 3000]], dtype=np.int16)
    frame = render._prepare(_header(RescaleSlope=1, RescaleIntercept=0), hu)
    grey = _grey(frame, (40, 400))[0]
    assert grey[0] == grey[1] == 0 and grey[-1] == grey[-2] == 255
    assert list(grey) == sorted(grey) and 126 <= grey[3] <= 128


def test_without_a_window_in_the_file_the_default_spans_the_rescaled_values():
    pixels = np.array([[0, 10], [20, 30]], dtype=np.uint16)
    frame = render._prepare(_header(RescaleSlope=-2, RescaleIntercept=100), pixels)
    assert frame.window == (70.0, 60.0)  # values run from 40 to 100
    assert (_grey(frame) == _through_pydicom(_header(RescaleSlope=-2, RescaleIntercept=100), pixels, 70, 60)).all()


def test_only_one_of_slope_and_intercept_is_no_rescale_as_in_pydicom():
    pixels = np.array([[0, 500], [1000, 4000]], dtype=np.uint16)
    header = _header(RescaleIntercept=-1024)
    assert render._prepare(header, pixels).rescale == (1.0, 0.0)
    assert (_grey(render._prepare(header, pixels), (500, 1000)) == _through_pydicom(header, pixels, 500, 1000)).all()


def test_a_modality_lut_sequence_is_applied_as_pydicom_applies_it():
    item = Dataset()
    item.LUTDescriptor = [4, 0, 16]
    item.LUTData = [0, 1000, 2000, 3000]
    item["LUTData"].VR = "US"
    header = _header(ModalityLUTSequence=[item])
    frame = render._prepare(header, np.array([[0, 1], [2, 3]], dtype=np.uint16))
    assert frame.values.dtype == np.float32 and frame.values.tolist() == [[0, 1000], [2000, 3000]]


def test_monochrome1_inverts_the_window():
    pixels = _every_value("uint8")
    plain = _grey(render._prepare(_header(), pixels), (128, 256))
    inverted = _grey(render._prepare(_header(PhotometricInterpretation="MONOCHROME1"), pixels), (128, 256))
    assert (inverted == 255 - plain).all()


def test_a_stored_ct_slice_is_cached_at_its_stored_size():
    data = ct_series(slices=1, size=64)[0]
    frame = render.decode_frame(io.BytesIO(data), 1, decode_limit=2**30)
    assert frame.values.dtype == np.dtype(pydicom.dcmread(io.BytesIO(data)).pixel_array.dtype)
    assert frame.nbytes == 64 * 64 * 2


def test_a_rescale_that_is_not_a_number_is_refused_with_a_reason():
    header = _header(RescaleIntercept=0)
    header.add_new(0x00281053, "LO", "steep")  # Rescale Slope, as a careless writer left it
    with pytest.raises(render.RenderError, match="Rescale Slope"):
        render._prepare(header, np.zeros((2, 2), dtype=np.uint16))


@pytest.mark.parametrize("function", ["linear-exact", "sigmoid"])
def test_the_standards_other_window_functions_meet_the_middle_grey_at_the_center(function):
    hu = np.array([[-1000, -100, 40, 180, 3000]], dtype=np.int16)
    frame = render._prepare(_header(RescaleSlope=1, RescaleIntercept=0), hu)
    grey = _grey(frame, (40, 400, function))[0]
    assert list(grey) == sorted(grey) and 127 <= grey[2] <= 128
    assert grey[0] <= 1 and grey[-1] >= 254  # far beyond the window: its ends (the sigmoid only nears them)
