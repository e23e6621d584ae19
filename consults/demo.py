"""The consults part of the demo: consult hours for the demo experts and requests in each state.

Run by `manage.py seed_demo` after the alliance exists; it does nothing if the demo patients
already have consults, so running it again adds nothing.
"""
from __future__ import annotations

import zoneinfo
from datetime import time, timedelta

from django.db import transaction
from django.utils import timezone

from consults.models import AvailabilityRule, Consult, Engagement, ExpertProfile, OnDuty, Reminder
from consults.services import bookings, opinions, requests, sessions
from telemed.accounts.models import Institution, Specialty, User
from telemed.patients.models import Patient

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
LANGUAGES = {"dr_zhang": ["zh", "en"], "dr_chen": ["zh", "en"], "dr_liu": ["zh"], "dr_yang": ["zh", "yue"], "dr_huang": ["zh"], "dr_zhou": ["zh"], "dr_wu": ["zh"]}

# (patient record number, specialty, urgency, what happens to the request, experts to book)
REQUESTS = [
    ("QS-0001", Specialty.RESPIRATORY, "routine", "requested", ()),
    ("QS-0002", Specialty.INFECTIOUS_DISEASE, "urgent", "needs_info", ()),
    ("QS-0003", Specialty.TCM, "routine", "triaged", ()),
    ("QS-0004", Specialty.RESPIRATORY, "routine", "scheduled", ("dr_zhang",)),
    ("HK-0001", Specialty.CRITICAL_CARE, "urgent", "scheduled", ("dr_yang", "dr_chen")),
    ("HK-0002", Specialty.PSYCHIATRY, "routine", "declined", ()),
    ("HK-0003", Specialty.EMERGENCY, "emergency", "requested", ()),
    ("HK-0004", Specialty.RESPIRATORY, "routine", "cancelled", ("dr_zhang",)),
    # Consults that already took place: their times are moved into the past after booking.
    ("QS-0006", Specialty.RESPIRATORY, "routine", "completed", ("dr_zhang",)),
    ("HK-0005", Specialty.INFECTIOUS_DISEASE, "urgent", "opinion_pending", ("dr_chen",)),
    ("HK-0006", Specialty.EMERGENCY, "routine", "in_session", ("dr_liu",)),
]
# How long ago each past consult started, in hours.
HAPPENED = {"completed": 50, "opinion_pending": 26, "in_session": 0.1}
QUESTIONS = {
    Specialty.RESPIRATORY: ("咳嗽、发热两周，抗感染治疗效果不佳，是否需要调整方案？", "68岁，吸烟史40年；胸部CT示右下肺实变。"),
    Specialty.INFECTIOUS_DISEASE: ("发热伴皮疹三天，是否考虑传染性疾病？", "近期有外出务工史，体温38.9℃。"),
    Specialty.TCM: ("慢性胃炎反复发作，能否结合中医调理？", "病程5年，西药治疗后仍有腹胀。"),
    Specialty.CRITICAL_CARE: ("重症肺炎患者，氧合指数下降，是否需要转诊上级医院？", "SpO2 88%（吸氧5L/min），呼吸频率28次/分。"),
    Specialty.PSYCHIATRY: ("长期失眠伴情绪低落，请协助评估。", "睡眠障碍半年，近一月加重。"),
    Specialty.EMERGENCY: ("农药接触后恶心呕吐，请指导处置。", "两小时前喷洒农药后出现症状。"),
}


def _hours(expert: User) -> None:
    if expert.availability_rules.exists():
        return
    since = timezone.localdate() - timedelta(days=30)
    days = range(6) if expert.username == "dr_zhou" else range(5)
    for weekday in days:
        for starts, ends in ((time(9), time(12)), (time(14), time(17))):
            AvailabilityRule.objects.create(expert=expert, weekday=weekday, starts=starts, ends=ends, time_zone="Asia/Shanghai", valid_from=since)


