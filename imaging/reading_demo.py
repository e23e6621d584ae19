"""The remote-reading part of the demo: report templates, the hospital's reading policy (two-level
sign-off), and a read in a different state on each demo study (imaging/demo.py):

- QS-0001, chest CT with a right lower lobe consolidation: signed and verified, with an addendum;
- HK-0001, chest CT with a left upper lobe nodule: written, awaiting verification by dr_qian;
- QS-0004, chest CT (pydicom sample): requested, waiting for the coordinator to assign it;
- HK-0003, head MR (pydicom sample): being read by dr_sun, who has reported a critical finding
  (危急值) that 河口 has not acknowledged yet (the banner shows on doc_hekou's pages).

A study that is not stored is skipped; running it again adds nothing.
"""
from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from imaging.models import ReadingPolicy, ReadRequest, Study
from imaging.report_templates import install_shared_templates
from imaging.services.reading import assignment, critical, reports, requests
from telemed.accounts.models import Institution, Role, User

# patient record number → (state, clinical question, urgency, findings, impression, critical finding)
PLAN = {
    "QS-0001": ("signed", "咳嗽、发热两周，抗感染治疗效果不佳，是否为肺炎？", "routine",
                "右肺下叶见斑片状实变影，内见支气管充气征，未见空洞。双侧胸腔未见积液。纵隔内未见肿大淋巴结。",
                "右肺下叶肺炎，建议抗感染治疗后4～6周复查。", ""),
    "HK-0001": ("awaiting_verification", "复查：左肺上叶结节有无变化？", "routine",
                "左肺上叶见一实性结节，直径约8mm，边缘光滑，未见分叶及毛刺。余肺野清晰。",
                "左肺上叶实性小结节，考虑良性可能大，建议12个月后复查CT。", ""),
    "QS-0004": ("requested", "外伤后胸痛，是否有肋骨骨折或气胸？", "urgent", "", "", ""),
    "HK-0003": ("in_progress", "突发左侧肢体无力3小时，请排除脑卒中。", "emergency",
                "右侧基底节区见片状异常信号，DWI呈高信号，ADC值减低。", "",
                "右侧基底节区急性脑梗死，请立即转诊卒中中心。"),
}


def _doctor(study: Study) -> User:
    return User.objects.filter(memberships__institution=study.institution, memberships__role=Role.CLINIC_DOCTOR, memberships__is_active=True).order_by("username").first()


def _read(study: Study, hospital: Institution, people: dict[str, User]) -> ReadRequest:
    state, question, urgency, findings, impression, finding = PLAN[study.patient.mrn]
    read = requests.read_request(by=_doctor(study), study=study, hospital=hospital, question=question, urgency=urgency)
    if state == "requested":
        return read
    assignment.read_assign(by=people["coordinator"], read=read, radiologist=people["dr_sun"])
    reports.report_save(by=people["dr_sun"], read=read, findings=findings, impression=impression)
    if finding:
        critical.critical_raise(by=people["dr_sun"], read=read, finding=finding)
    if state == "in_progress":
        return read
    reports.report_submit(by=people["dr_sun"], read=read)
    if state == "signed":
        reports.report_verify(by=people["dr_qian"], read=read)
        reports.addendum_add(by=people["dr_sun"], read=read, text="与2024年胸片比较，右肺下叶病变为新发。")
        # Demo history only: the request and the assignment a day earlier, for the turnaround chart.
        ReadRequest.objects.filter(pk=read.pk).update(created_at=timezone.now() - timedelta(hours=30), assigned_at=timezone.now() - timedelta(hours=27))
    return read


@transaction.atomic
def seed_reads() -> int:
    """Returns how many reads it made (0 when the demo studies are missing or already read)."""
    install_shared_templates()
    hospital = Institution.objects.get(code="H-0001")
    ReadingPolicy.objects.get_or_create(hospital=hospital, defaults={"requires_verification": True})
    studies = list(Study.objects.filter(institution__alliance=hospital.alliance, patient__mrn__in=PLAN).select_related("patient", "institution").order_by("created_at"))
    people = {u.username: u for u in User.objects.filter(username__in=("coordinator", "dr_sun", "dr_qian"))}
    made = 0
    for study in studies:
        if not ReadRequest.objects.filter(study=study).exists():
            _read(study, hospital, people)
            made += 1
    return made
