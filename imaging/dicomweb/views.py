"""DICOMweb endpoints: thin DRF views over query.py (QIDO), stow.py (STOW) and storage (WADO).

Every read starts from `visible_studies(user)`; a study outside it answers 404 exactly like a
study that does not exist. Writes go only into `storing_institutions(user)`.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from functools import lru_cache

from django.conf import settings
from django.http import Http404, HttpResponse
from django.urls import get_script_prefix, reverse
from django.utils.functional import cached_property
from django.utils.http import parse_header_parameters
from django.utils.translation import gettext as _
from rest_framework.exceptions import ParseError, PermissionDenied
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.views import APIView

from imaging.dicom import reasons, render, transfer
from imaging.dicomweb import dicomjson, query, stow
from imaging.dicomweb.multipart import (
    MultipartError,
    new_boundary,
    parts_length,
    read_parts,
    write_parts,
)
from imaging.dicomweb.streaming import file_chunks
from imaging.models import Instance, Study
from imaging.selectors import INSTANCE_ORDER, institution_to_store_for, instance_by_uids, shown_image, study_by_uid
from imaging.services import ingest, pixels
from imaging.services.files import instance_file
from telemed.access import storing_institution_ids, study_visible, visible_studies
from telemed.accounts.authentication import AccessTokenAuthentication, UnparsedBodySessionAuthentication
from telemed.accounts.models import AccessToken
from telemed.audit.models import Outcome
from telemed.audit.services import audit_record
from telemed.web.handler import FilesResponse
from telemed.web.params import numbers

DICOM_JSON = "application/dicom+json"


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


@lru_cache(maxsize=8)
def _root_path(script_prefix: str) -> str:
    """The DICOMweb root's path under a script prefix (reverse() took 20 µs at every request)."""
    return reverse("dicomweb:dicomweb-studies").removesuffix("/studies")


JSON_ANSWERS = {DICOM_JSON, "application/json", "application/*", *transfer.WILDCARDS}


def _json_refused(request) -> HttpResponse | None:
    """A 406 unless the Accept header takes DICOM JSON, the only form of a search or metadata answer."""
    if any(wanted.canonical in JSON_ANSWERS for wanted in transfer.parse_accept(request.META.get("HTTP_ACCEPT"))):
        return None
    return _error(_("This resource is sent only as application/dicom+json."), 406)


class DicomWebView(APIView):
    token_read_scope = AccessToken.Scope.DICOM_READ
    token_write_scope = AccessToken.Scope.DICOM_WRITE
    content_negotiation_class = IgnoreAccept
    parser_classes = ()  # STOW reads the body itself, part by part
    authentication_classes = (AccessTokenAuthentication, UnparsedBodySessionAuthentication)
    # DICOMweb is specified by DICOM PS3.18, not by our OpenAPI schema (multipart/related and
    # DICOM JSON do not fit it); the schema describes the product's own REST API.
    schema = None

    def base_url(self) -> str:
        return self.request.build_absolute_uri(_root_path(get_script_prefix()))

    @cached_property
    def visible(self):
        """The studies this request may see (the rules are costly to build: once a request)."""
        return visible_studies(self.request.user)

    def study(self, study_uid: str) -> Study:
        study = study_by_uid(study_uid)
        if study is None or not study_visible(self.request.user, study):
            raise Http404
        return study

    def audit(self, action: str, *, study: Study | None = None, patient_id=None, outcome: str = Outcome.SUCCESS, detail: dict) -> None:
        if study is not None:
            patient_id = study.patient_id
            detail = {"study": study.study_instance_uid, **detail}
        audit_record(actor=self.request.user, action=action, obj=study, patient_id=patient_id, outcome=outcome, detail=detail)


# QIDO-RS ---------------------------------------------------------------------------------------

