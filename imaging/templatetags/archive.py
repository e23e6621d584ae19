"""Archive panels that several pages show, drawn from the signed-in user: the clinic's storage
usage, and a study's teaching exports; and DICOM values as people read them: dates and times
(imaging.dicom.dates), person names (imaging.dicom.names), and code strings (body part, sex,
modality: imaging.coded_values), and the words file sizes are written with for the upload page's
script. The rules live in those modules, which code outside templates uses."""
from __future__ import annotations

import json

from django import template
from django.template.defaultfilters import filesizeformat
from django.utils import formats
from django.utils.html import format_html
from django.utils.translation import get_language

from imaging import coded_values
from imaging.dicom import dates, names
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


@register.simple_tag
def size_words() -> str:
    """How Django's filesizeformat writes sizes in the page's language, as JSON texts with a
    %(size)s placeholder (bytes for one and for several, then KB to PB), for a script that writes
    sizes as the server's pages do (upload.js). Taken from filesizeformat's own output: its words,
    its no-break space."""
    def word(size: int, number: str) -> str:
        return filesizeformat(size).replace(number, "%(size)s", 1)

    one_tenth = formats.number_format(1.0, 1)
    return json.dumps({"byte": word(1, "1"), "bytes": word(2, "2"), "units": [word(1024**power, one_tenth) for power in range(1, 6)]}, ensure_ascii=False)


register.filter("dicom_date", dates.dicom_date)
register.filter("dicom_time", dates.dicom_time)


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

