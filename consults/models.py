"""Expert consultations: availability, requests, bookings, opinions, referrals, reminders.

A `Consult` carries a clinic's request through its whole life (requested → triaged →
scheduled → in session → opinion pending → completed, or declined / cancelled). Booking an
expert writes an `Engagement`: a span of the expert's time that the database itself keeps from
overlapping another (a PostgreSQL exclusion constraint; see migration 0002), so two coordinators
racing for one slot cannot both win. Rounds will write engagements too.
"""
from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from telemed.accounts.models import Institution, Specialty
from telemed.patients.models import Patient


class Urgency(models.TextChoices):
    ROUTINE = "routine", _("Routine")
    URGENT = "urgent", _("Urgent")
    EMERGENCY = "emergency", _("Emergency")


URGENCY_RANK = {Urgency.EMERGENCY: 0, Urgency.URGENT: 1, Urgency.ROUTINE: 2}


class Status(models.TextChoices):
    REQUESTED = "requested", _("Requested")
    NEEDS_INFO = "needs_info", _("More information asked")
    TRIAGED = "triaged", _("Triaged")
    SCHEDULED = "scheduled", _("Scheduled")
    IN_SESSION = "in_session", _("In session")
    OPINION_PENDING = "opinion_pending", _("Opinion pending")
    COMPLETED = "completed", _("Completed")
    DECLINED = "declined", _("Declined")
    CANCELLED = "cancelled", _("Cancelled")


OPEN_STATUSES = (Status.REQUESTED, Status.NEEDS_INFO, Status.TRIAGED)
ENDED_STATUSES = (Status.COMPLETED, Status.DECLINED, Status.CANCELLED)


class ExpertProfile(models.Model):
    """What the directory shows of a specialist beyond their qualification."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="expert_profile")
    languages = models.JSONField(_("languages"), default=list, help_text=_("Language codes, e.g. zh, en, yue."))
    bio = models.TextField(_("about"), blank=True)
    slot_minutes = models.PositiveSmallIntegerField(_("consult length (minutes)"), default=30)


class AvailabilityRule(models.Model):
    """A weekly block of consult hours, in the expert's own time zone."""

    class Weekday(models.IntegerChoices):
        MONDAY = 0, _("Monday")
        TUESDAY = 1, _("Tuesday")
        WEDNESDAY = 2, _("Wednesday")
        THURSDAY = 3, _("Thursday")
        FRIDAY = 4, _("Friday")
        SATURDAY = 5, _("Saturday")
        SUNDAY = 6, _("Sunday")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    expert = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="availability_rules")
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=Weekday.choices)
    starts = models.TimeField(_("from"))
    ends = models.TimeField(_("until"))
    time_zone = models.CharField(_("time zone"), max_length=64, default="Asia/Shanghai")
    valid_from = models.DateField(_("valid from"))
    valid_until = models.DateField(_("valid until"), null=True, blank=True)

    class Meta:
        ordering = ["weekday", "starts"]
        constraints = [
            models.CheckConstraint(
                condition=Q(starts__lt=models.F("ends")),
                name="availability_rule_starts_before_it_ends",
                violation_error_message=_("The hours must end after they start."),
            )
        ]


class AvailabilityException(models.Model):
    """Leave, a holiday (time taken away) or an extra session (time added)."""

    class Kind(models.TextChoices):
        BLOCKED = "blocked", _("Not available (leave, holiday)")
        EXTRA = "extra", _("Extra session")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    expert = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="availability_exceptions")
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    starts_at = models.DateTimeField(_("from"))
    ends_at = models.DateTimeField(_("until"))
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(starts_at__lt=models.F("ends_at")),
                name="availability_exception_starts_before_it_ends",
                violation_error_message=_("The span must end after it starts."),
            )
        ]


