"""Critical findings (危急值): the clinic is alerted at once and must acknowledge; if nobody does in
time, the clinic's other doctors and the hospital's coordinators are alerted too.

`critical_escalate_due` runs from Celery beat and may run twice at once: it claims overdue alerts
with SKIP LOCKED and marks them escalated in the transaction that notifies, so each is escalated once.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from consults.services.notify import lazy_format, local_minute, notify
from imaging.models import CriticalAlert, ReadRequest, ReadStatus, Report
from imaging.services.reading.assignment import critical_ack_minutes, reader_refusal
from imaging.services.reading.lifecycle import clinic_doctors_of, coordinators_of, locked, read_label, read_link, record, status_label
from telemed import access
from telemed.accounts.models import User

RAISABLE = (ReadStatus.ASSIGNED, ReadStatus.IN_PROGRESS, ReadStatus.AWAITING_VERIFICATION, ReadStatus.SIGNED)


def alerts_of(read: ReadRequest):
    """The read's critical findings in the order raised, with who raised and acknowledged each:
    as its page and its printed report tell them."""
    return read.critical_alerts.select_related("raised_by", "acknowledged_by")


def may_raise(user, read: ReadRequest) -> bool:
    """The radiologist reading it; once the report is handed in, any radiologist of the hospital (the verifier)."""
    if user is None or not user.is_authenticated or read.status not in RAISABLE:
        return False
    if read.radiologist_id == user.pk:
        return True
    return read.status in (ReadStatus.AWAITING_VERIFICATION, ReadStatus.SIGNED) and not reader_refusal(user, read.hospital)


def raise_alert(read: ReadRequest, *, by: User, finding: str) -> CriticalAlert:
    """With the read locked by the caller: record the alert and tell the requesting doctor at once."""
    if not finding.strip():
        raise ValidationError({"finding": _("Describe the critical finding: the clinic is alerted at once with these words.")})
    minutes = critical_ack_minutes(read.hospital)
    try:
        with transaction.atomic():
            alert = CriticalAlert.objects.create(read=read, finding=finding.strip(), raised_by=by, escalate_at=timezone.now() + timedelta(minutes=minutes))
    except IntegrityError:
        raise ValidationError(_("A critical finding on this read is still waiting for the clinic's acknowledgement.")) from None
    record(read, by=by, action="critical", note=alert.finding, obj=alert)
    notify(
        [read.requested_by], consult=None, link=read_link(read),
        title=lazy_format(gettext_lazy("Critical finding (危急值): %(exam)s. Acknowledge now."), exam=read_label(read)),
        body=lazy_format(
            gettext_lazy("%(hospital)s reports: %(finding)s\nAcknowledge it within %(minutes)d minutes; after that your colleagues and the coordinators are alerted."),
            hospital=read.hospital, finding=alert.finding, minutes=minutes,
        ),
    )
    return alert


@transaction.atomic
def critical_raise(*, by: User, read: ReadRequest, finding: str) -> CriticalAlert:
    """A radiologist reports a critical finding now, before (or apart from) the signed report."""
    read = locked(read)
    if not may_raise(by, read):
        if read.status not in RAISABLE:
            raise ValidationError(_("This read is %(status)s; there is nothing to alert about.") % {"status": status_label(read)})
        raise PermissionDenied(_("Only the radiologist reading the study, or a radiologist verifying its report, can report a critical finding."))
    alert = raise_alert(read, by=by, finding=finding)
    # The draft records that the clinic was alerted, so its author cannot sign it as unremarkable.
    Report.objects.filter(read=read, signed_at__isnull=True, critical=False).update(critical=True, updated_at=timezone.now())
    return alert


@transaction.atomic
def critical_acknowledge(*, by: User, read: ReadRequest, note: str = "") -> CriticalAlert:
    """A doctor of the clinic confirms they have read the critical finding; the radiologist is told."""
    read = locked(read)
    if not access.is_read_clinic(by, read):
        raise PermissionDenied(_("Only a doctor of the clinic that asked for the read can acknowledge its critical finding."))
    alert = CriticalAlert.objects.select_for_update().filter(read=read, acknowledged_at__isnull=True).first()
    if alert is None:
        last = CriticalAlert.objects.filter(read=read).select_related("acknowledged_by").order_by("-raised_at").first()
        if last is None:
            raise ValidationError(_("This read has no critical finding to acknowledge."))
        raise ValidationError(_("%(name)s already acknowledged it at %(time)s.") % {"name": last.acknowledged_by, "time": local_minute(last.acknowledged_at)})
    alert.acknowledged_by, alert.acknowledged_at, alert.acknowledgement_note = by, timezone.now(), note.strip()[:500]
    alert.save(update_fields=["acknowledged_by", "acknowledged_at", "acknowledgement_note"])
    record(read, by=by, action="critical_acknowledge", note=alert.acknowledgement_note, obj=alert)
    notify(
        [alert.raised_by], consult=None, link=read_link(read),
        title=lazy_format(gettext_lazy("%(name)s acknowledged the critical finding: %(exam)s"), name=by, exam=read_label(read)),
        body=alert.acknowledgement_note,
    )
    return alert


def reads_awaiting_acknowledgement(user) -> list:
    """Ids of the reads whose critical finding the user's clinics have not acknowledged, oldest first."""
    clinics = access.patient_registration_institutions(user)
    return list(CriticalAlert.objects.filter(acknowledged_at__isnull=True, read__clinic__in=clinics).order_by("raised_at").values_list("read_id", flat=True))


def critical_escalate_due(*, now: datetime | None = None, batch: int = 100) -> int:
    """Alert the clinic's other doctors and the hospital's coordinators about unacknowledged findings.

    1. Claim the overdue alerts (open, not escalated) with SKIP LOCKED, so two workers never
       escalate one twice, and a doctor acknowledging right now (holding the lock) wins.
    2. Set `escalated_at` (timeline, audit) and notify, in one transaction.
    At most `batch` per run; the next run, a minute later, takes the rest.
    """
    now = now or timezone.now()
    with transaction.atomic():
        overdue = list(
            CriticalAlert.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(acknowledged_at__isnull=True, escalated_at__isnull=True, escalate_at__lte=now)
            .select_related("read", "read__clinic", "read__hospital", "read__study", "read__requested_by")
            .order_by("escalate_at")[:batch]
        )
        for alert in overdue:
            _escalate(alert, now)
    return len(overdue)


def _escalate(alert: CriticalAlert, now: datetime) -> None:
    read = alert.read
    alert.escalated_at = now
    alert.save(update_fields=["escalated_at"])
    record(read, by=None, action="critical_escalate", note=alert.finding, obj=alert)
    colleagues = [doctor for doctor in clinic_doctors_of(read) if doctor.pk != read.requested_by_id]
    notify(
        colleagues + coordinators_of(read), consult=None, link=read_link(read),
        title=lazy_format(gettext_lazy("Critical finding not acknowledged: %(exam)s"), exam=read_label(read)),
        body=lazy_format(
            gettext_lazy("%(clinic)s has not acknowledged the critical finding reported by %(hospital)s: %(finding)s\nPlease reach %(doctor)s or another doctor of the clinic."),
            clinic=read.clinic, hospital=read.hospital, finding=alert.finding, doctor=read.requested_by,
        ),
    )
