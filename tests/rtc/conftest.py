"""The relay in process: real aiortc peers with generated media, no database.

Peers are small (160x120 at 15 fps) so several fit on a shared 2-core machine; timeouts are
generous because other test runs share the CPU. The one timing the issue fixes (a late joiner
decodes within 1 s) is asserted as such.
"""
from __future__ import annotations

import pytest_asyncio

from telemed.rtc import Relay, RelayConfig
from telemed.rtc.testing import Conference


@pytest_asyncio.fixture
async def relay():
    relay = Relay(RelayConfig(stats_interval=None, reconnect_grace=2.0))
    yield relay
    await relay.close()


@pytest_asyncio.fixture
async def conference(relay):
    conference = Conference(relay)
    yield conference
    await conference.close()
    assert conference.errors == []  # every offer the relay made was answered and accepted
