"""Our server hands a request body to the application in large messages (see
telemed/web/server.py): a STOW-RS body of tens of MB is not thousands of 8 KB messages."""
from __future__ import annotations

import requests

from tests.web.test_request_limits import counting_server

MB = 1024 * 1024


def test_a_3_mb_body_reaches_the_application_in_a_few_messages_and_whole():
    with counting_server() as (base, _pid):
        messages, size = map(int, requests.post(base, data=b"x" * 3 * MB, timeout=30).text.split())
    assert size == 3 * MB
    assert messages <= 4  # daphne's own default would have sent 385
