"""The remote-reading part of the demo: report templates, the hospital's reading policy, and reads
in several states on whatever demo studies are stored.

The demo alliance has no study of its own until one is uploaded (or seeded by another part of
the demo): each study present takes at most one signed read and one open read; with no study at
all this part sets up the policy and templates and stops. Running it again adds nothing.
"""
from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from imaging.models import ReadingPolicy, ReadRequest, Study
from imaging.report_templates import install_shared_templates
from imaging.services.reading import assignment, reports, requests
from telemed.accounts.models import Institution, Role, User

CLINICS = ("C-0101", "C-0102")
# Signed reads first (a study can take a new read only when it has no open one), then open ones.
SIGNED_STATES = ("signed_critical", "signed")
OPEN_STATES = ("awaiting_verification", "requested", "in_progress")
QUESTIONS = {
    "signed_critical": ("突发胸痛、气促2小时，是否有气胸？", "urgent"),
    "signed": ("咳嗽、发热两周，是否为肺炎？", "routine"),
    "awaiting_verification": ("体检发现肺部结节，请评估性质。", "routine"),
    "requested": ("外伤后胸痛，是否有肋骨骨折？", "urgent"),
    "in_progress": ("慢性咳嗽，吸烟史30年，请排除肺部占位。", "routine"),
}
REPORTS = {
    "signed_critical": ("右侧胸腔内见无肺纹理透亮区，右肺压缩约40%，纵隔轻度左移。", "右侧气胸（中量），请立即临床处理。", "右侧中量气胸，纵隔左移"),
    "signed": ("右肺下叶见斑片状实变影，内见支气管充气征，未见空洞。双侧胸腔未见积液。", "右肺下叶肺炎，建议抗感染治疗后复查。", ""),
    "awaiting_verification": ("右肺上叶见一实性结节，直径约8mm，边缘光滑，未见分叶及毛刺。", "右肺上叶实性小结节，考虑良性可能大，建议12个月后复查CT。", ""),
    "in_progress": ("双肺纹理增多、紊乱，", "", ""),
}


def _doctor(study: Study) -> User:
    return User.objects.filter(memberships__institution=study.institution, memberships__role=Role.CLINIC_DOCTOR, memberships__is_active=True).order_by("username").first()


def _read(study: Study, state: str, hospital: Institution, people: dict[str, User]) -> ReadRequest:
    question, urgency = QUESTIONS[state]
    read = requests.read_request(by=_doctor(study), study=study, hospital=hospital, question=question, history="", urgency=urgency)
    if state == "requested":
        return read
    assignment.read_assign(by=people["coordinator"], read=read, radiologist=people["dr_sun"])
    findings, impression, finding = REPORTS[state]
    reports.report_save(by=people["dr_sun"], read=read, findings=findings, impression=impression, critical_flag=bool(finding), critical_finding=finding)
    if state == "in_progress":
        return read
    reports.report_submit(by=people["dr_sun"], read=read)
    if state in SIGNED_STATES:
        reports.report_verify(by=people["dr_qian"], read=read)
        # Demo history only: the request and the assignment a day earlier, for the turnaround chart.
        ReadRequest.objects.filter(pk=read.pk).update(created_at=timezone.now() - timedelta(hours=30), assigned_at=timezone.now() - timedelta(hours=27))
    if state == "signed":
        reports.addendum_add(by=people["dr_sun"], read=read, text="与2024年胸片比较，病变为新发。")
    return read


@transaction.atomic
def seed_reads() -> int:
    """Returns how many reads it made (0 when there was no study or they exist already)."""
    install_shared_templates()
    hospital = Institution.objects.get(code="H-0001")
    ReadingPolicy.objects.get_or_create(hospital=hospital, defaults={"requires_verification": True})
    studies = list(Study.objects.filter(institution__code__in=CLINICS, patient__isnull=False).order_by("created_at"))
    if not studies or ReadRequest.objects.filter(study__in=studies).exists():
        return 0
    people = {u.username: u for u in User.objects.filter(username__in=("coordinator", "dr_sun", "dr_qian"))}
    made = 0
    for states in (SIGNED_STATES, OPEN_STATES):
        for study, state in zip(studies, states):
            _read(study, state, hospital, people)
            made += 1
    return made
