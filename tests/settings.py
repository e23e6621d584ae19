"""Test settings: production settings with a throwaway data folder and fast password hashing.

Servers that tests start in subprocesses use `telemed.settings` with the same DATA_DIR, so they
share the generated keys (and can read what the tests encrypted).
"""
import os
import tempfile

os.environ.setdefault("DATA_DIR", tempfile.mkdtemp(prefix="telemed-test-"))

from telemed.settings import *  # noqa: E402,F403

# Argon2 is what production uses (tests/accounts/test_signin.py checks it); MD5 keeps the
# hundreds of test sign-ins fast.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", "django.contrib.auth.hashers.Argon2PasswordHasher"]
LANGUAGE_CODE = "en"
