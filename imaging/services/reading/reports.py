"""The radiologist's report: a draft, the author's signature (书写), verification (审核), addenda.

The rules, in one place:
- only the radiologist the read is assigned to writes its report, while it is assigned or being
  read; the first save starts the read; a draft is seen by its author only;
- the author signs it (hands it in). Where the hospital requires two-level sign-off it then
  waits for another qualified radiologist of the hospital (never the author) to verify it, or to
  send it back with a reason; otherwise the author's signature makes it final;
- the verifier may correct the text as they verify; the report names the fields they changed,
  and the audit trail has them too;
- a final report never changes (the database refuses it too); the author or the verifier adds
  signed addenda, and the clinic is told of each;
- the clinic and the coordinators see a report once it is final; every read of one is audited.
"""
from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import BooleanField, Case, IntegerField, Q, QuerySet, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from consults.services.notify import lazy_format, local_minute, notify
from imaging.models import CriticalAlert, ReadRequest, ReadStatus, Report, ReportAddendum, ReportTemplate
from imaging.services.reading import critical
from imaging.services.reading.assignment import policy_for, reader_refusal, readers_of
from imaging.services.reading.lifecycle import coordinators_of, locked, read_label, read_link, record, status_label, transition
from telemed import access
from telemed.accounts.models import Qualification, User
from telemed.audit.services import audit_record

WRITABLE = (ReadStatus.ASSIGNED, ReadStatus.IN_PROGRESS)
TEXT_FIELDS = ("technique", "findings", "impression")


# --- Templates -----------------------------------------------------------------------------------------

def templates_for(read: ReadRequest, *, language: str = "") -> QuerySet[ReportTemplate]:
    """Active templates the read's hospital may use (shared ones and its own): those made for the
    read's examination (`matching`: its modality and body part, as the template records them)
    first, then the others, the editor's "Other templates"; each part in the reader's language
    first, then the closest: same modality, then the rest."""
    same_modality, same_part = Q(modality__iexact=read.modality), Q(body_part__iexact=read.body_part)  # a template names both
    return (
        ReportTemplate.objects.filter(Q(hospital__isnull=True) | Q(hospital_id=read.hospital_id), is_active=True)
        .annotate(
            matching=Case(When(same_modality & same_part, then=Value(True)), default=Value(False), output_field=BooleanField()),
            fit=Case(When(same_modality, then=Value(0)), default=Value(1), output_field=IntegerField()),
            other_language=Case(When(language=language, then=Value(0)), default=Value(1), output_field=IntegerField()),
        )
        .order_by("-matching", "other_language", "language", "fit", "modality", "body_part", "name")  # the editor groups them by `matching`
    )


# --- Who may do what ---------------------------------------------------------------------------------

def may_write(user, read: ReadRequest) -> bool:
    return read.status in WRITABLE and user is not None and read.radiologist_id == user.pk


def may_verify(user, read: ReadRequest, report: Report | None) -> bool:
    return (
        read.status == ReadStatus.AWAITING_VERIFICATION and report is not None and user is not None and user.is_authenticated
        and report.author_id != user.pk and not reader_refusal(user, read.hospital)
    )


def may_add_addendum(user, report: Report | None) -> bool:
    return report is not None and report.signed_at is not None and user is not None and user.pk in (report.author_id, report.verifier_id)


def require_writer(by: User, read: ReadRequest) -> None:
    """Refuses anyone but the assigned radiologist (PermissionDenied) and a read past writing,
    saying why (ValidationError): handed in, signed (add an addendum), declined or cancelled."""
    if read.radiologist_id != by.pk:
        raise PermissionDenied(_("Only the radiologist the read is assigned to can write its report."))
    if read.status == ReadStatus.AWAITING_VERIFICATION:
        raise ValidationError(_("The report is handed in and waits for verification; it can be changed only if the verifier sends it back."))
    if read.status == ReadStatus.SIGNED:
        raise ValidationError(_("The report was signed on %(time)s and can no longer be changed; add an addendum instead.") % {"time": local_minute(read.signed_at)}, code="signed")
    if read.status not in WRITABLE:
        raise ValidationError(_("This read is %(status)s; there is no report to write.") % {"status": status_label(read)})


def require_verifier(by: User, read: ReadRequest, report: Report | None) -> None:
    """Refuses the author and anyone who may not read there (PermissionDenied), then a report not
    waiting for verification, saying what the read is now (ValidationError): the person first, so
    that a stranger gets the same refusal whatever the read's state."""
    if report is not None and report.author_id == by.pk:
        raise PermissionDenied(_("You wrote this report; another radiologist of the hospital must verify it."))
    refusal = reader_refusal(by, read.hospital)
    if refusal:
        raise PermissionDenied(refusal)
    if read.status != ReadStatus.AWAITING_VERIFICATION or report is None:
        raise ValidationError(_("Only a report handed in for verification can be verified; this read is %(status)s.") % {"status": status_label(read)})


