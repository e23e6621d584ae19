"""The server takes its large buffers from the heap (see telemed/web/server.py)."""
from __future__ import annotations

import subprocess
import sys

FAULTS_OF_COPIES = """
import resource, sys
if sys.argv[1] == "tuned":
    from telemed.web.server import keep_large_buffers_in_the_heap
    keep_large_buffers_in_the_heap()
block = bytes(2 * 1024 * 1024)
bytes(bytearray(block))  # the first one may grow the heap
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):
    bytes(bytearray(block))
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _page_faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", FAULTS_OF_COPIES, mode], capture_output=True, text=True, check=True)
    return int(out.stdout)


def test_copying_a_2_mb_block_costs_no_page_faults_once_the_server_has_tuned_malloc():
    untuned, tuned = _page_faults("default"), _page_faults("tuned")
    assert untuned > 50 * 512  # each buffer mapped fresh and unmapped: a fault per 4 KB page touched
    assert tuned < 100
