"""telemed/rtc imports nothing from Django or the rest of the project, so a relay worker or
another app can use it alone."""
from __future__ import annotations

from pathlib import Path

import telemed.rtc
from tests.imports import imported_modules

RTC = Path(telemed.rtc.__file__).parent


def test_the_relay_package_imports_neither_django_nor_other_project_code():
    offending = {
        f"{path.name}: {name}"
        for path in RTC.glob("*.py")
        for name in imported_modules(path)
        if name.split(".")[0] in {"django", "channels", "consults", "imaging", "rounds"}
        or (name.startswith("telemed") and not name.startswith("telemed.rtc"))
    }
    assert offending == set()
