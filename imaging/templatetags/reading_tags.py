"""`{% study_reads study user %}` for the study page and `{% viewer_read_links study user %}` for the viewer.

Both read through the services (the study's reads and their reports are audited there), so the
study page leaves the same trail as a read's own page; the rules of who sees what stay in them.
"""
from __future__ import annotations

from django import template

from imaging.models import ReadStatus
from imaging.services.reading import reports, requests
from imaging.statistics import hours_minutes
from telemed import access

register = template.Library()
register.filter(hours_minutes)


@register.inclusion_tag("imaging/reads/_study_reads.html")
def study_reads(study, user) -> dict:
    """The study's reads with their signed reports, and the button to request one."""
    reads = requests.reads_of_study(by=user, study=study)
    items = []
    for read in reads:
        report = reports.report_for(by=user, read=read) if read.status == ReadStatus.SIGNED else None
        items.append({"read": read, "report": report})
    is_clinic = access.patient_registration_institutions(user).filter(pk=study.institution_id).exists()
    can_request = is_clinic and study.patient_id is not None and not any(r.is_open for r in reads)
    return {"study": study, "reads": items, "is_clinic": is_clinic, "can_request": can_request}


@register.inclusion_tag("imaging/reads/_viewer_links.html")
def viewer_read_links(study, user) -> dict:
    """From the viewer back to the report: the reads of this study the radiologist writes or verifies."""
    reads = []
    mine = access.visible_reads(user).filter(study=study, status__in=(ReadStatus.ASSIGNED, ReadStatus.IN_PROGRESS, ReadStatus.AWAITING_VERIFICATION))
    for read in mine:
        read.writing = reports.may_write(user, read)
        if read.writing or read.status == ReadStatus.AWAITING_VERIFICATION:
            reads.append(read)
    return {"reads": reads}
