"""Relay capacity: CPU per subscription, frame rate at every receiver, added latency.

    .venv/bin/python bench/relay.py [--seconds 10] [--sizes 640x480,1280x720] [--counts 1,2,4,8]

The relay runs in a process of its own (so its CPU is measured alone), driven over a Unix
socket by this process, which plays the participants with aiortc peers:

- one *live* publisher paints the send time into each frame as a bar code (telemed.rtc.testing);
- one *probe* receiver decodes that video and reads the bar code: latency = now - painted;
- the other receivers only count packets and frames (decoding them all would measure this
  machine's decoders, not the relay);
- in a room of 8 publishers, the 7 others send a pre-encoded VP8 loop (keyframe every second)
  and every publisher also receives the other 7, as in a ward round.

Added latency is the probe's latency through the relay minus a direct publisher -> probe
connection in the same conditions (both include aiortc's one-frame jitter buffer). CPU per
subscription is the slope of the relay's CPU over the number of receiving participants (each
receives the live publisher's audio and video). Prints one line per measurement.
"""
from __future__ import annotations

import argparse
import asyncio
import fractions
import json
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import av  # noqa: E402
import numpy as np  # noqa: E402
from aiortc import MediaStreamTrack  # noqa: E402
from aiortc.mediastreams import MediaStreamError  # noqa: E402

from _setup import percentile  # noqa: E402
from telemed.rtc.events import TrackInfo  # noqa: E402
from telemed.rtc.testing import Peer, until  # noqa: E402

LOOP_FRAMES = 60


# --- the relay's process ------------------------------------------------------------------


def relay_process(socket_path: str) -> None:
    asyncio.run(_serve(socket_path))


async def _serve(socket_path: str) -> None:
    from telemed.rtc import Relay, RelayConfig
    from telemed.rtc.events import OfferReady

    relay = Relay(RelayConfig(stats_interval=None))

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        def send(message: dict) -> None:
            writer.write(json.dumps(message).encode() + b"\n")

        async def forward_offers() -> None:
            while True:
                event = await relay.events.get()
                if isinstance(event, OfferReady):
                    tracks = {mid: [t.participant_id, t.source, t.kind] for mid, t in event.tracks.items()}
                    send({"event": "offer", "room": event.room_id, "participant": event.participant_id, "sdp": event.sdp, "tracks": tracks})

        offers = asyncio.ensure_future(forward_offers())
        async for line in reader:
            message = json.loads(line)
            room = relay.room(message.get("room", ""))
            reply: dict = {"id": message["id"]}
            if message["op"] == "join":
                reply["answer"] = await room.join(message["participant"], message["sdp"])
            elif message["op"] == "answer":
                await room.accept_answer(message["participant"], message["sdp"])
            elif message["op"] == "close_room":
                await relay.close_room(message["room"])
            elif message["op"] == "cpu":
                reply["cpu"] = time.process_time()
            send(reply)
        offers.cancel()

    server = await asyncio.start_unix_server(handle, socket_path)
    async with server:
        await server.serve_forever()


# --- this process: the participants -------------------------------------------------------


class RelayClient:
    """The signalling side, over the socket: join, and answer the relay's offers."""

    def __init__(self) -> None:
        self.peers: dict[tuple[str, str], Peer] = {}
        self._waiting: dict[int, asyncio.Future] = {}
        self._next = 0

    async def connect(self, socket_path: str) -> None:
        self.reader, self.writer = await asyncio.open_unix_connection(socket_path, limit=2**24)
        self._task = asyncio.ensure_future(self._read())

    async def request(self, op: str, **fields) -> dict:
        self._next += 1
        future = self._waiting[self._next] = asyncio.get_running_loop().create_future()
        self.writer.write(json.dumps({"id": self._next, "op": op, **fields}).encode() + b"\n")
        return await future

    async def join(self, room: str, peer: Peer) -> None:
        self.peers[(room, peer.name)] = peer
        reply = await self.request("join", room=room, participant=peer.name, sdp=await peer.offer())
        await peer.accept(reply["answer"])

    async def _read(self) -> None:
        async for line in self.reader:
            message = json.loads(line)
            if message.get("event") == "offer":
                asyncio.ensure_future(self._answer(message))
            else:
                self._waiting.pop(message["id"]).set_result(message)

    async def _answer(self, offer: dict) -> None:
        peer = self.peers.get((offer["room"], offer["participant"]))
        if peer is None or peer.pc.signalingState == "closed":
            return
        tracks = {mid: TrackInfo(*info) for mid, info in offer["tracks"].items()}
        answer = await peer.answer(offer["sdp"], tracks)
        await self.request("answer", room=offer["room"], participant=peer.name, sdp=answer)


