"""DICOM code strings as words in the reader's language: Body Part Examined, Patient's Sex, and
the name of a modality (its code stays on the page, the name is its title).

The body parts are the common Defined Terms of PS3.16 Annex L (CID 4031 by its code values); a
code not listed here is shown as sent.
"""
from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from telemed.patients.models import Sex

BODY_PARTS = {
    "HEAD": pgettext_lazy("body part", "Head"),
    "BRAIN": pgettext_lazy("body part", "Brain"),
    "SKULL": pgettext_lazy("body part", "Skull"),
    "HEADNECK": pgettext_lazy("body part", "Head and neck"),
    "NECK": pgettext_lazy("body part", "Neck"),
    "CHEST": pgettext_lazy("body part", "Chest"),
    "LUNG": pgettext_lazy("body part", "Lung"),
    "HEART": pgettext_lazy("body part", "Heart"),
    "BREAST": pgettext_lazy("body part", "Breast"),
    "ABDOMEN": pgettext_lazy("body part", "Abdomen"),
    "LIVER": pgettext_lazy("body part", "Liver"),
    "KIDNEY": pgettext_lazy("body part", "Kidney"),
    "PELVIS": pgettext_lazy("body part", "Pelvis"),
    "CHESTABDOMEN": pgettext_lazy("body part", "Chest and abdomen"),
    "ABDOMENPELVIS": pgettext_lazy("body part", "Abdomen and pelvis"),
    "CHESTABDPELVIS": pgettext_lazy("body part", "Chest, abdomen and pelvis"),
    "SPINE": pgettext_lazy("body part", "Spine"),
    "CSPINE": pgettext_lazy("body part", "Cervical spine"),
    "TSPINE": pgettext_lazy("body part", "Thoracic spine"),
    "LSPINE": pgettext_lazy("body part", "Lumbar spine"),
    "SSPINE": pgettext_lazy("body part", "Sacrum"),
    "EXTREMITY": pgettext_lazy("body part", "Extremity"),
    "SHOULDER": pgettext_lazy("body part", "Shoulder"),
    "CLAVICLE": pgettext_lazy("body part", "Clavicle"),
    "ARM": pgettext_lazy("body part", "Arm"),
    "ELBOW": pgettext_lazy("body part", "Elbow"),
    "WRIST": pgettext_lazy("body part", "Wrist"),
    "HAND": pgettext_lazy("body part", "Hand"),
    "HIP": pgettext_lazy("body part", "Hip"),
    "LEG": pgettext_lazy("body part", "Leg"),
    "KNEE": pgettext_lazy("body part", "Knee"),
    "ANKLE": pgettext_lazy("body part", "Ankle"),
    "FOOT": pgettext_lazy("body part", "Foot"),
    "WHOLEBODY": pgettext_lazy("body part", "Whole body"),
}

SEXES = {"M": Sex.MALE.label, "F": Sex.FEMALE.label, "O": _("Other")}

MODALITIES = {
    "CT": _("Computed tomography"),
    "MR": _("Magnetic resonance"),
    "CR": _("Computed radiography"),
    "DX": _("Digital radiography"),
    "DR": _("Digital radiography"),
    "MG": _("Mammography"),
    "RF": _("Radiofluoroscopy"),
    "XA": _("X-ray angiography"),
    "US": _("Ultrasound"),
    "NM": _("Nuclear medicine"),
    "PT": _("Positron emission tomography"),
    "IO": _("Intra-oral radiography"),
    "PX": _("Panoramic X-ray"),
    "ES": _("Endoscopy"),
    "XC": _("External-camera photography"),
    "OP": _("Ophthalmic photography"),
    "ECG": _("Electrocardiography"),
    "SC": _("Secondary capture"),
    "SR": _("Structured report"),
    "OT": _("Other"),
}


def body_part_words(code: str) -> str:
    """The body part in words of the language active when it is rendered (a notification is
    rendered in each recipient's); a code not listed, as sent."""
    return BODY_PARTS.get(code.strip().upper(), code) if code else ""


def sex_words(code: str) -> str:
    return str(SEXES.get(code.strip().upper(), code)) if code else ""


def modality_name(code: str) -> str:
    """The modality's name, for the title of its code; empty for a code not listed."""
    return str(MODALITIES.get(code.strip().upper(), "")) if code else ""