class QidoView(DicomWebView):
    level = "study"

    def _settle(self, study_uid: str | None, found: Study | None) -> None:
        """404 unless the user may see the study named in the URL (`found`: its row, if read)."""
        if study_uid is None:
            return
        if found is None:
            self.study(study_uid)
        elif not study_visible(self.request.user, found):
            raise Http404

    def get(self, request, study_uid: str | None = None, series_uid: str | None = None):
        refused = _json_refused(request)
        if refused is not None:
            return refused
        try:
            parsed = query.parse(request.query_params, keys=query.keys_for(self.level))
        except query.QueryError as exc:
            return _error(str(exc), 400)
        # Below a study, access is settled on that study before anything is answered: read with
        # the series (a study without matches is looked up on its own), before the instances.
        scope = self.visible if study_uid is None else study_uid
        base = self.base_url()
        if self.level == "study":
            rows = query.studies(scope, parsed)
            answer = [dicomjson.study_attributes(s, base_url=base) for s in rows]
            patients = {s.patient_id for s in rows}
        elif self.level == "series":
            rows = query.series(scope, parsed)
            self._settle(study_uid, rows[0].study if rows else None)
            answer = [dicomjson.series_attributes(s, base_url=base, include=parsed.include, include_all=parsed.include_all) for s in rows]
            patients = {s.study.patient_id for s in rows}
        else:
            study = None if study_uid is None else self.study(study_uid)
            rows = query.instances(scope if study is None else study, parsed, series_uid=series_uid)
            if not rows and series_uid and not study.series.filter(series_instance_uid=series_uid).exists():
                raise Http404  # as for a study that is not there
            answer = [dicomjson.instance_attributes(i, base_url=base, include=parsed.include, include_all=parsed.include_all) for i in rows]
            patients = {i.series.study.patient_id for i in rows}
        if self.level != "instance" and answer and parsed.include - answer[0].keys():
            # Attributes the index does not hold: from the stored header of one instance of each.
            headers = query.first_headers(rows)
            for row, attributes in zip(rows, answer):
                dicomjson.add_from_header(attributes, headers.get(row.pk), parsed.include)
        self.audit("imaging.qido", patient_id=patients.pop() if len(patients) == 1 else None, detail={
            "level": self.level, "study": study_uid or "", "series": series_uid or "",
            "query": {k: v[:64] for k, v in parsed.filters.items()}, "count": len(answer),
        })
        response = _json(answer)
        if parsed.warnings:
            response["Warning"] = ", ".join(f"299 {base}: {_quoted(warning)}" for warning in parsed.warnings)
        return response


