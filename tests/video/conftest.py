import pytest_asyncio

from telemed.video.media import close_local_media


@pytest_asyncio.fixture(autouse=True)
async def _close_the_relay():
    """Every peer of the in-process relay closes with its test, before the test's event loop does."""
    yield
    await close_local_media()
