"""A compiled query gives the rows and models its queryset gives, from SQL Django built once."""
from __future__ import annotations

import gc
import threading
import uuid
import weakref

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from imaging.models import Instance, StorageUsage
from telemed.accounts.models import Institution
from telemed.compiled import CompiledQuery
from telemed.together import run_together
from tests.imaging.reading_factories import ct_study


def _instance_by_uids(series_uid: str, instance_uid: str):
    return Instance.objects.defer("metadata").select_related("series__study").filter(
        series__series_instance_uid=series_uid, sop_instance_uid=instance_uid,
    )


def _loaded(instance: Instance) -> dict:
    """Every field read from the database, of the instance and of the related rows read with it."""
    series, study = instance.series, instance.series.study
    return {
        name: {f.attname: getattr(row, f.attname) for f in row._meta.concrete_fields if f.attname in row.__dict__}
        for name, row in (("instance", instance), ("series", series), ("study", study))
    }


@pytest.mark.django_db
def test_a_compiled_query_gives_the_models_its_queryset_gives_with_their_related_rows(cast):
    study = ct_study(cast.north, slices=3)
    series = study.series.get()
    compiled = CompiledQuery(_instance_by_uids)
    for instance in series.instances.all():
        [expected] = _instance_by_uids(series.series_instance_uid, instance.sop_instance_uid)
        with CaptureQueriesContext(connection) as captured:
            [found] = compiled(series.series_instance_uid, instance.sop_instance_uid)
            loaded = _loaded(found)
        assert len(captured) == 1  # the series and the study came with it
        assert loaded == _loaded(expected)
        assert "metadata" not in found.__dict__  # deferred, as the queryset says


@pytest.mark.django_db
def test_a_compiled_query_builds_its_sql_once_and_finds_nothing_for_values_that_match_nothing(cast):
    study = ct_study(cast.north, slices=2)
    series = study.series.get()
    built = []
    compiled = CompiledQuery(lambda *values: built.append(values) or _instance_by_uids(*values))
    uids = list(series.instances.values_list("sop_instance_uid", flat=True))
    assert [compiled(series.series_instance_uid, uid)[0].sop_instance_uid for uid in uids] == uids
    assert compiled(series.series_instance_uid, "1.2.3.4") == []
    assert compiled("1.2.3.4", uids[0]) == []
    assert len(built) == 1


def test_a_query_that_does_not_take_each_value_once_as_a_parameter_is_refused_when_compiled(db):
    twice = CompiledQuery(lambda uid: Instance.objects.filter(sop_instance_uid=uid, series__series_instance_uid=uid))
    with pytest.raises(ValueError, match="each of its values once"):
        twice("1.2.3")
    unused = CompiledQuery(lambda uid: Instance.objects.all())
    with pytest.raises(ValueError, match="each of its values once"):
        unused("1.2.3")


@pytest.mark.django_db(transaction=True)
def test_a_compiled_query_runs_on_the_connection_of_the_thread_that_calls_it(cast):
    study = ct_study(cast.north, slices=1)
    series = study.series.get()
    instance = series.instances.get()
    compiled = CompiledQuery(_instance_by_uids)
    assert compiled(series.series_instance_uid, instance.sop_instance_uid)[0].pk == instance.pk  # compiled on this thread
    found, used = [], []

    def other_thread() -> None:
        try:
            with CaptureQueriesContext(connections["default"]) as captured:
                found.extend(compiled(series.series_instance_uid, instance.sop_instance_uid))
            used.append((connections["default"], len(captured)))
        finally:
            connections.close_all()

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join()
    assert [row.pk for row in found] == [instance.pk]
    [(its_connection, queries)] = used
    assert its_connection is not connection and queries == 1


