from __future__ import annotations

from datetime import date

import factory

from telemed.accounts.demo import demo_national_id
from telemed.patients import identity
from telemed.patients.models import Patient
from tests.accounts.factories import InstitutionFactory, UserFactory


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient
        exclude = ("national_id",)

    institution = factory.SubFactory(InstitutionFactory)
    mrn = factory.Sequence(lambda n: f"MRN-{n:05d}")
    name = factory.Sequence(lambda n: f"Patient {n}")
    sex = "2"
    birth_date = date(1960, 5, 17)
    national_id = factory.Sequence(lambda n: demo_national_id("110105", date(1960, 5, 17), n % 1000))
    national_id_ciphertext = factory.LazyAttribute(lambda o: identity.encrypt(o.national_id))
    national_id_digest = factory.LazyAttribute(lambda o: identity.digest(o.national_id))
    national_id_last4 = factory.LazyAttribute(lambda o: o.national_id[-4:])
    registered_by = factory.SubFactory(UserFactory)
