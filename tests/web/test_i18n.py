"""Simplified Chinese is complete: every string in the code has a translation, none is fuzzy."""
from __future__ import annotations

import shutil
from pathlib import Path

import polib
import pytest
from django.core.management import call_command
from django.test import override_settings

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"


def test_chinese_catalogue_has_no_untranslated_or_fuzzy_entries():
    catalogue = polib.pofile(str(CATALOGUE))
    assert not catalogue.untranslated_entries()
    assert not catalogue.fuzzy_entries()
    assert catalogue.percent_translated() == 100


def test_every_string_in_the_code_is_in_the_chinese_catalogue_and_no_other(tmp_path, monkeypatch):
    """makemessages over a copy of the sources: anything it adds is a string nobody translated,
    anything it marks obsolete (#~) a string no code, template or gettext_noop uses any more."""
    for folder in ("telemed", "consults", "imaging", "rounds", "templates"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__", "migrations"))
    copy = tmp_path / "locale" / "zh_Hans" / "LC_MESSAGES"
    copy.mkdir(parents=True)
    shutil.copy(CATALOGUE, copy / "django.po")
    monkeypatch.chdir(tmp_path)
    with override_settings(LOCALE_PATHS=[tmp_path / "locale"]):
        call_command("makemessages", locale=["zh_Hans"], no_location=True, verbosity=0)
    refreshed = polib.pofile(str(copy / "django.po"))
    missing = [entry.msgid for entry in refreshed.untranslated_entries() + refreshed.fuzzy_entries()]
    assert not missing, f"Translate these in {CATALOGUE.relative_to(ROOT)}: {missing}"
    unused = [entry.msgid for entry in refreshed.obsolete_entries()]
    assert not unused, f"Remove these from {CATALOGUE.relative_to(ROOT)}, no code uses them: {unused}"


@pytest.mark.django_db
def test_landing_pages_show_no_english_words_in_chinese(cast, client_for):
    from telemed.accounts.models import Role

    for role, url in ((Role.CLINIC_DOCTOR, "/patients/"), (Role.COORDINATOR, "/institutions/"), (Role.AUDITOR, "/audit/")):
        page = client_for(cast.north[role], language="zh-hans").get(url).content.decode()
        for english in ("Sign out", "Search", "Patients", "Institutions", "Audit trail", "Name"):
            assert f">{english}<" not in page, (url, english)
