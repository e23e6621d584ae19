"""Archive panels that several pages show, drawn from the signed-in user: the clinic's storage
usage, and a study's teaching exports."""
from __future__ import annotations

from django import template

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
