"""The demo alliance that `manage.py seed_demo` creates: a hospital, two paired clinics, people
for every role and a dozen patients. Everything is looked up before it is created, so running it
again adds nothing but its own audit event."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db import transaction
from django.utils import timezone

from telemed.accounts.models import Alliance, Department, Institution, Membership, Pairing, Qualification, Role, Specialty, Title, User
from telemed.audit.services import audit_record
from telemed.patients.identity import _CHECK, _WEIGHTS
from telemed.patients.models import Patient
from telemed.patients.services import patient_register

DEMO_PASSWORD = "demo-pass-2026"

HOSPITAL = {"name": "市第一人民医院", "code": "H-0001", "region": "示范市"}
CLINICS = [
    {"name": "青山镇卫生院", "code": "C-0101", "region": "示范市青山镇"},
    {"name": "河口社区卫生服务中心", "code": "C-0102", "region": "示范市河口区"},
]
DEPARTMENTS = [
    (Specialty.RESPIRATORY, "呼吸与危重症医学科"),
    (Specialty.INFECTIOUS_DISEASE, "感染性疾病科"),
    (Specialty.EMERGENCY, "急诊科"),
    (Specialty.CRITICAL_CARE, "重症医学科"),
    (Specialty.PSYCHIATRY, "精神心理科"),
    (Specialty.TCM, "中医科"),
    (Specialty.RADIOLOGY, "放射科"),
]


@dataclass(frozen=True)
class DemoPerson:
    username: str
    full_name: str
    role: str
    where: str  # "hospital" or a clinic code
    specialty: str | None = None
    title: str | None = None
    practising_since: date | None = None
    verified: bool = True


PEOPLE = [
    DemoPerson("admin", "王敏", Role.ADMINISTRATOR, "hospital"),
    DemoPerson("auditor", "赵琳", Role.AUDITOR, "hospital"),
    DemoPerson("coordinator", "李娜", Role.COORDINATOR, "hospital"),
    DemoPerson("dr_zhang", "张伟", Role.SPECIALIST, "hospital", Specialty.RESPIRATORY, Title.CHIEF, date(2003, 7, 1)),
    DemoPerson("dr_chen", "陈静", Role.SPECIALIST, "hospital", Specialty.INFECTIOUS_DISEASE, Title.ASSOCIATE_CHIEF, date(2010, 9, 1)),
    DemoPerson("dr_liu", "刘洋", Role.SPECIALIST, "hospital", Specialty.EMERGENCY, Title.ATTENDING, date(2015, 8, 1)),
    DemoPerson("dr_yang", "杨帆", Role.SPECIALIST, "hospital", Specialty.CRITICAL_CARE, Title.ASSOCIATE_CHIEF, date(2011, 3, 1)),
    DemoPerson("dr_huang", "黄丽", Role.SPECIALIST, "hospital", Specialty.PSYCHIATRY, Title.ATTENDING, date(2016, 10, 1)),
    DemoPerson("dr_zhou", "周建国", Role.SPECIALIST, "hospital", Specialty.TCM, Title.CHIEF, date(1998, 6, 1)),
    DemoPerson("dr_wu", "吴晓", Role.SPECIALIST, "hospital", Specialty.RESPIRATORY, Title.RESIDENT, date.today().replace(year=date.today().year - 2), verified=False),
    DemoPerson("dr_sun", "孙磊", Role.RADIOLOGIST, "hospital", Specialty.RADIOLOGY, Title.ASSOCIATE_CHIEF, date(2009, 7, 1)),
    DemoPerson("dr_qian", "钱芳", Role.RADIOLOGIST, "hospital", Specialty.RADIOLOGY, Title.CHIEF, date(2001, 9, 1)),
    DemoPerson("doc_qingshan", "马春华", Role.CLINIC_DOCTOR, "C-0101"),
    DemoPerson("doc_hekou", "何志强", Role.CLINIC_DOCTOR, "C-0102"),
]

PATIENTS = [
    # (clinic code, record number, name, sex, birth date)
    ("C-0101", "QS-0001", "王秀英", "2", date(1956, 3, 14)),
    ("C-0101", "QS-0002", "李建华", "1", date(1962, 11, 2)),
    ("C-0101", "QS-0003", "张桂兰", "2", date(1948, 5, 27)),
    ("C-0101", "QS-0004", "刘德明", "1", date(1971, 8, 9)),
    ("C-0101", "QS-0005", "陈小红", "2", date(1989, 1, 30)),
    ("C-0101", "QS-0006", "赵国强", "1", date(1953, 12, 18)),
    ("C-0102", "HK-0001", "孙丽华", "2", date(1966, 4, 4)),
    ("C-0102", "HK-0002", "周永福", "1", date(1944, 9, 21)),
    ("C-0102", "HK-0003", "吴淑珍", "2", date(1959, 7, 7)),
    ("C-0102", "HK-0004", "郑海涛", "1", date(1978, 2, 15)),
    ("C-0102", "HK-0005", "冯玉梅", "2", date(1983, 10, 12)),
    ("C-0102", "HK-0006", "朱志刚", "1", date(2001, 6, 3)),
]


def demo_national_id(region: str, born: date, serial: int) -> str:
    """A well-formed (checksummed) but invented resident ID number."""
    body = f"{region}{born:%Y%m%d}{serial:03d}"
    return body + _CHECK[sum(int(d) * w for d, w in zip(body, _WEIGHTS)) % 11]


def _institution(alliance: Alliance, kind: str, spec: dict) -> Institution:
    institution, _created = Institution.objects.get_or_create(
        code=spec["code"], defaults={"alliance": alliance, "kind": kind, "name": spec["name"], "region": spec["region"]}
    )
    return institution


def _person(spec: DemoPerson, institutions: dict[str, Institution], departments: dict[str, Department], admin: User | None) -> User:
    user = User.objects.filter(username=spec.username).first()
    if user is None:
        user = User(username=spec.username, full_name=spec.full_name, email=f"{spec.username}@demo.invalid")
        user.set_password(DEMO_PASSWORD)
        user.save()
    institution = institutions[spec.where]
    department = departments.get(spec.specialty) if spec.where == "hospital" else None
    Membership.objects.get_or_create(user=user, institution=institution, role=spec.role, defaults={"department": department})
    if spec.specialty and not user.qualifications.exists():
        Qualification.objects.create(
            user=user,
            licence_number=f"DEMO-{spec.username.upper()}",
            title=spec.title,
            specialties=[spec.specialty],
            independent_practice_since=spec.practising_since,
            verified_by=admin if spec.verified else None,
            verified_at=timezone.now() if spec.verified else None,
        )
    return user


@transaction.atomic
def seed_demo() -> list[DemoPerson]:
    alliance, _ = Alliance.objects.get_or_create(name="示范医联体")
    hospital = _institution(alliance, Institution.Kind.HOSPITAL, HOSPITAL)
    institutions = {"hospital": hospital}
    for spec in CLINICS:
        clinic = _institution(alliance, Institution.Kind.CLINIC, spec)
        institutions[spec["code"]] = clinic
        Pairing.objects.get_or_create(hospital=hospital, clinic=clinic, ended_on=None, defaults={"note": "对口支援"})
    departments = {}
    for specialty, name in DEPARTMENTS:
        departments[specialty], _ = Department.objects.get_or_create(institution=hospital, name=name, defaults={"specialty": specialty})
    admin = _person(PEOPLE[0], institutions, departments, None)
    users = {spec.username: _person(spec, institutions, departments, admin) for spec in PEOPLE}
    doctors = {"C-0101": users["doc_qingshan"], "C-0102": users["doc_hekou"]}
    for serial, (code, mrn, name, sex, born) in enumerate(PATIENTS, start=1):
        clinic = institutions[code]
        if not Patient.objects.filter(institution=clinic, mrn=mrn).exists():
            patient_register(
                by=doctors[code], institution=clinic, mrn=mrn, name=name, sex=sex, birth_date=born,
                national_id=demo_national_id("110105", born, serial), phone=f"1380000{serial:04d}",
            )
    audit_record(actor=None, action="demo.seed", username="seed_demo")
    return PEOPLE
