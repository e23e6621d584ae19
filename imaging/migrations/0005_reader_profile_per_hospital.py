"""Reader profiles per (radiologist, hospital) rather than per radiologist.

The primary key changes (it was the user), so the profiles move to a new table: each old profile
is copied to every hospital where its user holds the radiologist role (active or not, so that a
role given back finds the settings it had); the profile of someone who is a radiologist nowhere
never applied and is dropped. Then the old table goes and the new one takes its name. Going back
keeps one profile per radiologist: the one of the hospital with the smallest id.
"""
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

RADIOLOGIST = "radiologist"


def to_each_hospital(apps, schema_editor):
    Old = apps.get_model("imaging", "ReaderProfile")
    New = apps.get_model("imaging", "HospitalReaderProfile")
    Membership = apps.get_model("accounts", "Membership")
    hospitals = {}
    for user_id, hospital_id in Membership.objects.filter(role=RADIOLOGIST).values_list("user_id", "institution_id").distinct():
        hospitals.setdefault(user_id, []).append(hospital_id)
    New.objects.bulk_create(
        New(user_id=old.user_id, hospital_id=hospital_id, modalities=old.modalities, accepts_automatic=old.accepts_automatic)
        for old in Old.objects.all()
        for hospital_id in hospitals.get(old.user_id, [])
    )


def back_to_one_each(apps, schema_editor):
    Old = apps.get_model("imaging", "ReaderProfile")
    New = apps.get_model("imaging", "HospitalReaderProfile")
    kept = {}
    for profile in New.objects.order_by("hospital_id"):
        kept.setdefault(profile.user_id, profile)
    Old.objects.bulk_create(Old(user_id=p.user_id, modalities=p.modalities, accepts_automatic=p.accepts_automatic) for p in kept.values())


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0002_institution_dicom_quota"),
        ("imaging", "0004_reading"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="HospitalReaderProfile",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("modalities", models.JSONField(blank=True, default=list, help_text="DICOM modality codes such as CT, MR, DX; empty: every modality.", verbose_name="modalities")),
                ("accepts_automatic", models.BooleanField(default=True, verbose_name="receives automatic assignments")),
                ("hospital", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="reader_profiles", to="accounts.institution")),
                ("user", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="reader_profiles", to=settings.AUTH_USER_MODEL)),
            ],
            options={
                "constraints": [models.UniqueConstraint(fields=("user", "hospital"), name="one_reader_profile_per_hospital")],
            },
        ),
        migrations.RunPython(to_each_hospital, back_to_one_each),
        migrations.DeleteModel(name="ReaderProfile"),
        migrations.RenameModel(old_name="HospitalReaderProfile", new_name="ReaderProfile"),
    ]
