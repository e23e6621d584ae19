from __future__ import annotations

from datetime import date

import factory
from django.utils import timezone

from telemed.accounts.models import Alliance, Department, Institution, Membership, Qualification, Role, Specialty, Title, User

TEST_PASSWORD = "correct-horse-battery"


class AllianceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Alliance

    name = factory.Sequence(lambda n: f"Alliance {n}")


class InstitutionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Institution

    alliance = factory.SubFactory(AllianceFactory)
    kind = Institution.Kind.CLINIC
    name = factory.Sequence(lambda n: f"Institution {n}")
    code = factory.Sequence(lambda n: f"ORG-{n:05d}")
    region = "Test region"


class HospitalFactory(InstitutionFactory):
    kind = Institution.Kind.HOSPITAL
    name = factory.Sequence(lambda n: f"Hospital {n}")


class DepartmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Department

    institution = factory.SubFactory(HospitalFactory)
    specialty = Specialty.RESPIRATORY
    name = factory.Sequence(lambda n: f"Department {n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    full_name = factory.Sequence(lambda n: f"Person {n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.test")
    language = "en"
    password = factory.PostGenerationMethodCall("set_password", TEST_PASSWORD)

    @factory.post_generation
    def saved(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    institution = factory.SubFactory(InstitutionFactory)
    role = Role.CLINIC_DOCTOR


class QualificationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Qualification

    user = factory.SubFactory(UserFactory)
    licence_number = factory.Sequence(lambda n: f"LIC-{n:06d}")
    title = Title.ATTENDING
    specialties = factory.LazyFunction(lambda: [Specialty.RESPIRATORY])
    independent_practice_since = date(2015, 1, 1)
    verified_at = factory.LazyFunction(timezone.now)


def member(institution: Institution, role: str, **user_fields) -> User:
    """A user holding one role at one institution."""
    user = UserFactory(**user_fields)
    MembershipFactory(user=user, institution=institution, role=role)
    return user