def _quoted(text: str) -> str:
    """A warning's text quoted, as in PS3.18's own example (8.3.4.2), so that a client can tell
    several warnings apart: a quoted string (RFC 9110 5.6.4)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class SeriesQidoView(QidoView):
    level = "series"


class InstanceQidoView(QidoView):
    level = "instance"


# STOW-RS and study retrieval share their URLs -----------------------------------------------------

class StudiesView(QidoView):
    """GET: search for studies; POST: store instances (STOW-RS)."""

    def post(self, request, study_uid: str | None = None):
        # A study named in the URL may not be in the archive yet: one the sender cannot see is
        # answered as one that is not there (its instances are refused as they would be at
        # /studies, with UID_TAKEN_REASON), so the URL alone tells nothing of what exists.
        institution = self._institution()
        media_type, params = parse_header_parameters(request.META.get("CONTENT_TYPE", ""))
        if media_type.lower() != "multipart/related" or params.get("type", "application/dicom").lower() != "application/dicom":
            return _error(_('Send multipart/related; type="application/dicom".'), 415)
        try:
            parts = read_parts(request._request, params.get("boundary", ""), part_limit=settings.DICOM_MAX_INSTANCE_BYTES, open_part=ingest.Spool)
        except MultipartError as exc:
            return _error(_("The multipart body cannot be read: %(reason)s") % {"reason": exc}, 400)
        try:
            if not parts:
                return _error(_("The multipart body has no parts."), 400)
            outcome = stow.parts_store(parts=parts, institution=institution, by=request.user, study_uid=study_uid)
        finally:
            for part in parts:
                part.file.close()
        # New instances are audited by the ingest service, one event per study; this event covers
        # what it did not see: refused parts, and acknowledged re-sends of stored instances.
        resent = [r for r in outcome.stored if r.status != ingest.Status.STORED]
        if outcome.failed or resent:
            patients = {r.instance.series.study.patient_id for r in outcome.stored}
            self.audit("imaging.stow", patient_id=patients.pop() if len(patients) == 1 else None,
                       outcome=Outcome.FAILED if outcome.failed else Outcome.SUCCESS, detail={
                "institution": str(institution.pk), "study": study_uid or "",
                "stored": [r.sop_instance_uid for r in resent][:100],  # acknowledged, stored before
                "failed": [f"{uid}: {reason}"[:200] for _c, uid, _code, reason in outcome.failed][:100],
            })
        return _json(stow.stow_response(outcome, base_url=self.base_url(), study_uid=study_uid), outcome.status_code)

    def _institution(self):
        chosen = self.request.query_params.get("institution")
        found = institution_to_store_for(self.request.user, chosen)
        if found is not None:
            return found
        if chosen:
            raise PermissionDenied(_("You cannot store studies for this institution."))
        if len(storing_institution_ids(self.request.user)) > 1:
            raise ParseError(_("You store for several institutions: name one with ?institution=<id>."))
        raise PermissionDenied(_("You cannot store studies for any institution."))


# WADO-RS ----------------------------------------------------------------------------------------

def _transcoded(instance: Instance) -> Iterator[bytes]:
    with instance_file(instance) as source:
        yield from transfer.explicit_little_endian(source, decode_limit=settings.DICOM_MAX_DECODED_BYTES)


def _primed(parts: Iterator[bytes]) -> Iterator[bytes]:
    """The first part is made now, so that a decoding failure is still a 406; the rest follow
    as the client reads. Raises TransferError."""
    first = next(parts, None)

    def everything() -> Iterator[bytes]:
        try:
            if first is not None:
                yield first
            yield from parts
        finally:
            parts.close()

    return everything()


def _pixel_parts(instance: Instance, produce) -> Iterator[bytes]:
    """Parts made by `produce(source)` from the stored file, kept open while they stream."""
    with instance_file(instance) as source:
        yield from produce(source)


def _multipart(parts: Iterator[tuple[str, Iterator[bytes]]], media_type: str, *, boundary: str | None = None) -> FilesResponse:
    boundary = boundary or new_boundary()
    response = FilesResponse(write_parts(boundary, parts), content_type=f'multipart/related; type="{media_type}"; boundary={boundary}')
    response.reads_no_database = True  # stored files only: the server sends it without holding a thread (telemed/web/handler.py)
    return response


def _not_acceptable_pixels(instance: Instance) -> HttpResponse:
    stored = instance.transfer_syntax_uid
    return _error(_(
        "The pixel data of this instance is stored as %(syntax)s. It can be sent as stored "
        "(transfer-syntax=* or %(uid)s, as %(media)s) or decoded as application/octet-stream in "
        "Explicit VR Little Endian (1.2.840.10008.1.2.1); this server does not encode into other syntaxes."
    ) % {"syntax": transfer.syntax_name(stored), "uid": stored, "media": transfer.media_type_of(stored) or _("its own media type")}, 406)


def _undecodable(instance: Instance, reason: str) -> HttpResponse:
    """`reason` a text in the reader's language, or a TransferError's or RenderError's Reason."""
    return _error(_("The pixel data of this instance (%(syntax)s) cannot be decoded: %(reason)s. It can still be sent as stored (transfer-syntax=*).") % {
        "syntax": transfer.syntax_name(instance.transfer_syntax_uid), "reason": reasons.translated(reason, _),
    }, 406)


