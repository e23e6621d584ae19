"""Instances stored as the north clinic doctor stores them, and the DICOMweb address of one."""
from __future__ import annotations

import io

from imaging.models import Instance
from imaging.services.ingest import instance_ingest
from telemed.accounts.models import Role


def stored_by_north(cast, data: bytes) -> Instance:
    result = instance_ingest(stream=io.BytesIO(data), institution=cast.north.clinic, by=cast.north[Role.CLINIC_DOCTOR], source="test")
    assert result.ok, result.reason
    return result.instance


def instance_url(instance: Instance, tail: str = "") -> str:
    """Its WADO-RS address, `tail` ("/frames/1", "/rendered"…) after it."""
    series = instance.series
    return f"/dicomweb/studies/{series.study.study_instance_uid}/series/{series.series_instance_uid}/instances/{instance.sop_instance_uid}{tail}"
