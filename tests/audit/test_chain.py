"""The audit chain: detection of edits, deletions and insertions anywhere; no fork under concurrency."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from psycopg.pq import TransactionStatus
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, connections, transaction
from django.utils import timezone

from telemed.accounts.models import Institution, Role
from telemed.audit.chain import seal
from telemed.audit.models import GENESIS_HASH, AuditEvent, ChainHead, Channel
from telemed.audit.origin import Origin, origin_scope
from telemed.audit.services import audit_record, audit_verify
from telemed.together import update_statement

CHAIN_LENGTH = 3000


@pytest.fixture
def chain(db):
    """A sealed chain built in one insert: the tamper tests need a long chain, not a slow one."""
    events, prev = [], GENESIS_HASH
    started = timezone.now().replace(microsecond=0)
    for seq in range(1, CHAIN_LENGTH + 1):
        fields = {name: "" for name in ("actor_username", "actor_role", "institution_name", "object_type", "object_id", "user_agent")}
        fields.update(
            seq=seq, occurred_at=started + timedelta(milliseconds=seq), actor_id=None, institution_id=None, patient_id=None,
            action="test.event", ip="10.0.0.1", channel="system", outcome="success", detail={"n": seq}, prev_hash=prev,
        )
        fields["hash"] = prev = seal(fields)
        events.append(AuditEvent(**fields))
    AuditEvent.objects.bulk_create(events)
    ChainHead.objects.update_or_create(pk=1, defaults={"seq": CHAIN_LENGTH, "hash": prev})
    return CHAIN_LENGTH


def _raw(sql: str, params=()) -> None:
    """What someone with direct database access could do: switch off the guard trigger first."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
        cursor.execute(sql, params)
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only")


def test_untouched_chain_verifies(chain):
    result = audit_verify()
    assert result.ok and result.checked == chain and result.broken_seq is None


def test_chain_written_by_the_service_verifies_and_continues_a_built_chain(chain):
    for n in range(1000):
        audit_record(actor=None, action="test.service", detail={"n": n})
    result = audit_verify()
    assert result.ok and result.checked == chain + 1000


def test_empty_chain_verifies(db):
    assert audit_verify().ok


@pytest.mark.parametrize("seq", [1, 1234, CHAIN_LENGTH])
def test_edited_event_is_named(chain, seq):
    _raw("UPDATE audit_auditevent SET actor_username = 'someone else' WHERE seq = %s", [seq])
    result = audit_verify()
    assert not result.ok and result.broken_seq == seq
    assert "was altered" in result.reason


def test_edited_detail_is_detected(chain):
    _raw("""UPDATE audit_auditevent SET detail = '{"n": -1}' WHERE seq = 2000""")
    assert audit_verify().broken_seq == 2000


@pytest.mark.parametrize("seq", [1, 1500])
def test_deleted_event_is_named(chain, seq):
    _raw("DELETE FROM audit_auditevent WHERE seq = %s", [seq])
    result = audit_verify()
    assert not result.ok and result.broken_seq == seq
    assert "missing" in result.reason


def test_deleted_tail_is_detected_against_the_head(chain):
    _raw("DELETE FROM audit_auditevent WHERE seq > %s", [chain - 10])
    result = audit_verify()
    assert not result.ok and result.broken_seq == chain - 9
    assert "removed" in result.reason


def test_inserted_event_in_the_middle_is_named(chain):
    """The forger renumbers everything after 1000 and slips a forged event into the gap, even
    linking it to its predecessor; without the key the seal cannot be made to match."""
    _raw("UPDATE audit_auditevent SET seq = -seq WHERE seq > 1000")
    _raw("UPDATE audit_auditevent SET seq = -seq + 1 WHERE seq < 0")
    forged = AuditEvent.objects.values().get(seq=1000)
    forged.update(seq=1001, action="test.forged", prev_hash=forged["hash"])
    forged["hash"] = seal(forged, key="not-the-real-key")
    _raw_insert(forged)
    result = audit_verify()
    assert not result.ok and result.broken_seq == 1001
    assert "was altered" in result.reason


