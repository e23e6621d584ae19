from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from imaging import selectors
from imaging.dicom import reasons
from imaging.dicom.attributes import attribute_groups
from imaging.dicom.header import NOT_PART10
from imaging.dicom.regions import RegionError
from imaging.dicom.render import RenderError
from imaging.services import pixels, studies
from telemed import access
from telemed.patients.models import Patient
from telemed.web.forms import call_service
from telemed.web.params import numbers


class ReconcileForm(forms.Form):
    patient = forms.ModelChoiceField(label=gettext_lazy("Patient"), queryset=Patient.objects.none())

    def __init__(self, *args, patients=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["patient"].queryset = patients
        self.fields["patient"].label_from_instance = lambda p: f"{p.name} · {p.mrn}"


def study_list(request):
    """Every study the user may see, or one patient's (`?patient=`, from the patient's page)."""
    patient = _patient_asked(request)
    page = Paginator(studies.study_list(by=request.user, patient=patient).order_by("-created_at"), 25).get_page(request.GET.get("page"))
    unmatched = [] if patient else list(studies.study_list(by=request.user, unmatched=True).order_by("-created_at")[:50])
    studies.study_list_record(by=request.user, shown=list(page.object_list) + unmatched, patient=patient)
    patients = access.visible_patients(request.user).filter(institution__in=access.patient_registration_institutions(request.user))
    return render(
        request,
        "imaging/study_list.html",
        {
            "page": page,
            "unmatched": [(study, ReconcileForm(patients=patients.filter(institution=study.institution_id), prefix=str(study.pk))) for study in unmatched],
            "can_upload": access.storing_institutions(request.user).exists(),
            "patient": patient,
            "query_string": urlencode({"patient": patient.pk}) if patient else "",
        },
    )


def _patient_asked(request) -> Patient | None:
    """The patient named by `?patient=`, if the user may see them (404 otherwise, as for a
    patient's own page: whether a patient exists is not told)."""
    asked = request.GET.get("patient")
    if not asked:
        return None
    try:
        return access.visible_patients(request.user).get(pk=asked)
    except (Patient.DoesNotExist, ValidationError):
        raise Http404(_("No patient found.")) from None


def study_detail(request, study_id):
    study = studies.study_get(by=request.user, study_id=study_id)
    series = study.series.order_by("series_number").prefetch_related("instances")
    return render(request, "imaging/study_detail.html", {"study": study, "series": series, "viewable": selectors.study_has_images(study)})


@require_POST
def study_reconcile(request, study_id):
    from django.shortcuts import get_object_or_404

    from imaging.models import Study

    study = get_object_or_404(Study.objects.filter(institution__in=access.storing_institutions(request.user), patient__isnull=True), pk=study_id)
    patients = access.visible_patients(request.user).filter(institution=study.institution_id)
    form = ReconcileForm(request.POST, patients=patients, prefix=str(study.pk))
    if form.is_valid() and call_service(form, lambda: studies.study_reconcile(by=request.user, study=study, patient=form.cleaned_data["patient"])):
        messages.success(request, _("The study now belongs to %(name)s.") % {"name": form.cleaned_data["patient"].name})
    else:
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
    return redirect("imaging:studies")


def upload_page(request):
    if not access.storing_institutions(request.user).exists():
        raise PermissionDenied
    return render(request, "imaging/upload.html", {"institutions": access.storing_institutions(request.user), "not_part10": _(NOT_PART10)})


def study_viewer(request, study_id):
    """The viewer: series and their images in order, with pixel spacing and slice positions."""
    study = studies.study_get(by=request.user, study_id=study_id)
    return render(request, "imaging/viewer.html", {"study": study, "viewer": selectors.viewer_study(study)})


def _viewed_instance(request, study_id, series_uid: str, instance_uid: str, *, action: str, **detail):
    """The instance a viewer's request names, its reading audited as `action`; 404 if the user
    may not see it."""
    # The UIDs as asked for, cut where a UID ends: the address may hold anything.
    detail = {"series": series_uid[:64], "instance": instance_uid[:64], **detail}
    study = studies.study_get(by=request.user, study_id=study_id, action=action, detail=detail)
    instance = selectors.instance_by_uids(study.study_instance_uid, series_uid, instance_uid)
    if instance is None:
        raise Http404
    return instance


def _viewed_image(request, study_id, series_uid: str, instance_uid: str, frame: int, *, action: str, **detail):
    """The same, for one frame of an image: 404 as well if there is no such frame."""
    instance = _viewed_instance(request, study_id, series_uid, instance_uid, action=action, frame=min(frame, 2**31), **detail)
    if instance.rows is None or not 1 <= frame <= instance.number_of_frames:
        raise Http404
    return instance


def viewer_window(request, study_id, series_uid: str, instance_uid: str, frame: int):
    """The window a frame is rendered with by default, for an image whose header gives none (the
    renderer then takes the frame's range): the viewer's first window drag starts from it."""
    instance = _viewed_image(request, study_id, series_uid, instance_uid, frame, action="imaging.frame_window")
    try:
        window = pixels.frame_get(instance=instance, number=frame).window
    except RenderError as exc:
        return JsonResponse({"detail": reasons.translated(exc.args[0], _)}, status=406)
    return JsonResponse({"window": window})


REGION_SHAPES = ("ellipse", "rectangle")


def viewer_region(request, study_id, series_uid: str, instance_uid: str, frame: int):
    """The values inside a region the viewer drew on a frame (`?box=x0,y0,x1,y1` in image pixels,
    `&shape=ellipse` or `rectangle`): pixel count, mean, standard deviation, minimum, maximum
    and their unit (HU for CT, Gy for an RT Dose in gray)."""
    shape, asked = request.GET.get("shape", "ellipse"), request.GET.get("box", "")
    # Who may see the image is settled first: a stranger learns nothing from a malformed box.
    instance = _viewed_image(request, study_id, series_uid, instance_uid, frame, action="imaging.region", box=asked[:100], shape=shape[:20])
    try:
        box = numbers(asked, float, (4,))
    except ValueError:
        box = None
    if box is None or shape not in REGION_SHAPES:
        return JsonResponse({"detail": _("Name the region as box=x0,y0,x1,y1 (image pixels) and shape=ellipse or rectangle.")}, status=400)
    try:
        values, unit = pixels.region_get(instance=instance, number=frame, box=box, ellipse=shape == "ellipse")
    except RenderError as exc:
        return JsonResponse({"detail": reasons.translated(exc.args[0], _)}, status=406)
    except RegionError as exc:
        return JsonResponse({"detail": str(exc)}, status=400)
    return JsonResponse({"pixels": values.pixels, "mean": values.mean, "sd": values.sd, "min": values.minimum, "max": values.maximum, "unit": unit})


def viewer_tags(request, study_id, series_uid: str, instance_uid: str):
    """The viewer's tag panel: an image's header as rows with each attribute's name."""
    instance = _viewed_instance(request, study_id, series_uid, instance_uid, action="imaging.instance_tags")
    return render(request, "imaging/_tags.html", {"groups": attribute_groups(instance.metadata)})
