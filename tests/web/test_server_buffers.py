"""The server takes its large buffers from the heap, keeps only the unsent rest of a block it
sent unjoined, warms up as it starts, and hides what starting made from the collector (see
telemed/web/server.py)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings as django_settings

from imaging.services import pixels
from telemed.web import server
from telemed.web.handler import BLOCK_PARTS, Block, _next_block
from telemed.web.server import _unsent, warm_up

FAULTS_OF_COPIES = """
import resource, sys
if sys.argv[1] == "tuned":
    from telemed.web.server import keep_large_buffers_in_the_heap
    keep_large_buffers_in_the_heap()
block = bytes(4 * 1024 * 1024)
bytes(bytearray(block))  # the first one may grow the heap
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):
    bytes(bytearray(block))
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _page_faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", FAULTS_OF_COPIES, mode], capture_output=True, text=True, check=True)
    return int(out.stdout)


def test_copying_a_4_mb_block_costs_no_page_faults_once_the_server_has_tuned_malloc():
    untuned, tuned = _page_faults("default"), _page_faults("tuned")
    assert untuned > 50 * 1024  # each buffer mapped fresh and unmapped: a fault per 4 KB page touched
    assert tuned < 100


TRACKED_AFTER_STARTING = """
import django, gc
django.setup()
from telemed.web.server import freeze_what_starting_made
freeze_what_starting_made()
print(gc.get_freeze_count(), len(gc.get_objects()))
"""


def test_what_starting_made_is_out_of_the_collectors_sight(tmp_path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "telemed.settings", "DATA_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    out = subprocess.run([sys.executable, "-c", TRACKED_AFTER_STARTING], capture_output=True, text=True, check=True, env=env, cwd=Path(__file__).resolve().parents[2])
    frozen, tracked = map(int, out.stdout.split())
    assert frozen > 100_000  # Django, every view, pydicom's dictionaries
    assert tracked < frozen / 20  # what a full collection still walks


def test_the_unsent_rest_of_a_block_is_what_follows_its_sent_bytes():
    block = Block([b"abc", b"defg", b"hi"])
    assert _unsent(block, 0) == (b"abcdefghi", 0)
    assert _unsent(block, 3) == (b"defghi", 0)
    assert _unsent(block, 5) == (b"fghi", 0)
    assert _unsent(b"abcdefghi", 5) == (b"abcdefghi", 5)  # bytes stay as they are, with an offset


def test_a_block_holds_no_more_parts_than_one_sendmsg_may_send():
    parts = iter([b"p"] * (3 * BLOCK_PARTS))
    block = _next_block(parts, unjoined=True)
    assert len(block.parts) == BLOCK_PARTS and len(_next_block(parts)) == BLOCK_PARTS


WARMED_UP: list[str] = []


def _record_warm_up() -> None:
    WARMED_UP.append("warmed")


def test_a_starting_server_runs_each_warm_up_its_settings_name(settings):
    settings.SERVER_WARM_UP = [f"{__name__}._record_warm_up", f"{__name__}._record_warm_up"]
    WARMED_UP.clear()
    warm_up()
    assert WARMED_UP == ["warmed", "warmed"]


def test_a_server_process_warms_up_before_it_freezes_what_starting_made(monkeypatch):
    started = []
    monkeypatch.setattr(server, "warm_up", lambda: started.append("warm up"))
    monkeypatch.setattr(server, "freeze_what_starting_made", lambda: started.append("freeze"))
    server.BackPressureServer(endpoints=["tcp:port=0:interface=127.0.0.1"], application=lambda scope, receive, send: None)
    assert started == ["warm up", "freeze"]


def test_the_render_warm_up_renders_without_the_database_or_the_frame_cache():
    # No django_db mark: a query would fail the test.
    before = (pixels.frames.size, pixels.frames.hits, pixels.frames.misses)
    pixels.warm_up()
    assert (pixels.frames.size, pixels.frames.hits, pixels.frames.misses) == before
    assert "imaging.services.pixels.warm_up" in django_settings.SERVER_WARM_UP
