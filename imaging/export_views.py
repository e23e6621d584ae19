"""Teaching exports: ask on the study page, watch the progress, download the ZIP."""
from __future__ import annotations

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from imaging.models import StudyExport
from imaging.services import exports
from telemed import access


@require_POST
def export_create(request, study_id):
    study = get_object_or_404(access.exportable_studies(request.user), pk=study_id)
    export = exports.export_request(by=request.user, study=study)
    return redirect("imaging:export", export_id=export.pk)


def _export(request, export_id) -> StudyExport:
    return get_object_or_404(access.visible_exports(request.user).select_related("study"), pk=export_id)


def export_detail(request, export_id):
    export = _export(request, export_id)
    return render(request, "imaging/export.html", {"export": export, "state": _state(export)})


def export_progress(request, export_id):
    return JsonResponse(_state(_export(request, export_id)))


def export_download(request, export_id):
    export = _export(request, export_id)
    if export.status != StudyExport.Status.DONE or not export.file:
        raise Http404(_("This export is not ready."))
    exports.export_download_record(by=request.user, export=export)
    return FileResponse(default_storage.open(export.file.name, "rb"), as_attachment=True, filename=f"{export.pseudonym}.zip", content_type="application/zip")


def _state(export: StudyExport) -> dict:
    """What the page shows, for the first render and for every poll."""
    done = export.status == StudyExport.Status.DONE
    return {
        "status": export.status,
        "label": str(export.get_status_display()),
        "done": export.done,
        "total": export.total,
        "percent": export.percent,
        "finished": export.status in (StudyExport.Status.DONE, StudyExport.Status.FAILED),
        "download": reverse("imaging:export_download", kwargs={"export_id": export.pk}) if done else None,
        "error": _error_text(export.error) if export.status == StudyExport.Status.FAILED else "",
        "warnings": [_warning_text(w) for w in export.warnings],
    }


def _error_text(code: str) -> str:
    if code == "all_burned_in":
        return _("Every image of this study has text burned into its pixels, which this profile cannot remove; nothing was exported.")
    return _("The export failed; please try again, or tell an administrator if it fails again.")


def _warning_text(warning: dict) -> str:
    count = warning.get("count", 0)
    if warning.get("code") == "burned_in":
        return ngettext(
            "%(n)d image was left out: text is burned into its pixels (Burned In Annotation = YES).",
            "%(n)d images were left out: text is burned into their pixels (Burned In Annotation = YES).", count,
        ) % {"n": count}
    return ngettext(
        "%(n)d image does not say whether text is burned into its pixels: look through it before sharing.",
        "%(n)d images do not say whether text is burned into their pixels: look through them before sharing.", count,
    ) % {"n": count}
