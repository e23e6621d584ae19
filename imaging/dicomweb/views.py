"""DICOMweb endpoints: thin DRF views over query.py (QIDO), stow.py (STOW) and storage (WADO).

Every read starts from `visible_studies(user)`; a study outside it answers 404 exactly like a
study that does not exist. Writes go only into `storing_institutions(user)`.
"""
from __future__ import annotations

import json

import pydicom
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.http import parse_header_parameters
from django.utils.translation import gettext as _
from rest_framework.exceptions import ParseError, PermissionDenied
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.views import APIView

from imaging.dicom import render
from imaging.dicomweb import dicomjson, query, stow
from imaging.dicomweb.multipart import (
    MultipartError,
    new_boundary,
    parts_length,
    read_parts,
    write_parts,
)
from imaging.dicomweb.streaming import ThreadedStreamingResponse, file_chunks
from imaging.models import Instance, Study
from telemed.access import storing_institutions, visible_studies
from telemed.accounts.models import AccessToken
from telemed.audit.services import audit_record

DICOM_JSON = "application/dicom+json"
UNCOMPRESSED = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1"}


class IgnoreAccept(BaseContentNegotiation):
    """DICOMweb clients ask for application/dicom+json, which DRF's renderers do not name; errors
    are rendered as JSON whatever the Accept header says."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def _json(payload, status: int = 200) -> HttpResponse:
    return HttpResponse(json.dumps(payload, ensure_ascii=False), status=status, content_type=DICOM_JSON)


def _error(message: str, status: int) -> HttpResponse:
    return HttpResponse(json.dumps({"detail": message}), status=status, content_type="application/json")


class DicomWebView(APIView):
    token_read_scope = AccessToken.Scope.DICOM_READ
    token_write_scope = AccessToken.Scope.DICOM_WRITE
    content_negotiation_class = IgnoreAccept
    parser_classes = ()  # STOW reads the body itself, part by part
    # DICOMweb is specified by DICOM PS3.18, not by our OpenAPI schema (multipart/related and
    # DICOM JSON do not fit it); the schema describes the product's own REST API.
    schema = None

    def base_url(self) -> str:
        return self.request.build_absolute_uri(reverse("dicomweb:dicomweb-studies")).removesuffix("/studies")

    @cached_property
    def visible(self):
        """The studies this request may see (the rules are costly to build: once a request)."""
        return visible_studies(self.request.user)

    def study(self, study_uid: str) -> Study:
        study = self.visible.filter(study_instance_uid=study_uid).first()
        if study is None:
            raise Http404
        return study

    def audit(self, action: str, *, study: Study | None = None, patient_id=None, detail: dict) -> None:
        if study is not None:
            patient_id = study.patient_id
            detail = {"study": study.study_instance_uid, **detail}
        audit_record(actor=self.request.user, action=action, obj=study, patient_id=patient_id, detail=detail)


# QIDO-RS ---------------------------------------------------------------------------------------

class QidoView(DicomWebView):
    level = "study"

    def get(self, request, study_uid: str | None = None, series_uid: str | None = None):
        try:
            parsed = query.parse(request.query_params, keys=query.keys_for(self.level))
        except query.QueryError as exc:
            return _error(str(exc), 400)
        visible = self.visible
        if study_uid is not None:  # access to the study is settled here, once
            visible = Study.objects.filter(pk=self.study(study_uid).pk)
        base = self.base_url()
        if self.level == "study":
            rows = query.studies(visible, parsed)
            answer = [dicomjson.study_attributes(s, base_url=base) for s in rows]
            patients = {s.patient_id for s in rows}
        elif self.level == "series":
            rows = query.series(visible, parsed, study_uid=study_uid)
            answer = [dicomjson.series_attributes(s, base_url=base) for s in rows]
            patients = {s.study.patient_id for s in rows}
        else:
            rows = query.instances(visible, parsed, study_uid=study_uid, series_uid=series_uid)
            answer = [dicomjson.instance_attributes(i, base_url=base, include=parsed.include) for i in rows]
            patients = {i.series.study.patient_id for i in rows}
        self.audit("imaging.qido", patient_id=patients.pop() if len(patients) == 1 else None, detail={
            "level": self.level, "study": study_uid or "", "series": series_uid or "",
            "query": {k: v[:64] for k, v in parsed.filters.items()}, "count": len(answer),
        })
        return _json(answer)


class SeriesQidoView(QidoView):
    level = "series"


class InstanceQidoView(QidoView):
    level = "instance"


# STOW-RS and study retrieval share their URLs -----------------------------------------------------

class StudiesView(QidoView):
    """GET: search for studies; POST: store instances (STOW-RS)."""

    def post(self, request, study_uid: str | None = None):
        institution = self._institution()
        if study_uid is not None and Study.objects.filter(study_instance_uid=study_uid).exclude(pk__in=self.visible).exists():
            raise Http404
        media_type, params = parse_header_parameters(request.META.get("CONTENT_TYPE", ""))
        if media_type.lower() != "multipart/related" or params.get("type", "application/dicom").lower() != "application/dicom":
            return _error(_('Send multipart/related; type="application/dicom".'), 415)
        try:
            parts = read_parts(request._request, params.get("boundary", ""), part_limit=settings.DICOM_MAX_INSTANCE_BYTES)
        except MultipartError as exc:
            return _error(_("The multipart body cannot be read: %(reason)s") % {"reason": exc}, 400)
        try:
            if not parts:
                return _error(_("The multipart body has no parts."), 400)
            outcome = stow.parts_store(parts=parts, institution=institution, by=request.user, study_uid=study_uid)
        finally:
            for part in parts:
                part.file.close()
        patients = {r.instance.series.study.patient_id for r in outcome.stored}
        self.audit("imaging.stow", patient_id=patients.pop() if len(patients) == 1 else None, detail={
            "institution": str(institution.pk), "study": study_uid or "",
            "stored": [r.sop_instance_uid for r in outcome.stored][:100],
            "failed": [f"{uid}: {reason}"[:200] for _c, uid, _code, reason in outcome.failed][:100],
        })
        return _json(stow.stow_response(outcome, base_url=self.base_url(), study_uid=study_uid), outcome.status_code)

    def _institution(self):
        institutions = storing_institutions(self.request.user)
        chosen = self.request.query_params.get("institution")
        if chosen:
            try:
                found = institutions.filter(pk=chosen).first()
            except ValidationError:  # not a UUID
                found = None
            if found is None:
                raise PermissionDenied(_("You cannot store studies for this institution."))
            return found
        found = list(institutions[:2])
        if not found:
            raise PermissionDenied(_("You cannot store studies for any institution."))
        if len(found) > 1:
            raise ParseError(_("You store for several institutions: name one with ?institution=<id>."))
        return found[0]


# WADO-RS ----------------------------------------------------------------------------------------

class RetrieveView(DicomWebView):
    """The stored instances of a study, series or one instance, as multipart/related."""

    def instances(self, study: Study, series_uid: str | None, instance_uid: str | None, *, metadata: bool = False):
        found = Instance.objects.filter(series__study=study).select_related("series__study")
        if not metadata:  # the stored header is large and only the metadata resource needs it
            found = found.defer("metadata")
        if series_uid is not None:
            found = found.filter(series__series_instance_uid=series_uid)
        if instance_uid is not None:
            found = found.filter(sop_instance_uid=instance_uid)
        found = list(found.order_by("series__series_number", "series__series_instance_uid", "instance_number", "sop_instance_uid"))
        if not found:
            raise Http404
        return found

    def get(self, request, study_uid: str, series_uid: str | None = None, instance_uid: str | None = None):
        study = self.study(study_uid)
        found = self.instances(study, series_uid, instance_uid)
        self.audit("imaging.wado", study=study, detail={"series": series_uid or "", "instance": instance_uid or "", "count": len(found)})
        boundary = new_boundary()
        parts = [(f"application/dicom; transfer-syntax={i.transfer_syntax_uid}", i) for i in found]
        response = ThreadedStreamingResponse(
            write_parts(boundary, ((content_type, file_chunks(i.file.name)) for content_type, i in parts)),
            content_type=f'multipart/related; type="application/dicom"; boundary={boundary}',
        )
        # With a length the client reads the body straight through instead of chunk by chunk.
        response["Content-Length"] = parts_length(boundary, ((content_type, i.size) for content_type, i in parts))
        return response


class StudyView(RetrieveView, StudiesView):
    """GET: retrieve the study (WADO-RS); POST: store instances into it (STOW-RS)."""

    get = RetrieveView.get


class MetadataView(RetrieveView):
    def get(self, request, study_uid: str, series_uid: str | None = None, instance_uid: str | None = None):
        study = self.study(study_uid)
        found = self.instances(study, series_uid, instance_uid, metadata=True)
        self.audit("imaging.wado", study=study, detail={"metadata": True, "series": series_uid or "", "instance": instance_uid or "", "count": len(found)})
        base = self.base_url()
        return _json([dicomjson.instance_metadata(i, base_url=base) for i in found])


class FramesView(RetrieveView):
    def get(self, request, study_uid: str, series_uid: str, instance_uid: str, frames: str):
        study = self.study(study_uid)
        instance = self.instances(study, series_uid, instance_uid)[0]
        numbers = [int(n) for n in frames.split(",")]
        if instance.transfer_syntax_uid not in UNCOMPRESSED:
            return _error(_("Frames of this compressed instance cannot be sent uncompressed yet (transfer syntax %(uid)s).") % {"uid": instance.transfer_syntax_uid}, 406)
        if any(n < 1 or n > instance.number_of_frames for n in numbers):
            return _error(_("This instance has %(count)d frames.") % {"count": instance.number_of_frames}, 404)
        with default_storage.open(instance.file.name, "rb") as handle:
            dataset = pydicom.dcmread(handle)
            pixels = dataset.get("PixelData")
        if pixels is None or int(dataset.get("BitsAllocated", 8)) % 8:
            return _error(_("This instance has no pixel data that can be cut into frames."), 406)
        size = int(dataset.Rows) * int(dataset.Columns) * int(dataset.get("SamplesPerPixel", 1)) * int(dataset.BitsAllocated) // 8
        self.audit("imaging.wado", study=study, detail={"series": series_uid, "instance": instance_uid, "frames": numbers[:100]})
        boundary = new_boundary()
        body = write_parts(boundary, (("application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1", [pixels[(n - 1) * size:n * size]]) for n in numbers))
        return StreamingHttpResponse(body, content_type=f'multipart/related; type="application/octet-stream"; boundary={boundary}')


# Rendered and thumbnails ----------------------------------------------------------------------

def _pair(raw: str | None, cast=float):
    """'a,b' (extra fields such as the VOI function are allowed and ignored) → (a, b), or None."""
    if not raw:
        return None
    parts = raw.split(",")
    try:
        return cast(parts[0]), cast(parts[1])
    except (IndexError, ValueError):
        raise ValueError(raw) from None


class RenderedView(RetrieveView):
    """A frame as JPEG (or PNG if asked for), with ?window=center,width, ?viewport=w,h, ?quality=."""

    thumbnail = False

    def get(self, request, study_uid: str, series_uid: str, instance_uid: str | None = None, frames: str = "1"):
        study = self.study(study_uid)
        found = self.instances(study, series_uid, instance_uid)
        instance = found[len(found) // 2]  # a series is shown by its middle image
        try:
            window = _pair(request.query_params.get("window"))
            viewport = (render.THUMBNAIL_SIZE,) * 2 if self.thumbnail else _pair(request.query_params.get("viewport"), int)
            quality = min(max(int(request.query_params.get("quality", 90)), 1), 100)
        except ValueError:
            return _error(_("window is center,width; viewport is width,height; quality is 1 to 100."), 400)
        png = "image/png" in request.META.get("HTTP_ACCEPT", "")
        with default_storage.open(instance.file.name, "rb") as handle:
            dataset = pydicom.dcmread(handle)
        try:
            image = render.to_image(dataset, frame=int(frames.split(",")[0]), window=window)
        except render.RenderError as exc:
            return _error(str(exc), 406)
        self.audit("imaging.wado", study=study, detail={"rendered": True, "instance": instance.sop_instance_uid})
        body = render.encode(image, viewport=viewport, fmt="png" if png else "jpeg", quality=quality)
        response = HttpResponse(body, content_type="image/png" if png else "image/jpeg")
        response["Cache-Control"] = "private, max-age=3600"  # an instance never changes once stored
        return response


class ThumbnailView(RenderedView):
    thumbnail = True
