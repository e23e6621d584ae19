"""The values inside a region of a frame: what a radiologist reads as the CT number (HU) of a
nodule, a cyst or a bleed, by drawing an ellipse over it, or of one pixel, by clicking it; on an
RT Dose grid, the dose a structure receives."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from django.utils.translation import gettext as _

from imaging.dicom.render import Frame


class RegionError(ValueError):
    """A region that has no values to measure; the message says why."""


@dataclass(frozen=True)
class RegionValues:
    pixels: int
    mean: float
    sd: float
    minimum: float
    maximum: float


DOSE_UNITS, DOSE_GRID_SCALING = "30040002", "3004000E"
# The unit written after a dose, by the header's Dose Units. RELATIVE, the standard's other
# value, is relative to a reference the file does not give (not a percentage): no unit is named.
UNIT_OF_DOSE = {"GY": "Gy"}


def dose_quantity(metadata: dict) -> tuple[float, str]:
    """What an RT Dose's stored values are multiplied by to be dose, Dose Grid Scaling
    (3004,000E), and the unit of that dose (empty for a unit the standard does not name), from
    its header in the DICOM JSON model. RegionError when the scaling is missing or not a positive number:
    the stored integers alone are not a dose."""
    scaling = ((metadata.get(DOSE_GRID_SCALING) or {}).get("Value") or [None])[0]
    try:
        scaling = float(scaling)
    except (TypeError, ValueError):
        scaling = math.nan
    if not math.isfinite(scaling) or scaling <= 0:
        raise RegionError(_("This RT Dose image has no valid Dose Grid Scaling (3004,000E): its stored values are not a dose."))
    units = ((metadata.get(DOSE_UNITS) or {}).get("Value") or [""])[0]
    return scaling, UNIT_OF_DOSE.get(str(units).strip().upper(), "")


def region_values(frame: Frame, box: tuple[float, float, float, float], *, ellipse: bool, scaling: float = 1.0) -> RegionValues:
    """The modality values (rescale applied: HU for CT), times `scaling` (an RT Dose's Dose Grid
    Scaling), of the pixels whose centres lie in the ellipse or rectangle inscribed in `box` (x0,
    y0, x1, y1 in image pixels, any corner order); a box too small to hold a pixel centre (a
    click) measures the pixel under it."""
    if frame.window is None:
        raise RegionError(_("A colour image has no values to measure."))
    rows, columns = frame.values.shape
    left, right = sorted(box[0::2])
    top, bottom = sorted(box[1::2])
    if right < 0 or bottom < 0 or left > columns or top > rows:
        raise RegionError(_("The region lies outside the image (%(columns)d × %(rows)d pixels).") % {"columns": columns, "rows": rows})
    # Pixel (r, c) covers [c, c + 1) × [r, r + 1): its centre is at c + 0.5, r + 0.5.
    first_column, last_column = max(int(np.ceil(left - 0.5)), 0), min(int(np.floor(right - 0.5)), columns - 1)
    first_row, last_row = max(int(np.ceil(top - 0.5)), 0), min(int(np.floor(bottom - 0.5)), rows - 1)
    if first_column > last_column or first_row > last_row:
        column, row = min(max(int((left + right) / 2), 0), columns - 1), min(max(int((top + bottom) / 2), 0), rows - 1)
        first_column = last_column = column
        first_row = last_row = row
    stored = frame.values[first_row:last_row + 1, first_column:last_column + 1]
    if ellipse and stored.size > 1:
        y, x = np.ogrid[first_row:last_row + 1, first_column:last_column + 1]
        half_width, half_height = max((right - left) / 2, 0.5), max((bottom - top) / 2, 0.5)
        inside = ((x + 0.5 - (left + right) / 2) / half_width) ** 2 + ((y + 0.5 - (top + bottom) / 2) / half_height) ** 2 <= 1
        stored = stored[inside] if inside.any() else stored[:1, :1]
    slope, intercept = frame.rescale
    values = (stored.astype(np.float64) * slope + intercept) * scaling
    return RegionValues(pixels=int(values.size), mean=float(values.mean()), sd=float(values.std()),
                        minimum=float(values.min()), maximum=float(values.max()))
