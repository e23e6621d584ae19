"""How much each institution keeps in the archive, and its quota.

The quota is the institution's own (set by an administrator) or the deployment's default
(DICOM_QUOTA_GB); 0 means no limit. The ingest service asks twice: before it writes the file
(`usage_precheck`, no lock, so a full clinic's CT does not fill storage only to be deleted; STOW-RS
and the browser upload read the usage with the clinic they look up, a query fewer) and
again in the indexing transaction (`usage_lock`, under the usage row's lock), which is the check
that holds when several senders race.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connections, router, transaction
from django.db.models import Count, QuerySet, Sum
from django.utils.translation import gettext as _

from imaging.models import Instance, RejectedInstance, StorageUsage
from telemed import access
from telemed.accounts.models import Institution, User
from telemed.audit.services import audit_record
from telemed.together import Statement, run_together


def quota_of(institution: Institution) -> int:
    """Bytes the institution may keep; 0: no limit."""
    own = institution.dicom_quota_bytes
    return settings.DICOM_DEFAULT_QUOTA_BYTES if own is None else own


def _size(n: float) -> str:
    """English and short: the reason travels in a 64-character DICOM Error Comment."""
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def _refusal(institution: Institution, used: int, adding: int) -> str | None:
    quota = quota_of(institution)
    if quota and used + adding > quota:
        return f"storage quota full: {_size(used)} of {_size(quota)} used, needs {_size(adding)}"
    return None


def usage_precheck(*, institution: Institution, files: list[tuple[int, str, str]]) -> list[str | None]:
    """For each file (size, SOP Instance UID, SHA-256) sent together, in order, why it cannot be
    stored, or None; each counts the room the ones before it would take. A copy of an instance
    already stored is always let through: it is acknowledged as a duplicate and takes no room."""
    if not files or not quota_of(institution):
        return [None] * len(files)
    used = _used(institution)
    if _refusal(institution, used, sum(size for size, _uid, _sha in files)) is None:
        return [None] * len(files)  # room for all: whether some are copies does not matter
    stored = set(
        Instance.objects.filter(sop_instance_uid__in=[uid for _size, uid, _sha in files]).values_list("sop_instance_uid", "sha256")
    )
    refusals: list[str | None] = []
    for size, sop_instance_uid, sha256 in files:
        refusal = _refusal(institution, used, size)
        if refusal and (sop_instance_uid, sha256) in stored:
            refusal = None
        elif not refusal:
            used += size
        refusals.append(refusal)
    return refusals


def _used(institution: Institution) -> int:
    """The bytes the institution keeps, unlocked: read with the institution when its lookup
    selected its usage (STOW-RS and the browser upload do, a query fewer a request), else now.
    Either way it is read before the files are written, which is all the precheck needs."""
    if Institution.dicom_usage.is_cached(institution):
        try:
            return institution.dicom_usage.bytes
        except StorageUsage.DoesNotExist:  # nothing sent yet
            return 0
    return StorageUsage.objects.filter(institution=institution).values_list("bytes", flat=True).first() or 0


@dataclass
class UsageTally:
    """The institution's usage row, locked until the caller's transaction ends: files are counted
    against the quota in memory, one after another, and written back once by `save`."""

    institution: Institution
    used: int
    added_bytes: int = 0
    added_instances: int = 0
    found: list[list[tuple]] = field(default_factory=list)  # the rows of `usage_lock`'s statements

    def add(self, *, size: int, instances: int) -> str | None:
        """Count a new file (instances: 1 for an instance, 0 for a rejected copy kept); the
        refusal if it does not fit."""
        if refusal := _refusal(self.institution, self.used + self.added_bytes, size):
            return refusal
        self.added_bytes += size
        self.added_instances += instances
        return None

    def saving(self) -> list[Statement]:
        """What writes the files counted back to the row: to be run with the request's other
        writes (telemed/together.py)."""
        if not (self.added_bytes or self.added_instances):
            return []
        connection = connections[router.db_for_write(StorageUsage)]
        table, qn = StorageUsage._meta.db_table, connection.ops.quote_name
        return [(
            f"UPDATE {qn(table)} SET {qn('bytes')} = {qn('bytes')} + %s, {qn('instances')} = {qn('instances')} + %s WHERE {qn('institution_id')} = %s",
            [self.added_bytes, self.added_instances, _key(self.institution, connection)],
        )]

    def save(self) -> None:
        run_together(self.saving())


def _key(institution: Institution, connection):
    return StorageUsage._meta.pk.get_db_prep_value(institution.pk, connection)


def usage_lock(*, institution: Institution, then: list[Statement] | None = None) -> UsageTally:
    """Lock the institution's usage for the caller's transaction: concurrent senders of one
    institution take turns here, so the quota holds however many there are.

    `then`: statements run as soon as the lock is held, in the same round trip; a concurrent
    sender of the institution has then committed all its rows, or none, when they read. Their
    rows are the tally's `found`."""
    connection = connections[router.db_for_write(StorageUsage)]
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    table, qn = StorageUsage._meta.db_table, connection.ops.quote_name
    statements = [(f"SELECT {qn('bytes')} FROM {qn(table)} WHERE {qn('institution_id')} = %s{lock}", [_key(institution, connection)]), *(then or [])]
    locked, *found = run_together(statements)
    if not locked:  # the institution's first file: its row, then the lock and the statements again
        StorageUsage.objects.get_or_create(institution=institution)
        locked, *found = run_together(statements)
    return UsageTally(institution, locked[0][0], found=found)