def test_event_appended_without_the_service_is_detected(chain):
    last = AuditEvent.objects.values().get(seq=chain)
    last.update(seq=chain + 1, prev_hash=last["hash"], action="test.appended")
    last["hash"] = seal(last, key="not-the-real-key")
    _raw_insert(last)
    result = audit_verify()
    assert not result.ok and result.broken_seq == chain + 1


def _raw_insert(row: dict) -> None:
    AuditEvent.objects.bulk_create([AuditEvent(**row)])


def test_database_refuses_updates_and_deletes(chain):
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(seq=5).update(action="changed")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(seq=5).delete()
    assert audit_verify().ok


def test_verify_command_names_the_first_broken_link(chain, capsys):
    call_command("audit_verify")
    assert f"{chain} events verified" in capsys.readouterr().out
    _raw("UPDATE audit_auditevent SET ip = '10.6.6.6' WHERE seq = 777")
    _raw("UPDATE audit_auditevent SET ip = '10.6.6.6' WHERE seq = 900")
    with pytest.raises(CommandError, match="#777"):
        call_command("audit_verify")


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_do_not_fork_the_chain():
    writers, per_writer = 8, 40
    errors: list[BaseException] = []
    start = threading.Barrier(writers)

    def write(index: int) -> None:
        try:
            start.wait()
            for n in range(per_writer):
                audit_record(actor=None, action="test.concurrent", detail={"writer": index, "n": n})
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert AuditEvent.objects.count() == writers * per_writer
    assert ChainHead.objects.get().seq == writers * per_writer
    assert audit_verify().ok


@pytest.mark.django_db(transaction=True)
def test_a_read_outside_any_transaction_is_stored_and_sealed_like_a_change(cast):
    """Events that are not part of a change take a shorter way to the database (two round
    trips); what lands must be what the sealing saw: addresses, UUIDs, JSON, times."""
    doctor, patient = cast.north[Role.CLINIC_DOCTOR], cast.north.patient
    with transaction.atomic():
        audit_record(actor=doctor, action="test.change", patient_id=patient.pk, detail={"in": "transaction"})
    with origin_scope(Origin(ip="2001:db8::1", user_agent="PACS/1.0 (中文)", channel=Channel.API)):
        read = audit_record(actor=doctor, action="test.read", obj=patient, patient_id=patient.pk, detail={"uids": ["1.2.3"], "n": 2, "名": "张三"})
    stored = AuditEvent.objects.get(seq=read.seq)
    assert (stored.ip, stored.user_agent, stored.channel) == ("2001:db8::1", "PACS/1.0 (中文)", "api")
    assert (stored.actor_id, stored.patient_id, stored.object_id) == (doctor.pk, patient.pk, str(patient.pk))
    assert stored.detail == {"uids": ["1.2.3"], "n": 2, "名": "张三"} and stored.occurred_at == read.occurred_at
    assert stored.institution_name == cast.north.clinic.name and stored.prev_hash == AuditEvent.objects.get(seq=read.seq - 1).hash
    assert ChainHead.objects.get().seq == read.seq
    assert audit_verify().ok


@pytest.mark.django_db(transaction=True)
def test_an_event_that_cannot_be_stored_leaves_no_transaction_open_and_the_chain_whole():
    audit_record(actor=None, action="test.first")
    with pytest.raises(TypeError):
        audit_record(actor=None, action="test.unstorable", detail={"not json": object()})
    assert not connection.in_atomic_block and connection.get_autocommit()
    # a transaction left open on the connection would still hold the chain head's lock
    assert connection.connection.info.transaction_status == TransactionStatus.IDLE
    with pytest.raises(DatabaseError):  # refused by the database itself: its transaction aborts
        audit_record(actor=None, action="test." + "x" * 80)
    assert connection.connection.info.transaction_status == TransactionStatus.IDLE
    audit_record(actor=None, action="test.after")
    assert list(AuditEvent.objects.order_by("seq").values_list("action", flat=True)) == ["test.first", "test.after"]
    assert audit_verify().ok