class LoopTrack(MediaStreamTrack):
    """Pre-encoded VP8 (a keyframe every second), sent as packets: a publisher that costs this
    machine no encoding, to load the relay with 7 more publishers."""

    kind = "video"

    def __init__(self, width: int, height: int, fps: int, bitrate: int) -> None:
        super().__init__()
        self.fps = fps
        codec = av.CodecContext.create("libvpx", "w")
        codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"
        codec.bit_rate = bitrate
        codec.time_base = fractions.Fraction(1, fps)
        codec.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
        rng = np.random.default_rng(width)
        texture = rng.integers(16, 235, (height, width), dtype=np.uint8)
        self.packets = []
        for n in range(LOOP_FRAMES):
            frame = av.VideoFrame.from_ndarray(np.roll(texture, n * 4, axis=1), format="gray").reformat(format="yuv420p")
            frame.pts = n
            if n % fps == 0:
                frame.pict_type = av.video.frame.PictureType.I
            self.packets.extend(bytes(p) for p in codec.encode(frame))
        self._sent = 0
        self._start: float | None = None

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            await asyncio.sleep(max(0.0, self._start + self._sent / self.fps - time.monotonic()))
        packet = av.Packet(self.packets[self._sent % len(self.packets)])
        packet.pts = self._sent * 90000 // self.fps
        packet.time_base = fractions.Fraction(1, 90000)
        self._sent += 1
        return packet


def live_publisher(name: str, size: tuple[int, int], fps: int) -> Peer:
    return Peer(name, colour=(200, 40, 40), tone=440, size=size, fps=fps, decode=False)


def probe(name: str) -> Peer:
    return Peer(name, colour=None, tone=None, decode=True, measure_latency=True)


async def measure(peers: list[Peer], seconds: float, cpu=None) -> tuple[float, float]:
    """Clear the counters, wait, return (seconds measured, relay CPU seconds used)."""
    for peer in peers:
        for reception in peer.receptions.values():
            reception.frames = 0
            reception.latencies_ms.clear()
    before = await cpu() if cpu else 0.0
    started = time.monotonic()
    await asyncio.sleep(seconds)
    after = await cpu() if cpu else 0.0
    return time.monotonic() - started, after - before


async def direct(size: tuple[int, int], fps: int, seconds: float) -> list[int]:
    """The baseline: publisher straight to the probe, no relay."""
    sender, receiver = live_publisher("direct-sender", size, fps), probe("direct-probe")
    try:
        await sender.accept(await receiver.answer(await sender.offer()))
        await until(lambda: any(r.kind == "video" and r.frames > fps for r in receiver.receptions.values()), timeout=30)
        await asyncio.sleep(2)
        await measure([receiver], seconds)
        return [x for r in receiver.receptions.values() for x in r.latencies_ms]
    finally:
        await asyncio.gather(sender.close(), receiver.close())


async def through_relay(
    client: RelayClient, room: str, size: tuple[int, int], fps: int, seconds: float, *, receivers: int, publishers: int
) -> dict:
    live = live_publisher("live", size, fps)
    loops = []
    for n in range(publishers - 1):
        peer = Peer(f"loop-{n}", colour=None, tone=440, decode=False)
        peer.pc.addTrack(LoopTrack(*size, fps, bitrate=1_000_000 if size[0] <= 640 else 1_500_000))
        loops.append(peer)
    watcher = probe("probe")
    listeners = [Peer(f"listener-{n}", colour=None, tone=None, decode=False) for n in range(receivers - 1)]
    everyone = [live, *loops, watcher, *listeners]
    try:
        for peer in everyone:
            await client.join(room, peer)
        receiving = [p for p in everyone if p is not live]
        await until(lambda: all((r := p.reception_from("live", "video")) is not None and r.frames > fps for p in receiving), timeout=60)
        await asyncio.sleep(2)

        async def cpu() -> float:
            return (await client.request("cpu"))["cpu"]

        elapsed, cpu_seconds = await measure(everyone, seconds, cpu)
        rates = [p.reception_from("live", "video").frames / elapsed for p in receiving]
        return {
            "cpu": cpu_seconds / elapsed,
            "fps_min": min(rates),
            "fps_mean": sum(rates) / len(rates),
            "latencies": list(watcher.reception_from("live", "video").latencies_ms),
            "receivers": len(receiving),
        }
    finally:
        await client.request("close_room", room=room)
        for peer in everyone:
            client.peers.pop((room, peer.name), None)
        await asyncio.gather(*(p.close() for p in everyone))


