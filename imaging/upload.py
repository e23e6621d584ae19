"""Browser upload: one instance per request, and a question the page asks before it sends.

Resuming needs no server-side session: the page hashes each file (with the preamble zeroed, as
stored) and asks which hashes are already here, then sends only the rest. A dropped link or a
closed tab costs at most the files that were in flight.
"""
from __future__ import annotations

import json
import re
from functools import wraps

from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import render
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from imaging.dicom import dates, names, reasons
from imaging.models import Instance
from imaging.selectors import institution_to_store_for
from imaging.services import storage
from imaging.services.ingest import Status, instance_ingest
from telemed import access

SHA256 = re.compile(r"^[0-9a-f]{64}$")
MAX_HASHES = 2000


def storing_institution(request):
    """The clinic the user sends for: their only one, or the one named by ?institution=."""
    institution = institution_to_store_for(request.user, request.GET.get("institution"))
    if institution is None:
        raise PermissionDenied(_("Choose the clinic you are sending for."))
    return institution


def _for_institution(view):
    """The view gets the clinic the user sends for. A refusal is answered in JSON with its reason,
    which the page shows: an HTML 403 would read there as a session that ended."""
    @wraps(view)
    def answered(request):
        try:
            institution = storing_institution(request)
        except PermissionDenied as exc:
            return JsonResponse({"reason": str(exc)}, status=403)
        return view(request, institution)

    return answered


@require_POST
@_for_institution
def upload_known(request, institution):
    try:
        hashes = json.loads(request.body or b"{}").get("hashes", [])
    except (ValueError, AttributeError):
        return JsonResponse({"reason": _("The request body must be JSON with a list of hashes.")}, status=400)
    if not isinstance(hashes, list) or len(hashes) > MAX_HASHES or not all(isinstance(h, str) and SHA256.match(h) for h in hashes):
        return JsonResponse({"reason": _("Send at most %(n)d SHA-256 hashes, in hex.") % {"n": MAX_HASHES}}, status=400)
    known = Instance.objects.filter(series__study__institution=institution, sha256__in=hashes).values_list("sha256", flat=True)
    return JsonResponse({"known": sorted(set(known))})


@require_POST
@_for_institution
def upload_instance(request, institution):
    result = instance_ingest(stream=request, institution=institution, by=request.user, source="browser")
    body = {"status": result.status, "reason": reasons.translated(result.reason, _), "sop_instance_uid": result.sop_instance_uid}
    if result.instance is not None:
        study = result.instance.series.study
        body.update(
            study=str(study.pk), study_uid=study.study_instance_uid, description=study.description, patient_id=study.dicom_patient_id,
            patient=names.person_name(study.dicom_patient_name, language=request.LANGUAGE_CODE), date=dates.dicom_date(study.study_date),
        )
    if result.status == Status.OVER_QUOTA:
        body["reason"] = _quota_message(institution)
        return JsonResponse(body, status=507)  # the page stops sending: every further file would be refused too
    return JsonResponse(body, status=200 if result.ok else (409 if result.status == Status.CONFLICT else 400))


@require_safe
def upload_usage(request):
    """The storage bars alone, drawn as every page draws them, for the upload page to show what its files took."""
    if not access.storing_institutions(request.user).exists():  # the page's own rule: who may upload
        raise PermissionDenied
    return render(request, "imaging/includes/upload_usage.html")


def _quota_message(institution) -> str:
    usage = storage.usage_list(type(institution).objects.filter(pk=institution.pk))[0]
    return _("The storage quota of %(clinic)s is full (%(used)s of %(quota)s used). Nothing more can be stored until an administrator raises the quota.") % {
        "clinic": institution.name, "used": filesizeformat(usage.bytes), "quota": filesizeformat(usage.quota),
    }