@pytest.mark.django_db(transaction=True)
def test_an_event_inside_a_change_is_sealed_with_it_and_rolled_back_with_it(cast):
    """Inside a change's transaction an event takes the same two round trips, in that transaction."""
    doctor, patient = cast.north[Role.CLINIC_DOCTOR], cast.north.patient
    before = audit_record(actor=None, action="test.first").seq
    with transaction.atomic():
        kept = audit_record(actor=doctor, action="test.change", obj=patient, patient_id=patient.pk, detail={"名": "张三"})
    stored = AuditEvent.objects.get(seq=kept.seq)
    assert (stored.action, stored.patient_id, stored.detail, stored.hash) == ("test.change", patient.pk, {"名": "张三"}, kept.hash)
    assert kept.seq == before + 1 and ChainHead.objects.get().hash == kept.hash

    with pytest.raises(RuntimeError), transaction.atomic():
        audit_record(actor=doctor, action="test.undone", patient_id=patient.pk)
        raise RuntimeError("the change fails after its event")
    assert not AuditEvent.objects.filter(action="test.undone").exists()
    assert ChainHead.objects.get().seq == kept.seq

    with pytest.raises(DatabaseError), transaction.atomic():  # refused by the database: the change goes with it
        audit_record(actor=None, action="test." + "x" * 80)
    assert connection.connection.info.transaction_status == TransactionStatus.IDLE
    after = audit_record(actor=None, action="test.after")
    assert after.seq == kept.seq + 1 and audit_verify().ok


@pytest.mark.django_db(transaction=True)
def test_the_changes_last_writes_sent_with_its_event_land_with_it_or_not_at_all(cast):
    """They run in the round trip that locks the chain's head: committed with the event, rolled
    back with it, and a write the database refuses leaves neither."""
    clinic = cast.north.clinic
    renamed = update_statement(Institution(pk=clinic.pk, name="Renamed"), ["name"])
    with transaction.atomic():
        event = audit_record(actor=None, action="test.rename", obj=clinic, sent_with=[renamed])
    assert Institution.objects.get(pk=clinic.pk).name == "Renamed" and AuditEvent.objects.get(seq=event.seq).action == "test.rename"

    with pytest.raises(RuntimeError), transaction.atomic():
        audit_record(actor=None, action="test.undone", sent_with=[update_statement(Institution(pk=clinic.pk, name="Undone"), ["name"])])
        raise RuntimeError("the change fails after its event")
    assert Institution.objects.get(pk=clinic.pk).name == "Renamed" and not AuditEvent.objects.filter(action="test.undone").exists()

    with pytest.raises(DatabaseError), transaction.atomic():
        audit_record(actor=None, action="test.refused", sent_with=[update_statement(Institution(pk=clinic.pk, name="x" * 500), ["name"])])
    assert not AuditEvent.objects.filter(action="test.refused").exists() and ChainHead.objects.get().seq == event.seq
    assert audit_verify().ok


@pytest.mark.django_db(transaction=True)
def test_writes_sent_with_the_first_event_of_a_chain_run_once(cast):
    """A chain without a head yet takes the longer way; the writes have run, and are not repeated."""
    clinic = cast.north.clinic
    ChainHead.objects.all().delete()
    assert not AuditEvent.objects.exists()
    counted = ("UPDATE accounts_institution SET name = name || '+' WHERE id = %s", [clinic.pk])
    with transaction.atomic():
        audit_record(actor=None, action="test.first", sent_with=[counted])
    assert Institution.objects.get(pk=clinic.pk).name == clinic.name + "+"


@pytest.mark.django_db(transaction=True)
def test_writes_sent_with_an_event_outside_a_transaction_are_refused():
    with pytest.raises(ValueError, match="in the caller's transaction"):
        audit_record(actor=None, action="test.alone", sent_with=[("SELECT 1", [])])
