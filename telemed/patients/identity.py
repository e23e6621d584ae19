"""The resident identity card number (GB 11643): validation, encryption and masked form."""
from __future__ import annotations

import base64
import hashlib
import hmac
import re

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_SHAPE = re.compile(r"^\d{17}[\dX]$")


def normalise_national_id(raw: str) -> str:
    return raw.strip().replace(" ", "").upper()


def validate_national_id(value: str) -> None:
    if not _SHAPE.match(value):
        raise ValidationError(_("A resident ID number has 17 digits followed by a digit or X."), code="shape")
    total = sum(int(digit) * weight for digit, weight in zip(value[:17], _WEIGHTS))
    if _CHECK[total % 11] != value[17]:
        raise ValidationError(_("This resident ID number's check digit is wrong; please check it was typed correctly."), code="checksum")


def _fernet() -> Fernet:
    key = hashlib.sha256(settings.FIELD_ENCRYPTION_KEY.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def decrypt(ciphertext: str) -> str:
    return _fernet().decrypt(ciphertext.encode()).decode()


def digest(value: str) -> str:
    """Keyed, so the digest cannot be reversed by hashing all 10^17 possible numbers."""
    return hmac.new(settings.FIELD_ENCRYPTION_KEY.encode(), value.encode(), hashlib.sha256).hexdigest()
