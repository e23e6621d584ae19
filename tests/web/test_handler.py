"""telemed.web.handler: each request's synchronous code runs on one borrowed, reused thread, from
its middleware to the last block of a streamed body."""
from __future__ import annotations

import asyncio
import threading

import pytest
from django.core import signals
from django.test import override_settings

from telemed.web.handler import BLOCK, BODY_BLOCKS, Block, FileRegion, PooledASGIHandler
from tests.web import handler_urls

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True), pytest.mark.urls("tests.web.handler_urls")]
MB = 1024 * 1024


@pytest.fixture(autouse=True)
def fresh_records():
    handler_urls.seen.clear()
    handler_urls.gate.clear()
    yield
    handler_urls.gate.set()


def _scope(path: str, query: str = "") -> dict:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": query.encode(), "root_path": "",
        "headers": [(b"host", b"testserver")], "client": ("127.0.0.1", 5000), "server": ("testserver", 80),
    }


class Client:
    """One ASGI exchange; `leave_after` body messages, the client goes away."""

    def __init__(self, leave_after: int | None = None) -> None:
        self.messages: list[dict] = []
        self.leave_after = leave_after
        self.left = asyncio.Event()
        self.requested = False

    async def receive(self) -> dict:
        if not self.requested:
            self.requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self.left.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict) -> None:
        self.messages.append(message)
        bodies = [m for m in self.messages if m["type"] == "http.response.body"]
        if self.leave_after is not None and len(bodies) >= self.leave_after:
            self.left.set()
            await asyncio.sleep(0)

    @property
    def status(self) -> int:
        return self.messages[0]["status"]

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.messages[1:])


async def _get(handler, path: str, query: str = "", client: Client | None = None) -> Client:
    client = client or Client()
    await handler(_scope(path, query), client.receive, client.send)
    return client


@override_settings(HTTP_WORKER_THREADS=4)
async def test_requests_one_after_another_keep_to_one_worker_thread():
    handler = PooledASGIHandler()
    for _ in range(3):
        assert (await _get(handler, "/where")).status == 200
    threads = {thread for thread, _connection in handler_urls.seen["views"]}
    assert len(threads) == 1
    assert len(handler_urls.seen["views"]) == 3


@override_settings(HTTP_WORKER_THREADS=4)
async def test_a_streamed_body_is_read_on_the_thread_that_ran_the_view():
    handler = PooledASGIHandler()
    client = await _get(handler, "/streamed", "blocks=3")
    assert client.status == 200
    assert len(client.body) == 3 * MB
    assert handler_urls.seen["blocks"] == [handler_urls.seen["view"]] * 3  # thread and connection
    assert handler_urls.seen["closed"] is True


@override_settings(HTTP_WORKER_THREADS=1)
async def test_a_body_in_memory_ends_its_request_on_the_worker_before_it_is_sent():
    handler = PooledASGIHandler()
    client = Client()
    finished = []

    def on_finished(**kwargs):
        finished.append((threading.get_ident(), len(client.messages)))

    signals.request_finished.connect(on_finished)
    try:
        await _get(handler, "/where", client=client)
    finally:
        signals.request_finished.disconnect(on_finished)
    assert client.status == 200
    assert finished == [(handler_urls.seen["views"][0][0], 0)]  # the view's thread; nothing sent yet


@pytest.mark.parametrize("query", ["", "files=1"])
async def test_the_language_a_view_chose_still_holds_while_its_body_streams(query):
    client = await _get(PooledASGIHandler(), "/spoken", query)
    assert client.body == b"zh-hans"


async def test_a_server_that_takes_blocks_gets_each_block_as_its_parts_unjoined():
    scope = _scope("/streamed", "blocks=3")
    scope["extensions"] = {BODY_BLOCKS: {}}
    client = Client()
    await PooledASGIHandler()(scope, client.receive, client.send)
    blocks = [m["body"] for m in client.messages[1:] if m.get("body")]
    assert [type(b) for b in blocks] == [Block] and len(blocks[0].parts) == 3  # three 1 MB parts, one message
    assert bytes(blocks[0]) == b"x" * (3 * MB) and len(blocks[0]) == 3 * MB


async def test_a_client_that_leaves_stops_a_streamed_body():
    handler = PooledASGIHandler()
    client = Client(leave_after=2)
    await asyncio.wait_for(_get(handler, "/streamed", "blocks=1000", client), timeout=30)
    assert len(handler_urls.seen["blocks"]) < 5 * BLOCK // MB  # of 1,000 parts of 1 MB: a few messages' worth
    assert handler_urls.seen["closed"] is True