@pytest.mark.django_db
def test_a_compiled_query_past_its_kept_shapes_runs_its_queryset_as_it_is(cast, monkeypatch):
    study = ct_study(cast.north, slices=3)
    uids = sorted(study.series.get().instances.values_list("sop_instance_uid", flat=True))
    built = []
    compiled = CompiledQuery(lambda *values: built.append(len(values)) or Instance.objects.filter(sop_instance_uid__in=values))
    monkeypatch.setattr(CompiledQuery, "SHAPES_KEPT", 1)
    assert [i.sop_instance_uid for i in compiled(uids[0])] == uids[:1]  # compiled: one value
    assert sorted(i.sop_instance_uid for i in compiled(*uids)) == uids  # a second shape: not kept
    assert sorted(i.sop_instance_uid for i in compiled(*uids)) == uids
    assert [i.sop_instance_uid for i in compiled(uids[1])] == uids[1:2]
    assert built == [1, 3, 3]  # the one-value shape was built once; three values each time


@pytest.mark.django_db
def test_a_compiled_querys_statement_run_with_others_gives_the_models_a_call_gives(cast):
    study = ct_study(cast.north, slices=2)
    series = study.series.get()
    compiled = CompiledQuery(_instance_by_uids)
    uids = sorted(series.instances.values_list("sop_instance_uid", flat=True))
    statements = [compiled.statement(series.series_instance_uid, uid) for uid in [*uids, "1.2.3.4"]]
    with CaptureQueriesContext(connection) as captured:
        rows = run_together(statements)
    assert len(captured) == 1  # one round trip for the three
    found = [compiled.models(r, series.series_instance_uid, uid) for r, uid in zip(rows, [*uids, "1.2.3.4"])]
    assert [[_loaded(i) for i in models] for models in found] == [[_loaded(compiled(series.series_instance_uid, uid)[0])] for uid in uids] + [[]]


@pytest.mark.django_db
def test_a_compiled_query_of_uuid_values_gives_the_models_its_queryset_gives(cast):
    by_keys = CompiledQuery(lambda *pks: Institution.objects.select_related("dicom_usage").filter(pk__in=pks).order_by("name"), uuids=True)
    clinics = [cast.north.clinic, cast.north.clinic2]
    StorageUsage.objects.create(institution=cast.north.clinic, bytes=5)
    with CaptureQueriesContext(connection) as captured:
        found = by_keys(*(c.pk for c in clinics))
        usage = [Institution.dicom_usage.is_cached(i) and getattr(i, "dicom_usage", None) for i in found]
    assert len(captured) == 1
    assert found == sorted(clinics, key=lambda i: i.name) and [u.bytes if u else None for u in usage] == [5 if i == cast.north.clinic else None for i in found]
    assert by_keys(uuid.uuid4()) == [] and len(by_keys._compiled) == 2


@pytest.mark.django_db
def test_a_compiled_query_is_planned_once_per_connection_by_postgresql(cast):
    study = ct_study(cast.north, slices=2)
    series = study.series.get()
    compiled = CompiledQuery(_instance_by_uids)
    for instance in series.instances.all():
        with CaptureQueriesContext(connection) as captured:
            [found] = compiled(series.series_instance_uid, instance.sop_instance_uid)
        assert found.pk == instance.pk and len(captured) == 1  # still seen by Django's query log
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans + custom_plans FROM pg_prepared_statements WHERE statement LIKE %s",
            ['%"imaging_instance"."sop_instance_uid" = $%'],
        )
        assert cursor.fetchall() == [(2,)]  # one statement, prepared at the first run, run twice


@pytest.mark.django_db(transaction=True)
def test_a_thread_that_ran_a_compiled_query_leaves_nothing_that_keeps_its_connection_alive(cast):
    """What a compiled query keeps of a connection goes with the connection: a thread's own, kept
    alive by a table of converters (or by the compiler the query was first built with), stayed
    open to the database after the thread had ended, and the test database could not be dropped."""
    study = ct_study(cast.north, slices=1)
    series = study.series.get()
    [instance] = series.instances.all()
    compiled = CompiledQuery(_instance_by_uids)
    seen = []

    def lookup():
        seen.append(weakref.ref(connections["default"]))
        assert compiled(series.series_instance_uid, instance.sop_instance_uid)[0].pk == instance.pk
        connections["default"].close()
        del connections["default"]  # the thread's wrapper dropped by its handler, as when a thread ends

    thread = threading.Thread(target=lookup)
    thread.start()
    thread.join(30)
    gc.collect()
    assert seen and seen[0]() is None