class RetrieveView(DicomWebView):
    """The instances of a study, series or one instance, as multipart/related application/dicom,
    in the transfer syntax the Accept header asks for (transfer.py has the rules)."""

    def instances(self, study: Study, series_uid: str | None, instance_uid: str | None, *, metadata: bool = False):
        found = Instance.objects.filter(series__study=study).select_related("series")
        if not metadata:  # the stored header is large and only the metadata resource needs it
            found = found.defer("metadata")
        if series_uid is not None:
            found = found.filter(series__series_instance_uid=series_uid)
        if instance_uid is not None:
            found = found.filter(sop_instance_uid=instance_uid)
        found = list(found.order_by(*INSTANCE_ORDER))
        if not found:
            raise Http404
        for instance in found:
            instance.series.study = study  # checked already: not read again
        return found

    def one(self, study_uid: str, series_uid: str, instance_uid: str) -> tuple[Study, Instance]:
        """An instance named by its three UIDs, read with its series and study in one query (a
        viewer asks for hundreds of frames and rendered images, one request each)."""
        instance = instance_by_uids(study_uid, series_uid, instance_uid)
        if instance is None or not study_visible(self.request.user, instance.series.study):
            raise Http404
        return instance.series.study, instance

    def get(self, request, study_uid: str, series_uid: str | None = None, instance_uid: str | None = None):
        """A lone instance that must be transcoded is transcoded before the answer starts, so a
        failure is a 406; in a series or study the rest are transcoded as the client reads, and a
        failure there (data that the decoder's check let through) cuts the body short."""
        study = self.study(study_uid)
        found = self.instances(study, series_uid, instance_uid)
        wanted = transfer.parse_accept(request.META.get("HTTP_ACCEPT"))
        parts = []
        for instance in found:
            stored = instance.transfer_syntax_uid
            target = transfer.choose_instance_syntax(wanted, stored)
            if target is None:
                return _error(_(
                    "Instance %(uid)s is stored as %(syntax)s; ask for application/dicom with transfer-syntax=* "
                    "(as stored) or 1.2.840.10008.1.2.1 (Explicit VR Little Endian)."
                ) % {"uid": instance.sop_instance_uid, "syntax": transfer.syntax_name(stored)}, 406)
            if target == stored:
                parts.append((target, file_chunks(instance.file.name)))
            elif transfer.can_decode(stored):
                parts.append((target, _transcoded(instance)))
            else:
                return _undecodable(instance, _("no decoder for this transfer syntax is installed"))
        transcoded = sum(1 for instance, (target, _c) in zip(found, parts) if target != instance.transfer_syntax_uid)
        if len(parts) == 1 and transcoded:
            try:
                parts = [(parts[0][0], _primed(parts[0][1]))]
            except transfer.TransferError as exc:
                return _undecodable(found[0], exc.args[0])
        self.audit("imaging.wado", study=study, detail={
            "series": series_uid or "", "instance": instance_uid or "", "count": len(found), "transcoded": transcoded,
        })
        labelled = [(f"application/dicom; transfer-syntax={target}", chunks) for target, chunks in parts]
        boundary = new_boundary()
        response = _multipart(iter(labelled), "application/dicom", boundary=boundary)
        if not transcoded:
            # With a length the client reads the body straight through instead of chunk by chunk.
            response["Content-Length"] = parts_length(boundary, ((label, i.size) for (label, _c), i in zip(labelled, found)))
        return response


class StudyView(RetrieveView, StudiesView):
    """GET: retrieve the study (WADO-RS); POST: store instances into it (STOW-RS)."""

    get = RetrieveView.get


class MetadataView(RetrieveView):
    def get(self, request, study_uid: str, series_uid: str | None = None, instance_uid: str | None = None):
        study = self.study(study_uid)
        refused = _json_refused(request)
        if refused is not None:
            return refused
        found = self.instances(study, series_uid, instance_uid, metadata=True)
        self.audit("imaging.wado", study=study, detail={"metadata": True, "series": series_uid or "", "instance": instance_uid or "", "count": len(found)})
        base = self.base_url()
        return _json([dicomjson.instance_metadata(i, base_url=base) for i in found])


class PixelDataView(RetrieveView):
    """Frames and the Pixel Data bulk data: stored bytes, or decoded to little endian."""

    def pixel_response(self, instance: Instance, produce, *, whole: bool = False) -> HttpResponse:
        """Parts made by `produce(source, choice)`; `whole`: they are the frames of the whole
        Pixel Data, which native data sends as one part."""
        wanted = transfer.parse_accept(self.request.META.get("HTTP_ACCEPT"))
        choice = transfer.choose_pixel_syntax(wanted, instance.transfer_syntax_uid)
        if choice is None:
            return _not_acceptable_pixels(instance)
        if choice.decode and not transfer.can_decode(instance.transfer_syntax_uid):
            return _undecodable(instance, _("no decoder for this transfer syntax is installed"))
        try:
            parts = _primed(_pixel_parts(instance, lambda source: produce(source, choice)))
        except transfer.TransferError as exc:
            return _undecodable(instance, exc.args[0])
        if whole and transfer.is_one_part(choice):
            return _multipart(iter([(choice.content_type, parts)]), choice.media_type)
        return _multipart(((choice.content_type, [part]) for part in parts), choice.media_type)


def _no_pixel_data() -> HttpResponse:
    return _error(_("This instance has no pixel data (it is not an image)."), 404)


def _missing_frames(instance: Instance, numbers: list[int]) -> HttpResponse | None:
    """A 404 saying why, unless the instance has every frame asked for."""
    if not instance.rows:
        return _no_pixel_data()
    if any(n < 1 or n > instance.number_of_frames for n in numbers):
        return _error(_("This instance has %(count)d frames.") % {"count": instance.number_of_frames}, 404)
    return None