def _first_common_slot(experts: list[User]):
    slots = bookings.earliest_slots(experts=experts, after=timezone.now() + timedelta(hours=20), limit=1)
    return slots[0].starts_at if slots else None


def _file(patient: Patient, specialty, urgency, doctor: User) -> Consult:
    question, history = QUESTIONS[specialty]
    return requests.consult_request(
        by=doctor, patient=patient, specialty=specialty, urgency=urgency, question=question, history=history,
        consent_signed_by=patient.name, consent_relation="self", consent_signed_at=timezone.now() - timedelta(hours=2),
        preferred_times="工作日上午",
    )


def _advance(consult: Consult, state: str, experts: list[User], coordinator: User) -> None:
    if state == "needs_info":
        requests.consult_ask_info(by=coordinator, consult=consult, question="请补充近期血常规和胸片结果。")
    elif state == "triaged":
        requests.consult_triage(by=coordinator, consult=consult)
    elif state == "declined":
        requests.consult_decline(by=coordinator, consult=consult, reason="建议就近至精神专科医院门诊就诊。")
    elif state in ("scheduled", "cancelled", *HAPPENED) and (start := _first_common_slot(experts)):
        consult = bookings.consult_book(by=coordinator, consult=consult, experts=experts, starts_at=start)
        if state == "cancelled":
            bookings.consult_cancel(by=consult.requested_by, consult=consult, reason="患者症状缓解，暂不需要会诊。")
        elif state in HAPPENED:
            _took_place(consult, experts[0], state)


def _took_place(consult: Consult, expert: User, state: str) -> None:
    """Demo history only: move a fresh booking into the past, then run the session as it happened."""
    starts = timezone.now() - timedelta(hours=HAPPENED[state])
    ends = starts + (consult.ends_at - consult.starts_at)
    Consult.objects.filter(pk=consult.pk).update(starts_at=starts, ends_at=ends)
    Engagement.objects.filter(consult=consult).update(starts_at=starts, ends_at=ends)
    Reminder.objects.filter(consult=consult).delete()
    consult.refresh_from_db()
    sessions.consult_start_session(by=expert, consult=consult)
    if state == "in_session":
        return
    sessions.consult_end_session(by=expert, consult=consult)
    if state == "completed":
        opinion = opinions.opinion_save(
            by=expert, consult=consult, findings="胸部CT示右下肺实变，支气管充气征，未见空洞。", impression="社区获得性肺炎，肺结核可能性小。",
            recommendations="阿莫西林克拉维酸钾口服7天；6周后复查胸片；如持续发热及时转诊。", referral_advice="none",
        )
        opinions.opinion_sign(by=expert, opinion=opinion)


@transaction.atomic
def seed_consults() -> None:
    experts = {u.username: u for u in User.objects.filter(username__in=LANGUAGES)}
    for username, languages in LANGUAGES.items():
        ExpertProfile.objects.get_or_create(user=experts[username], defaults={"languages": languages})
        _hours(experts[username])
    hospital = Institution.objects.get(code="H-0001")
    now = timezone.now()
    OnDuty.objects.get_or_create(
        hospital=hospital, specialty=Specialty.RESPIRATORY, expert=experts["dr_zhang"],
        defaults={"starts_at": now - timedelta(hours=1), "ends_at": now + timedelta(days=7)},
    )
    patients = {p.mrn: p for p in Patient.objects.filter(mrn__in=[r[0] for r in REQUESTS])}
    if Consult.objects.filter(patient__in=patients.values()).exists():
        return
    coordinator = User.objects.get(username="coordinator")
    doctors = {"QS": User.objects.get(username="doc_qingshan"), "HK": User.objects.get(username="doc_hekou")}
    for mrn, specialty, urgency, state, booked in REQUESTS:
        consult = _file(patients[mrn], specialty, urgency, doctors[mrn[:2]])
        _advance(consult, state, [experts[name] for name in booked], coordinator)
