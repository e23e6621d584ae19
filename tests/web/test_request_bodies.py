"""Our server hands a request body to the application in large messages (see
telemed/web/server.py): a STOW-RS body of tens of MB is not thousands of 8 KB messages."""
from __future__ import annotations

import subprocess
import sys

import requests

from tests.conftest import free_port, wait_for_http

MB = 1024 * 1024


def test_a_3_mb_body_reaches_the_application_in_a_few_messages_and_whole():
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "telemed.web.server", "-b", "127.0.0.1", "-p", str(port), "tests.web.counting_app:application"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/", timeout=60, process=process)
        messages, size = map(int, requests.post(f"http://127.0.0.1:{port}/", data=b"x" * 3 * MB, timeout=30).text.split())
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert size == 3 * MB
    assert messages <= 4  # daphne's own default would have sent 385
