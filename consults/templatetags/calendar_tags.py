"""`{% consult_calendar_links consult %}`: the .ics download and the feed page, for the consult page."""
from __future__ import annotations

from django import template

register = template.Library()


@register.inclusion_tag("consults/_calendar_links.html")
def consult_calendar_links(consult) -> dict:
    # Only a booked consult has a time to put in a calendar; before that the tag renders nothing.
    return {"consult": consult, "booked": bool(consult.starts_at and consult.ends_at)}