@override_settings(HTTP_WORKER_THREADS=1)
async def test_a_slow_download_of_files_holds_no_worker_thread():
    handler = PooledASGIHandler()
    taken = asyncio.Event()

    class SlowClient(Client):
        async def send(self, message: dict) -> None:
            self.messages.append(message)
            if message["type"] == "http.response.body":
                await taken.wait()  # a clinic on a weak link, still reading the first block

    download = asyncio.ensure_future(_get(handler, "/from-files", client=SlowClient()))
    await asyncio.sleep(0.3)
    other = await asyncio.wait_for(_get(handler, "/where"), timeout=5)  # the only worker is free
    assert other.status == 200
    assert handler_urls.seen["view"][0] == handler_urls.seen["views"][0][0]
    taken.set()
    assert len((await asyncio.wait_for(download, timeout=10)).body) == 3 * MB
    assert handler_urls.seen["view"][0] not in handler_urls.seen["blocks"]


async def test_async_to_sync_in_a_view_runs_on_the_servers_event_loop():
    handler = PooledASGIHandler()
    assert (await _get(handler, "/loop")).status == 200
    assert handler_urls.seen["loop"] is asyncio.get_running_loop()


@override_settings(HTTP_WORKER_THREADS=1)
async def test_a_request_beyond_the_workers_waits_for_one_to_be_free():
    handler = PooledASGIHandler()
    first = asyncio.ensure_future(_get(handler, "/held", "n=1"))
    second = asyncio.ensure_future(_get(handler, "/held", "n=2"))
    await asyncio.sleep(0.5)
    assert handler_urls.seen["held"] == ["1"]
    handler_urls.gate.set()
    answers = await asyncio.wait_for(asyncio.gather(first, second), timeout=10)
    assert [a.body for a in answers] == [b"1", b"2"]
    assert handler_urls.seen["held"] == ["1", "2"]


@override_settings(HTTP_WORKER_THREADS=1)
async def test_a_request_cancelled_while_its_view_runs_keeps_its_worker_until_the_view_ends():
    handler = PooledASGIHandler()
    first = asyncio.ensure_future(_get(handler, "/held", "n=1"))
    await asyncio.sleep(0.3)
    first.cancel()
    second = asyncio.ensure_future(_get(handler, "/held", "n=2"))
    await asyncio.sleep(0.3)
    assert not first.done() and handler_urls.seen["held"] == ["1"]  # the worker is still the first's
    handler_urls.gate.set()
    assert (await asyncio.wait_for(second, timeout=10)).body == b"2"
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_a_request_the_server_cannot_read_is_answered_400_without_reaching_a_view():
    handler = PooledASGIHandler()
    scope = _scope("/where")
    scope["query_string"] = b"a=\xff"  # not UTF-8
    client = Client()
    await handler(scope, client.receive, client.send)
    assert client.status == 400
    assert "views" not in handler_urls.seen


async def test_a_request_the_server_cannot_read_still_ends_as_a_request():
    scope = _scope("/where")
    scope["query_string"] = b"a=\xff"  # not UTF-8
    finished = []

    def on_finished(**kwargs):
        finished.append(True)

    signals.request_finished.connect(on_finished)
    try:
        client = Client()
        await PooledASGIHandler()(scope, client.receive, client.send)
    finally:
        signals.request_finished.disconnect(on_finished)
    assert client.status == 400 and finished == [True]  # its database connection went back


async def test_the_server_application_uses_the_pooled_handler():
    from telemed.asgi import django_asgi_app

    assert isinstance(django_asgi_app, PooledASGIHandler)


async def test_a_server_that_takes_blocks_gets_a_files_regions_unread_and_anyone_else_their_bytes(tmp_path):
    stored = tmp_path / "stored"
    stored.write_bytes(bytes(range(256)) * (BLOCK // 256 * 2 + 1))  # two blocks and a bit
    query = f"path={stored}"
    scope = _scope("/regions", query)
    scope["extensions"] = {BODY_BLOCKS: {}}
    client = Client()
    await PooledASGIHandler()(scope, client.receive, client.send)
    blocks = [m["body"] for m in client.messages[1:] if m.get("body")]
    assert len(blocks) == 1 and [type(p) for p in blocks[0].parts] == [bytes, FileRegion, FileRegion, FileRegion, bytes]
    assert bytes(blocks[0]) == b"head|" + stored.read_bytes() + b"|tail"

    plain = await _get(PooledASGIHandler(), "/regions", query)
    assert plain.body == b"head|" + stored.read_bytes() + b"|tail"