@dataclass(frozen=True)
class Usage:
    institution: Institution
    bytes: int
    instances: int
    quota: int  # 0: no limit
    own_quota: bool  # set for this institution, not the deployment's default

    @property
    def percent(self) -> int | None:
        return min(100, round(self.bytes * 100 / self.quota)) if self.quota else None

    @property
    def level(self) -> str:
        """How the bar is coloured: ok below 80 %, warn up to 95 %, full above."""
        percent = self.percent or 0
        return "full" if percent >= 95 else "warn" if percent >= 80 else "ok"


def usage_list(institutions: QuerySet[Institution]) -> list[Usage]:
    rows = {row.institution_id: row for row in StorageUsage.objects.filter(institution__in=institutions)}
    return [
        Usage(i, rows[i.pk].bytes if i.pk in rows else 0, rows[i.pk].instances if i.pk in rows else 0, quota_of(i), i.dicom_quota_bytes is not None)
        for i in institutions.order_by("kind", "name")
    ]


def storage_usage_recount(*, institution: Institution) -> StorageUsage:
    """Recompute the usage from the rows: the stored instances and the rejected copies kept."""
    stored = Instance.objects.filter(series__study__institution=institution).aggregate(n=Count("pk"), b=Sum("size"))
    rejected = RejectedInstance.objects.filter(institution=institution).aggregate(b=Sum("size"))
    usage, _created = StorageUsage.objects.update_or_create(
        institution=institution, defaults={"bytes": (stored["b"] or 0) + (rejected["b"] or 0), "instances": stored["n"]}
    )
    return usage


@transaction.atomic
def institution_set_quota(*, by: User, institution: Institution, quota_bytes: int | None) -> Institution:
    """An administrator of the alliance sets the institution's own quota (None: back to the default)."""
    if not access.manageable_institutions(by).filter(pk=institution.pk).exists():
        raise PermissionDenied(_("Only an administrator of this alliance can do that."))
    if quota_bytes is not None and quota_bytes < 0:
        raise ValidationError({"quota": _("A quota cannot be negative.")})
    before = institution.dicom_quota_bytes
    institution.dicom_quota_bytes = quota_bytes
    institution.save(update_fields=["dicom_quota_bytes"])
    audit_record(actor=by, action="institution.dicom_quota", obj=institution, detail={"before": before, "after": quota_bytes})
    return institution
