"""Archive panels that several pages show, drawn from the signed-in user: the clinic's storage
usage, and a study's teaching exports; and DICOM values as people read them: dates and times, person
names, and code strings (body part, sex, modality: imaging.coded_values)."""
from __future__ import annotations

from django import template
from django.utils.formats import date_format, time_format
from django.utils.html import format_html
from django.utils.translation import get_language
from pydicom.valuerep import DA, TM

from imaging import coded_values
from imaging.dicom import names
from imaging.services import storage
from telemed import access

register = template.Library()


@register.inclusion_tag("imaging/includes/usage.html", takes_context=True)
def storage_usage(context):
    """The storage bars of the clinics the user sends for."""
    clinics = access.storing_institutions(context["request"].user).filter(pk__in=access.storage_institutions(context["request"].user).values("pk"))
    return {"usages": storage.usage_list(clinics)}


@register.inclusion_tag("imaging/includes/study_exports.html", takes_context=True)
def study_exports(context, study):
    user = context["request"].user
    return {
        "study": study,
        "can_export": access.exportable_studies(user).filter(pk=study.pk).exists(),
        "exports": access.visible_exports(user).filter(study=study)[:10],
        "csrf_token": context.get("csrf_token"),
    }


# Dates and times as every page of the product writes them, in both languages (the consult pages'
# "Y-m-d H:i"), not in each language's long style ("Nov. 20, 2026" beside "2026-11-20").
DATE_STYLE, TIME_STYLE = "Y-m-d", "H:i"


def _written(value: str, parse, formatted, style: str) -> str:
    """`value` read by pydicom's `parse` and written in `style`; one it cannot read, as it is."""
    try:
        return formatted(parse(value), style) if value else ""
    except ValueError:
        return value


@register.filter
def dicom_date(value: str) -> str:
    """A DICOM date (DA, "20261120") as the pages write a date: 2026-11-20."""
    return _written(value, DA, date_format, DATE_STYLE)


@register.filter
def dicom_time(value: str) -> str:
    """A DICOM time (TM, "093000.25") to the minute: 09:30."""
    return _written(value, TM, time_format, TIME_STYLE)


@register.filter
def person_name(value: str) -> str:
    """A DICOM person name (PN, "Zhang^Wei=张^伟") as the reader's language writes it: imaging.dicom.names."""
    return names.person_name(value, language=get_language() or "")


register.filter("body_part", coded_values.body_part_words)
register.filter("patient_sex", coded_values.sex_words)
register.filter("modality_name", coded_values.modality_name)


@register.filter
def modality(code: str) -> str:
    """The modality's code as sent ("CT"), its name in the reader's language as its title."""
    name = coded_values.modality_name(code)
    return format_html('<abbr title="{}">{}</abbr>', name, code) if name else code


@register.filter
def examination(modality_code: str, body_part_code: str) -> str:
    """What was examined, as the read pages name it: the modality's code (its name as its title,
    or — if none was sent) and the body part in words: CT 胸部."""
    return format_html("{} {}", modality(modality_code) or "—", coded_values.body_part_words(body_part_code))


@register.inclusion_tag("imaging/includes/patient_summary.html")
def patient_summary(patient) -> dict:
    """A registered patient as the read pages introduce them: name · sex · age."""
    return {"patient": patient}