def _ms(values: list[int]) -> str:
    return f"p50 {percentile(values, 50):.0f} ms, p95 {percentile(values, 95):.0f} ms" if values else "no samples"


async def run(args) -> None:
    socket_path = os.path.join(tempfile.mkdtemp(prefix="relay-bench-"), "relay.sock")
    worker = multiprocessing.get_context("spawn").Process(target=relay_process, args=(socket_path,), daemon=True)
    worker.start()
    await until(lambda: os.path.exists(socket_path), timeout=30)
    client = RelayClient()
    await client.connect(socket_path)
    print(f"machine: {os.cpu_count()} cores, load average at start {os.getloadavg()[0]:.2f}")
    try:
        for size in args.sizes:
            label = f"{size[0]}x{size[1]} @ {args.fps} fps"
            baseline = await direct(size, args.fps, args.seconds)
            print(f"{label}: direct publisher -> probe: latency {_ms(baseline)}")
            base_p50 = percentile(baseline, 50) if baseline else 0.0
            base_p95 = percentile(baseline, 95) if baseline else 0.0
            cpu_by_count = {}
            for count in args.counts:
                result = await through_relay(client, f"n{count}-{size[0]}", size, args.fps, args.seconds, receivers=count, publishers=1)
                cpu_by_count[count] = result["cpu"]
                lat = result["latencies"]
                added = f"added p50 {percentile(lat, 50) - base_p50:+.0f} ms, p95 {percentile(lat, 95) - base_p95:+.0f} ms" if lat else ""
                print(
                    f"{label}: 1 publisher, {count} receivers: relay CPU {result['cpu'] * 100:.1f} % of a core; "
                    f"fps min {result['fps_min']:.1f} mean {result['fps_mean']:.1f}; latency {_ms(lat)} ({added})"
                )
            if len(cpu_by_count) > 1:
                counts = sorted(cpu_by_count)
                slope = np.polyfit(counts, [cpu_by_count[c] for c in counts], 1)[0]
                print(f"{label}: relay CPU per receiving participant (audio + video, slope): {slope * 100:.2f} % of a core")
            if args.room_of_8:
                result = await through_relay(client, f"room8-{size[0]}", size, args.fps, args.seconds, receivers=1, publishers=8)
                lat = result["latencies"]
                added = f"added p50 {percentile(lat, 50) - base_p50:+.0f} ms, p95 {percentile(lat, 95) - base_p95:+.0f} ms" if lat else ""
                print(
                    f"{label}: room of 8 publishers + probe (56 video subscriptions + the probe's 8): relay CPU "
                    f"{result['cpu'] * 100:.1f} % of a core; live publisher's video at {result['receivers']} receivers: "
                    f"fps min {result['fps_min']:.1f} mean {result['fps_mean']:.1f}; latency {_ms(lat)} ({added})"
                )
    finally:
        print(f"load average at the end {os.getloadavg()[0]:.2f}; this process used {time.process_time():.0f} s of CPU")
        worker.terminate()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each measurement")
    parser.add_argument("--sizes", default="640x480,1280x720")
    parser.add_argument("--counts", default="1,2,4,8", help="receivers of one publisher")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--no-room-of-8", dest="room_of_8", action="store_false")
    args = parser.parse_args()
    args.sizes = [tuple(int(x) for x in s.split("x")) for s in args.sizes.split(",")]
    args.counts = [int(c) for c in args.counts.split(",")]
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