class FramesView(PixelDataView):
    def get(self, request, study_uid: str, series_uid: str, instance_uid: str, frames: list[int]):
        study, instance = self.one(study_uid, series_uid, instance_uid)
        if (missing := _missing_frames(instance, frames)) is not None:
            return missing
        response = self.pixel_response(instance, lambda handle, choice: transfer.frame_parts(handle, frames, choice, decode_limit=settings.DICOM_MAX_DECODED_BYTES))
        if response.status_code == 200:
            self.audit("imaging.wado", study=study, detail={"series": series_uid, "instance": instance_uid, "frames": frames[:100]})
        return response


class BulkDataView(PixelDataView):
    """A large binary element named in the metadata by its BulkDataURI: the path is tags and item
    numbers ('00880200/0/7FE00010'). The Pixel Data follows the frames' rules."""

    def get(self, request, study_uid: str, series_uid: str, instance_uid: str, attribute_path: str):
        study, instance = self.one(study_uid, series_uid, instance_uid)
        if attribute_path.upper() == "7FE00010":
            if not instance.rows:
                return _no_pixel_data()
            # A frame at a time: one part of native data (transfer.is_one_part), or one part per compressed frame.
            every_frame = list(range(1, instance.number_of_frames + 1))
            response = self.pixel_response(instance, lambda source, choice: transfer.frame_parts(source, every_frame, choice, decode_limit=settings.DICOM_MAX_DECODED_BYTES), whole=True)
        else:
            wanted = transfer.parse_accept(request.META.get("HTTP_ACCEPT"))
            if not any(w.canonical in (transfer.OCTET, *transfer.WILDCARDS) for w in wanted):
                return _error(_("Bulk data is sent as application/octet-stream."), 406)
            try:
                with instance_file(instance) as source:
                    value = transfer.bulk_value(source, attribute_path)
            except transfer.TransferError as exc:
                return _error(_("The stored file of this instance cannot be read: %(reason)s.") % {"reason": reasons.translated(exc.args[0], _)}, 406)
            if value is None:
                return _error(_("This instance has no binary element at %(path)s.") % {"path": attribute_path}, 404)
            response = _multipart(iter([(f"{transfer.OCTET}; transfer-syntax={transfer.EXPLICIT_LE}", [value])]), transfer.OCTET)
        if response.status_code == 200:
            self.audit("imaging.wado", study=study, detail={"series": series_uid, "instance": instance_uid, "bulkdata": attribute_path})
        return response


# Rendered and thumbnails ----------------------------------------------------------------------

def _window(raw: str | None) -> tuple[float, float, str] | None:
    """'center,width' or 'center,width,function' → (center, width, function), or None."""
    if not raw:
        return None
    parts = raw.split(",")
    if len(parts) not in (2, 3):
        raise ValueError(raw)
    center, width = numbers(",".join(parts[:2]), float, (2,))
    function = parts[2].strip().lower() if len(parts) == 3 else "linear"
    if function not in render.VOI_FUNCTIONS or width < 1:
        raise ValueError(raw)
    return center, width, function


def _image_format(accept: str | None) -> str | None:
    """'jpeg' or 'png', the first the Accept header takes (JPEG for a wild card), or None."""
    for wanted in transfer.parse_accept(accept):
        if wanted.canonical in ("image/jpeg", "image/png"):
            return wanted.canonical.removeprefix("image/")
        if wanted.canonical in (*transfer.WILDCARDS, "image/*"):
            return "jpeg"
    return None


class _Rendering:
    """The window, viewport and quality a rendered resource is asked for (PS3.18 8.3.5.1).
    Raises ValueError with the reason, naming the parameter."""

    def __init__(self, params, *, thumbnail: bool) -> None:
        try:
            self.window = _window(params.get("window"))
        except ValueError:
            raise ValueError(_("window must be center,width or center,width,function: two numbers, a width of at least 1, and linear, linear-exact or sigmoid.")) from None
        try:
            viewport = numbers(params.get("viewport"), int, (2, 6))
            if viewport and (min(viewport[:2] + viewport[4:]) < 1 or min(viewport[2:4], default=0) < 0):
                raise ValueError(viewport)
            self.viewport = viewport
        except ValueError:
            raise ValueError(_("viewport must be width,height or width,height,x,y,region width,region height: whole numbers, sizes of at least 1.")) from None
        if thumbnail and self.viewport is None:
            self.viewport = (render.THUMBNAIL_SIZE,) * 2
        raw = params.get("quality", "90")
        if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= 100):
            raise ValueError(_("quality must be a whole number from 1 to 100."))
        self.quality = int(raw)

    def outside(self, instance: Instance) -> str | None:
        """Why the viewport's region does not fit in the instance's image, if it does not."""
        if self.viewport and len(self.viewport) == 6:
            x, y, width, height = self.viewport[2:]
            if x + width > instance.columns or y + height > instance.rows:
                return _("The viewport's region lies outside the image of %(columns)d × %(rows)d pixels.") % {"columns": instance.columns, "rows": instance.rows}
        return None

    def paint(self, instance: Instance, number: int, fmt: str):
        """The frame decoded (or cached) now, a Future of its image. Raises render.RenderError."""
        frame = pixels.frame_get(instance=instance, number=number)
        return pixels.image_soon(frame, window=self.window, viewport=self.viewport, fmt=fmt, quality=self.quality)


