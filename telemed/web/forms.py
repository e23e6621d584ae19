from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError

T = TypeVar("T")


def call_service(form: forms.Form, call: Callable[[], T]) -> T | None:
    """Run a service for a valid form; a ValidationError lands on the form's fields, not in a 500."""
    try:
        return call()
    except ValidationError as exc:
        if hasattr(exc, "error_dict"):
            for field, errors in exc.error_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            form.add_error(None, exc.messages)
        return None


def form_errors(form: forms.Form) -> str:
    """Every error of a form in one line, for a message on the page the form came from."""
    return " ".join(str(e) for errors in form.errors.values() for e in errors)


class NoFields(forms.Form):
    """A button: a POST with nothing to validate."""


def act_on(request, form_class: type[forms.Form], call: Callable[[dict], object], done: str) -> None:
    """A button or small form on an object's page: validate, call the service, and leave a
    success message or the refusal as an error message (never a 500)."""
    form = form_class(request.POST)
    if form.is_valid() and call_service(form, lambda: call(form.cleaned_data)):
        messages.success(request, done)
    else:
        messages.error(request, form_errors(form))