# --- Writing ---------------------------------------------------------------------------------------------

def _clean_draft(read: ReadRequest, *, findings: str, critical_flag: bool, critical_finding: str, template: ReportTemplate | None) -> None:
    errors = {}
    if not findings.strip():
        errors["findings"] = _("Write the findings; a draft cannot be saved without them.")
    alerted = CriticalAlert.objects.filter(read=read).exists()
    if critical_flag and not alerted and not critical_finding.strip():
        errors["critical_finding"] = _("Describe the critical finding: the clinic is alerted at once with these words.")
    if alerted and not critical_flag:
        errors["critical"] = _("A critical finding was already reported to the clinic for this read; it cannot be withdrawn. Explain in the report.")
    if template is not None and not templates_for(read).filter(pk=template.pk).exists():
        errors["template"] = _("This template is not available for this hospital.")
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def report_save(
    *, by: User, read: ReadRequest, findings: str, impression: str = "", technique: str = "",
    critical_flag: bool = False, critical_finding: str = "", template: ReportTemplate | None = None,
) -> Report:
    """Save the draft; the first save starts the read. Ticking "critical" alerts the clinic at once."""
    read = locked(read)
    require_writer(by, read)
    _clean_draft(read, findings=findings, critical_flag=critical_flag, critical_finding=critical_finding, template=template)
    report = Report.objects.select_for_update().filter(read=read).first()
    created = report is None
    report = report or Report(read=read)
    report.author = by
    report.technique, report.findings, report.impression = technique.strip(), findings.strip(), impression.strip()
    report.critical = critical_flag
    report.template = template or report.template
    report.save()
    if read.status == ReadStatus.ASSIGNED:
        transition(read, to=ReadStatus.IN_PROGRESS, by=by, action="start")
    audit_record(actor=by, action="report.save", obj=report, patient_id=read.patient_id, detail={"read": str(read.pk), "created": created, "critical": critical_flag})
    if critical_flag and not CriticalAlert.objects.filter(read=read).exists():
        critical.raise_alert(read, by=by, finding=critical_finding)
    return report


def _clean_for_signing(report: Report) -> None:
    errors = {}
    if not report.findings.strip():
        errors["findings"] = _("Write the findings before signing.")
    if not report.impression.strip():
        errors["impression"] = _("Write the impression (the diagnosis or the differential) before signing.")
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def report_submit(*, by: User, read: ReadRequest) -> Report:
    """The author signs the report (书写). It is final now, or waits for verification where the hospital requires it.

    1. Lock the read, then the report: a coordinator reassigning at this moment waits.
    2. Check the author, the state and that findings and impression are written.
    3. Two-level sign-off: hand it to the hospital's other radiologists; otherwise sign it.
    """
    read = locked(read)
    require_writer(by, read)
    report = Report.objects.select_for_update().filter(read=read).first()
    if report is None:
        raise ValidationError(_("Write and save the report before signing it."))
    _clean_for_signing(report)
    now = timezone.now()
    report.author, report.submitted_at = by, now
    if not policy_for(read.hospital).requires_verification:
        return _finalise(read, report, by=by, action="sign", at=now)
    report.save(update_fields=["author", "submitted_at", "updated_at"])
    transition(read, to=ReadStatus.AWAITING_VERIFICATION, by=by, action="submit")
    verifiers = [person for person in readers_of(read.hospital) if person.pk != by.pk]
    # With nobody else qualified to verify, the coordinators must find someone (or change the policy).
    notify(
        verifiers or coordinators_of(read), consult=None, link=read_link(read),
        title=lazy_format(gettext_lazy("A report awaits verification: %(exam)s"), exam=read_label(read)),
        body=lazy_format(gettext_lazy("Written by %(name)s for %(clinic)s."), name=by, clinic=read.clinic),
    )
    return report


