import pytest_asyncio
from channels.layers import DEFAULT_CHANNEL_LAYER, channel_layers

from telemed.video.media import close_local_media


@pytest_asyncio.fixture(autouse=True)
async def _close_the_relay():
    """Every peer of the in-process relay closes with its test, before the test's event loop does."""
    yield
    await close_local_media()


@pytest_asyncio.fixture(autouse=True)
async def _a_channel_layer_per_test():
    """Each test's event loop gets a channel layer of its own. channels_redis keeps its per-channel
    locks across event loops, and a consumer cancelled at disconnect while waiting for one leaves
    it behind, bound to its loop: the next test's first receive would fail with "bound to a
    different event loop"."""
    yield
    channel_layers.backends.pop(DEFAULT_CHANNEL_LAYER, None)
