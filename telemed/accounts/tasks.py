from __future__ import annotations

from celery import shared_task

from telemed.accounts.services.signin import login_failures_prune


@shared_task
def prune_login_failures() -> int:
    return login_failures_prune()