def _rendered_parts(frames: list[tuple[Instance, int]], rendering: _Rendering, fmt: str) -> HttpResponse:
    """These frames (a series' images, or several frames of one), each painted as the client
    reads; one that cannot be decoded there cuts the body short (the status is sent by then)."""

    def painted(instance: Instance, number: int) -> Iterator[bytes]:
        yield rendering.paint(instance, number, fmt).result()

    return _multipart(((f"image/{fmt}", painted(i, n)) for i, n in frames), f"image/{fmt}")


class RenderedView(RetrieveView):
    """A frame as JPEG (or PNG if asked for), with ?window=center,width, ?viewport=w,h, ?quality=;
    several frames of an instance, or a series' images, as a multipart of images rendered (PS3.18
    10.4.3.3); for a thumbnail the middle image of the series (of the study's first series with
    images).
    The decoded frame is cached (services/pixels.py), so a new window or size costs no decoding."""

    thumbnail = False

    def get(self, request, study_uid: str, series_uid: str | None = None, instance_uid: str | None = None, frames: list[int] | None = None):
        images = None
        if instance_uid is not None:
            study, instance = self.one(study_uid, series_uid, instance_uid)
        elif self.thumbnail:
            study = self.study(study_uid)
            instance = shown_image(study, series_uid)
            if instance is None:
                return _error(_("There is no image to render here."), 404)
            instance.series.study = study  # checked already: not read again
        else:
            study = self.study(study_uid)
            images = [i for i in self.instances(study, series_uid, None) if i.rows]
            if not images:
                return _error(_("There is no image to render here."), 404)
            instance = images[0]
        numbers = frames or [1]
        if (missing := _missing_frames(instance, numbers)) is not None:
            return missing
        try:
            rendering = _Rendering(request.query_params, thumbnail=self.thumbnail)
        except ValueError as exc:
            return _error(str(exc), 400)
        if outside := rendering.outside(instance):
            return _error(outside, 400)
        fmt = _image_format(request.META.get("HTTP_ACCEPT"))
        if fmt is None:
            return _error(_("Rendered images are sent as image/jpeg or image/png."), 406)
        if images is not None:
            self.audit("imaging.wado", study=study, detail={"rendered": True, "series": series_uid, "count": len(images)})
            return _rendered_parts([(i, 1) for i in images], rendering, fmt)
        if len(numbers) > 1:
            self.audit("imaging.wado", study=study, detail={"rendered": True, "instance": instance.sop_instance_uid, "frames": numbers[:100]})
            return _rendered_parts([(instance, n) for n in numbers], rendering, fmt)
        try:
            image = rendering.paint(instance, numbers[0], fmt)
        except render.RenderError as exc:
            return _undecodable(instance, exc.args[0])
        self.audit("imaging.wado", study=study, detail={"rendered": True, "instance": instance.sop_instance_uid, "frame": numbers[0]})
        body = image.result()
        response = HttpResponse(body, content_type=f"image/{fmt}")
        response["Cache-Control"] = "private, max-age=3600"  # an instance never changes once stored
        return response



class ThumbnailView(RenderedView):
    thumbnail = True


class NotFoundView(DicomWebView):
    """Any other path under /dicomweb/ (a frame list that is not numbers, a UID that is not one):
    a 404 in JSON like the others, after the same authentication."""

    def get(self, request, *args, **kwargs):
        return _error(_("There is no DICOMweb resource at this address."), 404)

    post = put = patch = delete = get
