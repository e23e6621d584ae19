"""Template filter modules are for templates: a view, service or API that writes a DICOM value as
the pages do takes the rule from the plain module the filter uses (imaging.dicom.dates,
imaging.dicom.names, imaging.coded_values), so the rule is written once and runs outside a
template's language and escaping."""
from __future__ import annotations

from pathlib import Path

from tests.imports import imported_modules

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("telemed", "consults", "imaging", "rounds")


def test_no_code_outside_templatetags_imports_a_template_filter_module():
    offending = {
        f"{path.relative_to(ROOT)}: {name}"
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "templatetags" not in path.parts
        for name in imported_modules(path)
        if name.split(".")[0] in PACKAGES and ".templatetags" in name
    }
    assert not offending
