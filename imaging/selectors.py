"""What the viewer needs of a study, from the index alone (no file is opened to draw the page)."""
from __future__ import annotations

from django.db.models import Prefetch

from imaging.models import Instance, Study

SPACING, POSITION, ORIENTATION, FRAME_OF_REFERENCE = "00280030", "00200032", "00200037", "00200052"


def _numbers(metadata: dict, tag: str, count: int) -> list[float] | None:
    value = (metadata.get(tag) or {}).get("Value")
    try:
        numbers = [float(v) for v in value[:count]]
    except (TypeError, ValueError):
        return None
    return numbers if len(numbers) == count else None


def _normal(orientation: list[float] | None) -> list[float] | None:
    """The slice normal (row × column direction cosines): positions along it order the slices."""
    if orientation is None:
        return None
    (rx, ry, rz), (cx, cy, cz) = orientation[:3], orientation[3:]
    return [ry * cz - rz * cy, rz * cx - rx * cz, rx * cy - ry * cx]


def _images(instance: Instance) -> list[dict]:
    """One entry per frame: a multi-frame instance is scrolled through like a stack."""
    metadata = instance.metadata
    common = {
        "uid": instance.sop_instance_uid,
        "size": [instance.columns or 0, instance.rows or 0],
        "spacing": _numbers(metadata, SPACING, 2),
    }
    if instance.number_of_frames > 1:
        return [{**common, "frame": n, "ipp": None} for n in range(1, instance.number_of_frames + 1)]
    return [{**common, "frame": None, "ipp": _numbers(metadata, POSITION, 3)}]


def viewer_study(study: Study) -> dict:
    """Series in order, each with its images in order, their pixel spacing and slice positions."""
    instances = Prefetch("instances", queryset=Instance.objects.filter(rows__isnull=False).order_by("instance_number", "sop_instance_uid"))
    series = []
    for s in study.series.order_by("series_number", "series_instance_uid").prefetch_related(instances):
        listed = list(s.instances.all())
        if not listed:
            continue  # reports and other objects without pixels are not shown
        first = listed[0].metadata
        series.append({
            "uid": s.series_instance_uid,
            "label": f"{s.series_number if s.series_number is not None else ''} {s.modality} {s.description}".strip(),
            "normal": _normal(_numbers(first, ORIENTATION, 6)),
            "frameOfReference": ((first.get(FRAME_OF_REFERENCE) or {}).get("Value") or [""])[0],
            "images": [image for instance in listed for image in _images(instance)],
        })
    return {"study": study.study_instance_uid, "series": series}
