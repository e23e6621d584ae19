"""Recording and verifying the audit trail.

Every read or write of patient data calls `audit_record` from the service that does it; denied
requests and failed sign-ins are recorded too. `audit_verify` walks the chain and names the
first broken link.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from functools import lru_cache, reduce
from uuid import UUID

from django.db import DatabaseError, IntegrityError, connections, models, router, transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from telemed.audit.chain import seal
from telemed.audit.models import GENESIS_HASH, AuditEvent, ChainHead, Outcome
from telemed.audit.origin import current_origin
from telemed.together import Statement, run_together


def _normalised_ip(ip: str | None) -> str | None:
    if not ip:
        return None
    try:
        return ipaddress.ip_address(ip).compressed
    except ValueError:
        return None


def _actor_fields(actor, role: str, institution) -> dict:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return {"actor_id": None, "actor_username": "", "actor_role": role, "institution_id": None, "institution_name": ""}
    if institution is None or not role:
        # Cached on the user object: a page that reads several patients looks this up once.
        membership = getattr(actor, "_audit_membership", None)
        if membership is None:
            membership = actor.memberships.filter(is_active=True).select_related("institution").order_by("created_at").first()
            actor._audit_membership = membership or False
        if membership:
            institution = institution or membership.institution
            role = role or membership.role
    return {
        "actor_id": actor.pk,
        "actor_username": actor.get_username(),
        "actor_role": role or "",
        "institution_id": institution.pk if institution else None,
        "institution_name": institution.name if institution else "",
    }


def audit_record(
    *,
    actor,
    action: str,
    obj: models.Model | None = None,
    patient_id: UUID | None = None,
    outcome: str = Outcome.SUCCESS,
    detail: dict | None = None,
    role: str = "",
    institution=None,
    username: str = "",
    sent_with: Sequence[Statement] = (),
) -> AuditEvent:
    """Append one event to the chain.

    1. Lock the chain head (on PostgreSQL a row lock; SQLite's IMMEDIATE transactions serialise
       writers), so two writers can never both extend the same event.
    2. Seal the new event with the head's hash and insert it.
    3. Move the head to the new event, in the same transaction as the change being audited:
       a rolled-back change leaves no event, a committed one always has its event.

    `sent_with`: the change's own last writes, in the caller's transaction, run just before step
    1 in its round trip (telemed/together.py), so a change audited as it ends costs a round trip
    fewer and holds the head no longer.
    """
    origin = current_origin()
    now = timezone.now()
    fields = _actor_fields(actor, role, institution)
    if username and not fields["actor_username"]:
        fields["actor_username"] = username[:150]
    fields.update(
        occurred_at=now.replace(microsecond=now.microsecond // 1000 * 1000),
        action=action,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        patient_id=patient_id,
        ip=_normalised_ip(origin.ip),
        user_agent=origin.user_agent,
        channel=origin.channel,
        outcome=outcome,
        detail=detail or {},
    )
    connection = connections[router.db_for_write(AuditEvent)]
    if sent_with and not connection.in_atomic_block:
        raise ValueError("statements sent with an audit event must be in the caller's transaction")
    if connection.vendor == "postgresql":
        event = _append_in_sql(connection, fields, sent_with)
        if event is not None:
            return event
        sent_with = ()  # they ran, and the chain has no head yet
    run_together(sent_with)
    return _append(fields)


def _append(fields: dict) -> AuditEvent:
    with transaction.atomic(savepoint=False):
        head = _locked_head()
        event = _linked(fields, head.seq, head.hash)
        event.save(force_insert=True)
        ChainHead.objects.filter(pk=head.pk).update(seq=event.seq, hash=event.hash)
    return event


def _linked(fields: dict, head_seq: int, head_hash: str) -> AuditEvent:
    """The event that follows the chain's head, sealed over its fields and that link."""
    fields.update(seq=head_seq + 1, prev_hash=head_hash)
    fields["hash"] = seal(fields)
    return AuditEvent(**fields)


def _append_in_sql(connection, fields: dict, sent_with: Sequence[Statement]) -> AuditEvent | None:
    """The same three steps in two round trips of hand-built SQL instead of three ORM queries
    (five round trips for an event of its own): most requests record an event, a STOW-RS or a
    report inside its change's transaction, a read in a transaction of its own, opened and
    closed here. None when the chain has no head yet."""
    own = not connection.in_atomic_block
    lock_head, insert_and_move_head = _append_statements(own)
    before = "".join(f"{sql}; " for sql, _params in sent_with)  # only inside the caller's transaction: no BEGIN
    with connection.cursor() as cursor:
        try:
            cursor.execute(before + lock_head, [value for _sql, params in sent_with for value in params] or None)
            for _result in range(own + len(sent_with)):
                cursor.nextset()
            head = cursor.fetchone()
            if head is None:
                if own:
                    cursor.execute("ROLLBACK")
                return None
            event = _linked(fields, *head)
            cursor.execute(
                insert_and_move_head,
                [f.get_db_prep_save(getattr(event, f.attname), connection) for f in AuditEvent._meta.concrete_fields] + [event.seq, event.hash],
            )
        except BaseException:
            # Always, in a transaction of its own: an aborted transaction would keep the chain
            # head's lock, and every writer in every process would wait on it. A connection too
            # broken for this ends its transaction by closing. Inside a caller's transaction, the
            # caller's atomic block rolls back.
            if own:
                with suppress(DatabaseError):
                    cursor.execute("ROLLBACK")
            raise
    event._state.adding, event._state.db = False, connection.alias
    return event