class Consult(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="consults", verbose_name=_("patient"))
    clinic = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="consults_requested", verbose_name=_("clinic"))
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="consults_requested")
    specialty = models.CharField(_("specialty wanted"), max_length=32, choices=Specialty.choices)
    named_expert = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("named expert")
    )
    urgency = models.CharField(_("urgency"), max_length=10, choices=Urgency.choices, default=Urgency.ROUTINE)
    question = models.TextField(_("clinical question"))
    history = models.TextField(_("history summary"))
    preferred_times = models.CharField(_("preferred times"), max_length=300, blank=True)
    consent_signed_by = models.CharField(_("consent signed by"), max_length=120)
    consent_relation = models.CharField(_("signer is"), max_length=20)
    consent_signed_at = models.DateTimeField(_("consent signed at"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.REQUESTED, db_index=True)
    status_reason = models.CharField(_("reason"), max_length=500, blank=True)
    hospital = models.ForeignKey(
        Institution, on_delete=models.PROTECT, null=True, blank=True, related_name="consults_given", verbose_name=_("hospital")
    )
    starts_at = models.DateTimeField(_("starts at"), null=True, blank=True, db_index=True)
    ends_at = models.DateTimeField(_("ends at"), null=True, blank=True)
    offered_to = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    offered_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    sequence = models.PositiveIntegerField(default=0, help_text="iCalendar SEQUENCE: bumped on every reschedule or cancel.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    scheduled_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("consultation")
        verbose_name_plural = _("consultations")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_specialty_display()} · {self.patient.name}"

    @property
    def is_mdt(self) -> bool:
        return self.participants.filter(role__in=Participant.EXPERT_ROLES).count() > 1


class Participant(models.Model):
    class Role(models.TextChoices):
        LEAD_EXPERT = "lead", _("Lead expert")
        EXPERT = "expert", _("Expert")
        CLINIC_DOCTOR = "clinic", _("Clinic doctor")
        COORDINATOR = "coordinator", _("Coordinator")

    EXPERT_ROLES = (Role.LEAD_EXPERT, Role.EXPERT)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    consult = models.ForeignKey(Consult, on_delete=models.CASCADE, related_name="participants")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="consult_participations")
    role = models.CharField(max_length=12, choices=Role.choices)
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["consult", "user"], name="one_participation_per_consult")]


class Engagement(models.Model):
    """A span of an expert's time taken by a consult (later also by a ward round).

    On PostgreSQL an exclusion constraint forbids two unreleased engagements of one expert
    whose spans overlap; see migration 0002.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    expert = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="engagements")
    consult = models.ForeignKey(Consult, on_delete=models.CASCADE, null=True, blank=True, related_name="engagements")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["expert", "starts_at"], name="engagement_expert_start")]
        constraints = [models.CheckConstraint(condition=Q(starts_at__lt=models.F("ends_at")), name="engagement_starts_before_it_ends")]


class TimelineEntry(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    consult = models.ForeignKey(Consult, on_delete=models.CASCADE, related_name="timeline")
    at = models.DateTimeField(auto_now_add=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    action = models.CharField(max_length=32)
    status = models.CharField(max_length=16, choices=Status.choices)
    note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["at"]


class Attachment(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    consult = models.ForeignKey(Consult, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to="consults/attachments/%Y/%m/")
    name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True)


class Reminder(models.Model):
    """A reminder due to one person some minutes before one version of a booking.

    The unique key (consult, user, minutes, sequence) makes scheduling idempotent; `sent_at`
    is set in the same transaction that creates the notification, so it is sent once.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    consult = models.ForeignKey(Consult, on_delete=models.CASCADE, related_name="reminders")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    minutes_before = models.PositiveIntegerField()
    sequence = models.PositiveIntegerField(help_text="The consult's sequence the reminder belongs to.")
    due_at = models.DateTimeField(db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["consult", "user", "minutes_before", "sequence"], name="one_reminder_per_offset_and_version")
        ]


class Notification(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    consult = models.ForeignKey(Consult, on_delete=models.CASCADE, null=True, related_name="+")
    link = models.CharField(max_length=300, blank=True, help_text="The page to open, for a notification that is not about a consult (a read).")
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]


class CalendarFeed(models.Model):
    """A private iCalendar feed: the URL's secret is the only credential, so only its hash is kept."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feeds")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)


class Opinion(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    consult = models.ForeignKey(Consult, on_delete=models.PROTECT, related_name="opinions")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    findings = models.TextField(_("findings"))
    impression = models.TextField(_("impression"))
    recommendations = models.TextField(_("recommendations"))
    referral_advice = models.CharField(_("referral advice"), max_length=12, default="none")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    signed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["consult", "author"], name="one_opinion_per_expert")]


class Addendum(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    opinion = models.ForeignKey(Opinion, on_delete=models.PROTECT, related_name="addenda")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField(_("addendum"))
    signed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["signed_at"]


class Referral(models.Model):
    class Direction(models.TextChoices):
        UP = "up", _("Up to the hospital")
        DOWN = "down", _("Back to the clinic")

    class State(models.TextChoices):
        REQUESTED = "requested", _("Requested")
        ACCEPTED = "accepted", _("Accepted")
        TRANSFERRED = "transferred", _("Patient transferred")
        RETURNED = "returned", _("Returned with discharge summary")
        DECLINED = "declined", _("Declined")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    consult = models.ForeignKey(Consult, on_delete=models.PROTECT, related_name="referrals")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="referrals")
    direction = models.CharField(_("direction"), max_length=4, choices=Direction.choices)
    from_institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+")
    to_institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(_("reason"))
    contact = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("contact"))
    state = models.CharField(_("status"), max_length=12, choices=State.choices, default=State.REQUESTED)
    discharge_summary = models.TextField(_("discharge summary"), blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)


class OnDuty(models.Model):
    """Who at a hospital takes urgent requests of a specialty during a span of time."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    hospital = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="on_duty")
    specialty = models.CharField(max_length=32, choices=Specialty.choices)
    expert = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
