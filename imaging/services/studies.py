"""Reading the archive's studies and matching unmatched ones to a registered patient."""
from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from imaging.models import Study
from telemed import access
from telemed.accounts.models import User
from telemed.audit.services import audit_record, audited_get
from telemed.patients.models import Patient


def study_list(*, by: User, unmatched: bool = False, patient: Patient | None = None) -> QuerySet[Study]:
    studies = access.visible_studies(by)
    if unmatched:
        studies = Study.objects.filter(institution__in=access.storing_institutions(by), patient__isnull=True)
    if patient is not None:
        studies = studies.filter(patient=patient)
    return studies.select_related("patient", "institution")


def study_list_record(*, by: User, shown: list[Study], patient: Patient | None = None) -> None:
    audit_record(actor=by, action="imaging.study_list", patient_id=patient.pk if patient else None, detail={"shown": [str(s.pk) for s in shown]})


def study_get(*, by: User, study_id, action: str = "imaging.study_view", detail: dict | None = None) -> Study:
    """A visible study, its opening audited as `action` (the viewer's reads of one image name theirs)."""
    scope = access.visible_studies(by).select_related("patient", "institution")
    return audited_get(scope, study_id, by=by, action=action, patient_path="patient_id", not_found=_("No study found."), detail=detail)


@transaction.atomic
def study_reconcile(*, by: User, study: Study, patient: Patient) -> Study:
    """Attach an unmatched study to a patient of the clinic that sent it."""
    if not access.patient_registration_institutions(by).filter(pk=study.institution_id).exists():
        raise PermissionDenied(_("Only doctors of the clinic that sent the study can match it to a patient."))
    if patient.institution_id != study.institution_id:
        raise ValidationError({"patient": _("The patient must be registered at the clinic that sent the study.")})
    study = Study.objects.select_for_update().get(pk=study.pk)
    if study.patient_id is not None:
        raise ValidationError(_("This study already belongs to %(name)s.") % {"name": study.patient.name})
    study.patient = patient
    study.save(update_fields=["patient", "updated_at"])
    audit_record(actor=by, action="imaging.reconcile", obj=study, patient_id=patient.pk, detail={"dicom_patient_id": study.dicom_patient_id})
    return study