@lru_cache(maxsize=2)
def _append_statements(own: bool) -> tuple[str, str]:
    """`_append_in_sql`'s two messages on PostgreSQL, built once a process (with a transaction of
    their own, `own`, or inside the caller's) rather than at each event."""
    quote_name = connections[router.db_for_write(AuditEvent)].ops.quote_name
    head_table, table = quote_name(ChainHead._meta.db_table), quote_name(AuditEvent._meta.db_table)
    columns = AuditEvent._meta.concrete_fields
    return (
        f"{'BEGIN; ' if own else ''}SELECT seq, hash FROM {head_table} WHERE id = 1 FOR UPDATE",
        f"INSERT INTO {table} ({', '.join(quote_name(f.column) for f in columns)}) VALUES ({', '.join(['%s'] * len(columns))}); "
        f"UPDATE {head_table} SET seq = %s, hash = %s WHERE id = 1{'; COMMIT' if own else ''}",
    )


def _locked_head() -> ChainHead:
    try:
        return ChainHead.objects.select_for_update().get(pk=1)
    except ChainHead.DoesNotExist:
        pass
    try:
        with transaction.atomic():
            ChainHead.objects.create(pk=1, seq=0, hash=GENESIS_HASH)
    except IntegrityError:  # another writer created it first
        pass
    return ChainHead.objects.select_for_update().get(pk=1)


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    broken_seq: int | None = None
    reason: str = ""


def audit_verify(*, chunk_size: int = 5000) -> VerifyResult:
    """Walk the whole chain in order; stop at the first event that does not hold."""
    expected_seq, prev_hash, checked = 1, GENESIS_HASH, 0
    fields = [f.attname for f in AuditEvent._meta.concrete_fields]
    for row in AuditEvent.objects.order_by("seq").values(*fields).iterator(chunk_size=chunk_size):
        seq = row["seq"]
        if seq != expected_seq:
            return VerifyResult(False, checked, expected_seq, _("Event #%(seq)d is missing: it was deleted.") % {"seq": expected_seq})
        if row["prev_hash"] != prev_hash:
            return VerifyResult(
                False,
                checked,
                seq,
                _("Event #%(seq)d does not follow event #%(prev)d: an event was removed, inserted or replaced here.")
                % {"seq": seq, "prev": seq - 1},
            )
        if seal(row) != row["hash"]:
            return VerifyResult(False, checked, seq, _("Event #%(seq)d was altered: its content no longer matches its seal.") % {"seq": seq})
        prev_hash, expected_seq, checked = row["hash"], seq + 1, checked + 1
    head = ChainHead.objects.filter(pk=1).first()
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS_HASH)
    if head_seq != checked or head_hash != prev_hash:
        if head_seq > checked:
            reason = _("The chain ends at event #%(last)d, but the last sealed event was #%(head)d: events at the end were removed.")
        else:
            reason = _("The chain ends at event #%(last)d, but the last sealed event was #%(head)d: events were added without being sealed.")
        return VerifyResult(False, checked, min(head_seq, checked) + 1, reason % {"last": checked, "head": head_seq})
    return VerifyResult(True, checked)


def audited_get(scope: models.QuerySet, pk, *, by, action: str, patient_path: str, not_found: str, detail: dict | None = None):
    """One object of `scope`, its reading audited under its patient (with `detail`: what of it was read).

    Anything else is a 404; when the object exists but lies outside the scope, someone tried to
    reach it, so that is recorded as a denied event under the same patient. `patient_path` leads
    from the object to its patient's id ("pk", "patient_id", "consult__patient_id").
    """
    found = scope.filter(pk=pk).first()
    if found is None:
        patient = scope.model._default_manager.filter(pk=pk).values_list(patient_path, flat=True).first()
        if patient:
            audit_record(actor=by, action=action, patient_id=patient, outcome=Outcome.DENIED, detail={scope.model._meta.model_name: str(pk)})
        raise Http404(not_found)
    audit_record(actor=by, action=action, obj=found, patient_id=reduce(getattr, patient_path.split("__"), found), detail=detail)
    return found
