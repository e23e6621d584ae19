"""Reads of the index: a study or an instance by its UIDs, and what the viewer needs of a study
(from the index alone: no file is opened to draw the page)."""
from __future__ import annotations

import uuid

from django.db.models import Prefetch

from imaging.models import Instance, Study
from telemed import access
from telemed.accounts.models import Institution
from telemed.compiled import CompiledQuery

# A viewer's every frame and image is a request that reads its instance, or its study, by UID:
# their SQL is built once (see telemed/compiled.py).
_study_by_uid = CompiledQuery(lambda uid: Study.objects.filter(study_instance_uid=uid).order_by("pk")[:1])
_instance_by_uids = CompiledQuery(lambda study_uid, series_uid, instance_uid: (
    Instance.objects.defer("metadata").select_related("series__study")
    .filter(series__study__study_instance_uid=study_uid, series__series_instance_uid=series_uid, sop_instance_uid=instance_uid)
    .order_by("pk")[:1]
))


# Every STOW-RS request and every file of a browser upload asks first for the institution it
# stores for, with its usage (the quota's precheck): building that query's SQL cost 0.5 ms of CPU,
# running it 0.05.
_institution_with_usage = CompiledQuery(lambda pk: Institution.objects.select_related("dicom_usage").filter(pk=pk), uuids=True)


def institution_to_store_for(user, chosen: str | None) -> Institution | None:
    """The one institution the user stores for: the one `chosen` (an id) among theirs, or their
    only one; None if there is no such one. Read with its usage."""
    ids = access.storing_institution_ids(user)
    if chosen:
        try:
            ids = [pk for pk in ids if pk == uuid.UUID(chosen)]
        except ValueError:  # not a UUID
            ids = []
    return next(iter(_institution_with_usage(ids[0])), None) if len(ids) == 1 else None


# Instances as a study lists them: by series number, then by instance number.
INSTANCE_ORDER = ("series__series_number", "series__series_instance_uid", "instance_number", "sop_instance_uid")


def study_by_uid(uid: str) -> Study | None:
    return next(iter(_study_by_uid(uid)), None)


def instance_by_uids(study_uid: str, series_uid: str, instance_uid: str) -> Instance | None:
    """An instance named by its three UIDs, read with its series and study in one query. Its
    stored header (metadata) is left unread: it is large and a frame or an image does not need it."""
    return next(iter(_instance_by_uids(study_uid, series_uid, instance_uid)), None)

SPACING, POSITION, ORIENTATION, FRAME_OF_REFERENCE = "00280030", "00200032", "00200037", "00200052"
WINDOW_CENTER, WINDOW_WIDTH, SAMPLES_PER_PIXEL, PHOTOMETRIC = "00281050", "00281051", "00280002", "00280004"


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


def _window(metadata: dict) -> list[float] | None:
    """The header's first window (center, width), the one the renderer applies by default; None
    when the header has none, and the renderer takes the frame's range (the viewer asks for it)."""
    center, width = _numbers(metadata, WINDOW_CENTER, 1), _numbers(metadata, WINDOW_WIDTH, 1)
    return center + width if center and width else None


def _colour(metadata: dict) -> bool:
    """Colour is rendered as stored: no window applies to it."""
    samples = _numbers(metadata, SAMPLES_PER_PIXEL, 1)
    photometric = ((metadata.get(PHOTOMETRIC) or {}).get("Value") or [""])[0]
    return bool(samples and samples[0] > 1) or photometric == "PALETTE COLOR"


def _images(instance: Instance) -> list[dict]:
    """One entry per frame: a multi-frame instance is scrolled through like a stack."""
    metadata = instance.metadata
    common = {
        "uid": instance.sop_instance_uid,
        "size": [instance.columns or 0, instance.rows or 0],
        "spacing": _numbers(metadata, SPACING, 2),
        "window": _window(metadata),
    }
    if instance.number_of_frames > 1:
        return [{**common, "frame": n, "ipp": None} for n in range(1, instance.number_of_frames + 1)]
    return [{**common, "frame": None, "ipp": _numbers(metadata, POSITION, 3)}]


def _with_pixels():
    """The instances the viewer shows: reports and other objects without pixels are left out."""
    return Instance.objects.filter(rows__isnull=False)


def study_has_images(study: Study) -> bool:
    return _with_pixels().filter(series__study=study).exists()


def shown_image(study: Study, series_uid: str | None = None) -> Instance | None:
    """The image a study or series is shown by: the middle image of its first series with images,
    read alone (a study's thumbnail read every instance row of the study to choose one)."""
    images = _with_pixels().filter(series__study=study).defer("metadata")
    if series_uid is not None:
        images = images.filter(series__series_instance_uid=series_uid)
    first = images.order_by(*INSTANCE_ORDER).values_list("series_id", flat=True).first()
    if first is None:
        return None
    in_series = images.filter(series_id=first).select_related("series").order_by(*INSTANCE_ORDER)
    middle = in_series.count() // 2
    return next(iter(in_series[middle:middle + 1]), None)


def viewer_study(study: Study) -> dict:
    """Series in order, each with its images in order, their pixel spacing, slice positions and
    own window, and whether the series is in colour."""
    instances = Prefetch("instances", queryset=_with_pixels().order_by("instance_number", "sop_instance_uid"))
    series = []
    for s in study.series.order_by("series_number", "series_instance_uid").prefetch_related(instances):
        listed = list(s.instances.all())
        if not listed:
            continue
        first = listed[0].metadata
        series.append({
            "uid": s.series_instance_uid,
            "label": f"{s.series_number if s.series_number is not None else ''} {s.modality} {s.description}".strip(),
            "normal": _normal(_numbers(first, ORIENTATION, 6)),
            "frameOfReference": ((first.get(FRAME_OF_REFERENCE) or {}).get("Value") or [""])[0],
            "colour": _colour(first),
            "images": [image for instance in listed for image in _images(instance)],
        })
    return {"study": study.study_instance_uid, "series": series}