def _finalise(read: ReadRequest, report: Report, *, by: User, action: str, at, detail: dict | None = None) -> Report:
    """With read and report locked: the report becomes final at `at`; the clinic sees it and is told."""
    report.signed_at = read.signed_at = at
    report.save()
    transition(read, to=ReadStatus.SIGNED, by=by, action=action, fields=("signed_at",), detail=detail)
    audit_record(actor=by, action=f"report.{action}", obj=report, patient_id=read.patient_id, detail={"read": str(read.pk), **(detail or {})})
    title = gettext_lazy("Critical finding: the report is signed: %(exam)s") if report.critical else gettext_lazy("The imaging report is ready: %(exam)s")
    notify(
        [read.requested_by], consult=None, link=read_link(read),
        title=lazy_format(title, exam=read_label(read)),
        body=lazy_format(gettext_lazy("%(hospital)s, signed by %(name)s."), hospital=read.hospital, name=by),
    )
    return report


@transaction.atomic
def report_verify(*, by: User, read: ReadRequest, technique: str | None = None, findings: str | None = None, impression: str | None = None) -> Report:
    """Another radiologist of the hospital verifies the report (审核), correcting it if needed; it is final then."""
    read = locked(read)
    report = Report.objects.select_for_update().filter(read=read).first()
    require_verifier(by, read, report)
    wanted = {"technique": technique, "findings": findings, "impression": impression}
    amended = [name for name, value in wanted.items() if value is not None and value.strip() != getattr(report, name)]
    for name in amended:
        setattr(report, name, wanted[name].strip())
    _clean_for_signing(report)
    now = timezone.now()
    report.verifier, report.verified_at, report.amended_fields = by, now, amended
    _finalise(read, report, by=by, action="verify", at=now, detail={"amended": amended})
    if report.author_id != by.pk:
        notify(
            [report.author], consult=None, link=read_link(read),
            title=lazy_format(gettext_lazy("%(name)s verified your report: %(exam)s"), name=by, exam=read_label(read)),
            body=gettext_lazy("The verifier corrected it; see the final text.") if amended else "",
        )
    return report


@transaction.atomic
def report_return(*, by: User, read: ReadRequest, reason: str) -> Report:
    """The verifier sends the report back to its author with what to change; it is a draft again."""
    read = locked(read)
    report = Report.objects.select_for_update().filter(read=read).first()
    require_verifier(by, read, report)
    if not reason.strip():
        raise ValidationError({"reason": _("Say what the author should change.")})
    report.submitted_at = None
    report.save(update_fields=["submitted_at", "updated_at"])
    transition(read, to=ReadStatus.IN_PROGRESS, by=by, action="return", note=reason.strip())
    notify(
        [report.author], consult=None, link=read_link(read),
        title=lazy_format(gettext_lazy("%(name)s sent your report back: %(exam)s"), name=by, exam=read_label(read)),
        body=reason.strip(),
    )
    return report


@transaction.atomic
def addendum_add(*, by: User, read: ReadRequest, text: str) -> ReportAddendum:
    """Add to a final report: by its author or verifier, signed as it is written, never changed."""
    read = locked(read)
    report = Report.objects.filter(read=read).first()
    if report is None or report.signed_at is None:
        raise ValidationError(_("Addenda are for signed reports; this read is %(status)s.") % {"status": status_label(read)})
    if by.pk not in (report.author_id, report.verifier_id):
        raise PermissionDenied(_("Only the radiologist who wrote or verified the report can add to it."))
    if not text.strip():
        raise ValidationError({"text": _("Write what you want to add to the signed report.")})
    addendum = ReportAddendum.objects.create(report=report, author=by, text=text.strip())
    record(read, by=by, action="addendum", obj=addendum, detail={"report": str(report.pk)})
    notify(
        [read.requested_by], consult=None, link=read_link(read),
        title=lazy_format(gettext_lazy("An addendum to the imaging report: %(exam)s"), exam=read_label(read)),
        body=text.strip(),
    )
    return addendum


# --- Reading -------------------------------------------------------------------------------------------

def _with_titles(report: Report) -> Report:
    """The author's and verifier's professional titles, for the printed report."""
    titles = {}
    for qualification in Qualification.objects.filter(user_id__in=[report.author_id, report.verifier_id], verified_at__isnull=False).order_by("-verified_at"):
        titles.setdefault(qualification.user_id, qualification.get_title_display())
    report.author_title = titles.get(report.author_id, "")
    report.verifier_title = titles.get(report.verifier_id, "")
    return report


def report_for(*, by: User, read: ReadRequest) -> Report | None:
    """The read's report if this person may see it (final, their own draft, or theirs to verify), audited."""
    report = access.visible_reports(by).filter(read=read).select_related("author", "verifier", "template").prefetch_related("addenda__author").first()
    if report is None:
        return None
    audit_record(actor=by, action="report.view", obj=report, patient_id=read.patient_id, detail={"read": str(read.pk)})
    return _with_titles(report)
