"""Relay capacity: CPU per subscription, frame rate at every receiver, added latency.

    .venv/bin/python bench/relay.py [--seconds 10] [--sizes 640x480,1280x720] [--counts 1,2,4,8]
    bash bench/janus.sh .venv/bin/python bench/relay.py --target both   # against Janus VideoRoom

The relay runs in a process of its own (so its CPU is measured alone), driven over a Unix
socket by this process, which plays the participants with aiortc peers:

- one *live* publisher sends a loop of frames encoded once, each with its number in the loop
  painted in as a bar code, and notes when it sends each number (`StampedTrack`);
- one *probe* receiver decodes that video and reads the bar code: latency = now - when that
  frame was sent;
- the other receivers only count packets and frames, from the RTP headers past each stream's
  first packet (decoding them all, or even aiortc's receiver bookkeeping for each packet, would
  measure this machine, not the relay); they send no receiver reports, NACKs or REMB, to either
  server;
- in a room of 8 publishers, the 7 others send a pre-encoded VP8 loop (keyframe every second)
  and a pre-encoded Opus tone, and every publisher also receives the other 7, as in a ward
  round.

Added latency is the probe's latency through the relay minus a direct publisher -> probe
connection in the same conditions (both include aiortc's one-frame jitter buffer). CPU per
subscription is the slope of the relay's CPU over the number of receiving participants (each
receives the live publisher's audio and video). Prints one line per measurement.

`--target janus` (or `both`) puts Janus's VideoRoom (started by bench/janus.sh, driven over its
HTTP JSON API) in the relay's place: the same peers, the same probe and listeners, the same
baseline; Janus's CPU is read from /proc/<pid>/stat over the same interval. The live publisher
publishes to a room capped at the relay's default 1.5 Mbit/s, and each receiver subscribes to
its feed (Janus offers, the aiortc peer answers). In the room of 8 publishers each publisher
also subscribes to the other seven, on a second connection as Janus's VideoRoom wants it (the
relay sends them on the publisher's own connection). The targets alternate at each receiver
count, so both meet the same load from whatever else the machine is doing.
"""
from __future__ import annotations

import argparse
import asyncio
import fractions
import functools
import json
import multiprocessing
import os
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import av  # noqa: E402
import numpy as np  # noqa: E402
from aiortc import InvalidStateError, MediaStreamTrack  # noqa: E402
from aiortc.mediastreams import MediaStreamError  # noqa: E402

from _setup import percentile  # noqa: E402
from telemed.rtc.events import TrackInfo  # noqa: E402
from telemed.rtc.testing import Pacer, PatternTrack, Peer, now_ms, until  # noqa: E402

LOOP_FRAMES = 150
STAMPED_FRAMES = 510  # 17 s at 30 fps: a frame's number names one sending, however late it comes
LIVE_COLOUR = (200, 40, 40)


# --- the relay's process ------------------------------------------------------------------


def relay_process(socket_path: str) -> None:
    asyncio.run(_serve(socket_path))


async def _serve(socket_path: str) -> None:
    from telemed.rtc import Relay, RelayConfig, RelayError
    from telemed.rtc.events import OfferReady

    relay = Relay(RelayConfig(stats_interval=None))
    joined_through: dict[tuple[str, str], asyncio.StreamWriter] = {}  # whose connection to offer to

    def send(writer: asyncio.StreamWriter, message: dict) -> None:
        writer.write(json.dumps(message).encode() + b"\n")

    async def forward_offers() -> None:
        while True:
            event = await relay.events.get()
            writer = joined_through.get((event.room_id, getattr(event, "participant_id", "")))
            if isinstance(event, OfferReady) and writer is not None:
                tracks = {mid: [t.participant_id, t.source, t.kind] for mid, t in event.tracks.items()}
                send(writer, {"event": "offer", "room": event.room_id, "participant": event.participant_id, "sdp": event.sdp, "tracks": tracks})

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async for line in reader:
            message = json.loads(line)
            room = relay.room(message.get("room", ""))
            reply: dict = {"id": message["id"]}
            try:
                await operate(room, message, reply, writer)
            except RelayError as exc:  # e.g. an answer from a peer whose connection failed
                reply["error"] = f"{type(exc).__name__}: {exc}"
            send(writer, reply)

    async def operate(room, message: dict, reply: dict, writer) -> None:
        if message["op"] == "join":
            joined_through[(room.id, message["participant"])] = writer
            reply["answer"] = await room.join(message["participant"], message["sdp"])
        elif message["op"] == "answer":
            await room.accept_answer(message["participant"], message["sdp"])
        elif message["op"] == "close_room":
            await relay.close_room(message["room"])
        elif message["op"] == "cpu":
            reply["cpu"] = time.process_time()
        elif message["op"] == "stats":
            reply["stats"] = room.stats()

    offers = asyncio.ensure_future(forward_offers())
    server = await asyncio.start_unix_server(handle, socket_path)
    async with server:
        await server.serve_forever()
    offers.cancel()


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

    async def join(self, room: str, peer: Peer, publishers: list[str]) -> None:
        """Every participant publishes what its peer sends and receives everyone else."""
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
        try:
            answer = await peer.answer(offer["sdp"], tracks)
        except InvalidStateError:
            return  # the peer closed meanwhile (the end of a measurement)
        await self.request("answer", room=offer["room"], participant=peer.name, sdp=answer)


class JanusClient:
    """Janus's HTTP JSON API: a session, a VideoRoom handle per peer, events by long poll.
    urllib in threads: the signalling is a handful of requests, not what is measured."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.events: dict[int, asyncio.Queue] = {}
        self.peers: dict[int, Peer] = {}

    async def _call(self, path: str, message: dict | None = None) -> dict | list:
        def call():
            data = None if message is None else json.dumps({**message, "transaction": uuid.uuid4().hex}).encode()
            request = urllib.request.Request(self.url + path, data=data, headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=70) as response:
                return json.load(response)

        reply = await asyncio.to_thread(call)
        if isinstance(reply, dict) and reply.get("janus") == "error":
            raise RuntimeError(f"Janus: {reply['error']}")
        return reply

    async def connect(self) -> None:
        self.session = (await self._call("", {"janus": "create"}))["data"]["id"]
        self._tasks = [asyncio.ensure_future(self._poll()), asyncio.ensure_future(self._keep_alive())]

    async def _poll(self) -> None:
        while True:
            events = await self._call(f"/{self.session}?maxev=20")
            for event in events if isinstance(events, list) else [events]:
                if event.get("janus") == "event" and event.get("sender") in self.events:
                    self.events[event["sender"]].put_nowait(event)

    async def _keep_alive(self) -> None:
        while True:
            await asyncio.sleep(20)
            await self._call(f"/{self.session}", {"janus": "keepalive"})

    async def attach(self) -> int:
        handle = (await self._call(f"/{self.session}", {"janus": "attach", "plugin": "janus.plugin.videoroom"}))["data"]["id"]
        self.events[handle] = asyncio.Queue()
        return handle

    async def request(self, handle: int, body: dict) -> dict:
        """A synchronous VideoRoom request (create, destroy): the answer comes in the reply."""
        reply = await self._call(f"/{self.session}/{handle}", {"janus": "message", "body": body})
        data = reply["plugindata"]["data"]
        if "error" in data:
            raise RuntimeError(f"Janus VideoRoom: {data['error']}")
        return data

    async def message(self, handle: int, body: dict, jsep: dict | None = None) -> tuple[dict, dict | None]:
        """An asynchronous one (join, publish, start): acknowledged, answered by an event."""
        await self._call(f"/{self.session}/{handle}", {"janus": "message", "body": body, **({"jsep": jsep} if jsep else {})})
        event = await asyncio.wait_for(self.events[handle].get(), timeout=60)
        data = event["plugindata"]["data"]
        if "error" in data:
            raise RuntimeError(f"Janus VideoRoom: {data['error_code']} {data['error']}")
        return data, event.get("jsep")

    @staticmethod
    def feed(name: str) -> int:
        """A publisher's feed id in its room: the live publisher 1, loop-n n + 2."""
        return 1 if name == "live" else int(name.rsplit("-", 1)[1]) + 2

    async def join(self, room: int, peer: Peer, publishers: list[str]) -> Peer | None:
        """Publish (a publisher) or subscribe to every publisher (anyone else). Janus sends a
        publisher the others' media on a second connection: made here, returned to be counted
        and closed with the rest."""
        if peer.name not in publishers:
            await self._subscribe(room, peer, publishers)
            return None
        handle = await self.attach()
        self.peers[handle] = peer
        await self.message(handle, {"request": "join", "ptype": "publisher", "room": room, "id": self.feed(peer.name), "display": peer.name})
        _, jsep = await self.message(handle, {"request": "publish", "audio": True, "video": True}, {"type": "offer", "sdp": await peer.offer(), "trickle": False})
        await peer.accept(jsep["sdp"])
        others = [name for name in publishers if name != peer.name]
        if not others:
            return None
        receiving = Peer(f"{peer.name}-receiving", colour=None, tone=None, decode=False, headers_only=True)
        await self._subscribe(room, receiving, others)
        return receiving

    async def _subscribe(self, room: int, peer: Peer, publishers: list[str]) -> None:
        handle = await self.attach()
        self.peers[handle] = peer
        names = {self.feed(name): name for name in publishers}
        streams = [{"feed": feed} for feed in names]
        deadline = time.monotonic() + 60
        while True:  # the publishers, in other processes, may not have published yet
            try:
                data, jsep = await self.message(handle, {"request": "join", "ptype": "subscriber", "room": room, "streams": streams})
                break
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
        tracks = {
            s["mid"]: TrackInfo(names[s["feed_id"]], s["type"], s["type"]) for s in data["streams"] if s["type"] in ("audio", "video")
        }
        answer = await peer.answer(jsep["sdp"], tracks)
        await self.message(handle, {"request": "start"}, {"type": "answer", "sdp": answer})

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        try:
            await self._call(f"/{self.session}", {"janus": "destroy"})
        except Exception:  # the session may already be gone with Janus's own timeout
            pass


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and all its threads so far, as time.process_time() gives
    the relay's own."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class RelayTarget:
    """The relay in its own process, over the Unix socket."""

    name = "relay"

    def __init__(self, client: RelayClient, socket_path: str) -> None:
        self.client, self.endpoint = client, socket_path

    def room(self, label: str) -> str:
        return label

    async def open_room(self, room: str) -> None:
        pass  # the relay makes a room at its first join

    async def cpu(self) -> float:
        return (await self.client.request("cpu"))["cpu"]

    async def stats(self, room: str) -> dict | None:
        return (await self.client.request("stats", room=room))["stats"]

    async def close_room(self, room: str) -> None:
        await self.client.request("close_room", room=room)


class JanusTarget:
    """Janus's VideoRoom, started by bench/janus.sh."""

    name = "janus"

    def __init__(self, url: str, pid: int) -> None:
        self.endpoint, self.pid = url, pid
        self._rooms = 0

    async def connect(self) -> None:
        self.client = JanusClient(self.endpoint)
        await self.client.connect()
        self.handle = await self.client.attach()

    def room(self, label: str) -> int:
        self._rooms += 1
        return 1000 + self._rooms

    async def open_room(self, room: int) -> None:
        # The relay's default cap on a published video (RelayConfig.max_video_bitrate), sent
        # to the publisher as REMB as the relay does, so both forward about the same stream.
        await self.client.request(self.handle, {
            "request": "create", "room": room, "publishers": 8, "bitrate": 1_500_000,
            "audiocodec": "opus", "videocodec": "vp8", "permanent": False,
        })

    async def cpu(self) -> float:
        return process_cpu_seconds(self.pid)

    async def stats(self, room: int) -> dict | None:
        return None

    async def close_room(self, room: int) -> None:
        await self.client.request(self.handle, {"request": "destroy", "room": room})


class FrameTrack(MediaStreamTrack):
    """Encoded video frames, sent over and over at `fps` as packets (aiortc's sender packetizes
    them, encoding nothing): a publisher that costs this machine no encoding."""

    kind = "video"
    clock_rate = 90000

    def __init__(self, frames: list[bytes], fps: int) -> None:
        super().__init__()
        self.frames, self.fps = frames, fps
        self._pacer = Pacer(fps)

    @property
    def sent(self) -> int:
        return self._pacer.count

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        number = await self._pacer.next()
        packet = av.Packet(self.frames[number % len(self.frames)])
        packet.pts = number * self.clock_rate // self.fps
        packet.time_base = fractions.Fraction(1, self.clock_rate)
        return packet


def vp8(pictures: list[av.VideoFrame], size: tuple[int, int], fps: int) -> list[bytes]:
    """Pictures encoded once, one packet each, a keyframe every second (a publisher that cannot
    answer a keyframe request; the loop restarts on one), at about what a browser sends under
    the relay's cap: 1.3-1.5 Mbit/s at 1280x720, 0.8-1 Mbit/s at 640x480. libvpx overshoots
    its target by a quarter on these pictures, and keyframes are held to 3 frames' worth
    (max-intra-rate): unbounded, the noise picture's were 0.5 MB and doubled the bitrate. A
    negative cpu-used fixes the encoder's speed: with a positive one libvpx trades quality for
    speed when the machine is busy, and the live video encoded by a room of 8's processes, all
    starting together, came out a third smaller than when encoded alone."""
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = *size, "yuv420p"
    codec.bit_rate = 750_000 if size[0] <= 640 else 1_150_000
    codec.time_base = fractions.Fraction(1, fps)
    codec.options = {"deadline": "realtime", "cpu-used": "-6", "lag-in-frames": "0", "max-intra-rate": "300"}
    packets = []
    for n, picture in enumerate(pictures):
        picture.pts, picture.time_base = n, codec.time_base
        if n % fps == 0:
            picture.pict_type = av.video.frame.PictureType.I
        packets.extend(bytes(p) for p in codec.encode(picture))
    if len(packets) != len(pictures):
        raise RuntimeError(f"libvpx gave {len(packets)} packets for {len(pictures)} pictures")
    return packets


@functools.cache
def loop_frames(size: tuple[int, int], fps: int) -> list[bytes]:
    """The 7 other publishers' video: a moving noise picture, encoded once per process."""
    texture = np.random.default_rng(size[0]).integers(16, 235, size[::-1], dtype=np.uint8)
    return vp8([av.VideoFrame.from_ndarray(np.roll(texture, n * 4, axis=1), format="gray").reformat(format="yuv420p") for n in range(LOOP_FRAMES)], size, fps)


@functools.cache
def stamped_frames(size: tuple[int, int], fps: int) -> list[bytes]:
    """The live publisher's video, encoded once: PatternTrack's picture with each frame's number
    in the loop painted in as the bar code."""
    pattern = PatternTrack(LIVE_COLOUR, width=size[0], height=size[1], fps=fps)
    return vp8([pattern.picture(n, n) for n in range(STAMPED_FRAMES)], size, fps)


class StampedTrack(FrameTrack):
    """The live publisher's video: `stamped_frames`, noting in `sent_ms` (shared with the probe's
    process) when each frame number was last sent. The probe reads the number from the decoded
    picture and looks up the send time, so latency is measured as with a send time painted in,
    without a 1280x720 encoder in the room: it took two thirds of this machine's second core, and
    a room of 8 then measured the benchmark's own processes."""

    def __init__(self, frames: list[bytes], fps: int, sent_ms) -> None:
        super().__init__(frames, fps)
        self.sent_ms = sent_ms

    async def recv(self) -> av.Packet:
        packet = await super().recv()
        self.sent_ms[(self.sent - 1) % len(self.frames)] = now_ms()
        return packet


def sent_at(sent_ms):
    """The probe's lookup: when the frame whose number it decoded was sent (None: never, or a
    number misread)."""
    return lambda number: (sent_ms[number] or None) if number < len(sent_ms) else None


class ToneLoopTrack(FrameTrack):
    """Pre-encoded Opus, a 440 Hz tone in 20 ms packets: a publisher's audio, encoding nothing."""

    kind = "audio"
    clock_rate = 48000

    def __init__(self) -> None:
        codec = av.CodecContext.create("libopus", "w")
        codec.sample_rate, codec.layout, codec.format, codec.bit_rate = 48000, "stereo", "s16", 64000
        codec.time_base = fractions.Fraction(1, 48000)
        tone = (np.sin(2 * np.pi * 440 * np.arange(48000) / 48000) * 8000).astype(np.int16)
        packets = []
        for n in range(50):
            frame = av.AudioFrame.from_ndarray(np.repeat(tone[n * 960 : (n + 1) * 960], 2).reshape(1, -1), format="s16", layout="stereo")
            frame.sample_rate, frame.pts = 48000, n * 960
            packets.extend(bytes(p) for p in codec.encode(frame))
        super().__init__(packets, fps=50)


# Every peer but the probe's decoding counts what it receives from RTP headers: hundreds of
# packets a second through aiortc's receiver (statistics, NACK and bandwidth bookkeeping)
# loaded this machine's two cores more than the relay did in a room of 8.
def live_publisher(name: str, size: tuple[int, int], fps: int, sent_ms) -> Peer:
    peer = Peer(name, colour=None, tone=440, decode=False, headers_only=True)
    peer.pc.addTrack(StampedTrack(stamped_frames(size, fps), fps, sent_ms))
    return peer


def probe(name: str, sent_ms, decode: bool | set[str] = frozenset({"live"})) -> Peer:
    """Decodes the live publisher's media only (in a room of 8, decoding all would load the
    benchmark's processes, not the relay)."""
    return Peer(name, colour=None, tone=None, decode=decode, measure_latency=True, sent_at=sent_at(sent_ms), headers_only=True)


def make_peer(name: str, role: str, size: tuple[int, int], fps: int, sent_ms) -> Peer:
    if role == "live":
        return live_publisher(name, size, fps, sent_ms)
    if role == "probe":
        return probe(name, sent_ms)
    if role == "loop":
        peer = Peer(name, colour=None, tone=None, decode=False, headers_only=True)
        peer.pc.addTrack(ToneLoopTrack())
        peer.pc.addTrack(FrameTrack(loop_frames(size, fps), fps))
        return peer
    return Peer(name, colour=None, tone=None, decode=False, headers_only=True)


def receives_live(name: str, target: str, publishers: list[str]) -> bool:
    if target == "janus":  # a publisher's own connection only sends; its "-receiving" one gets the others
        return name not in publishers and name != "live-receiving"
    return name != "live"


def reset(peers: list[Peer]) -> None:
    for peer in peers:
        for reception in peer.receptions.values():
            reception.frames = 0
            reception.packets = 0
            reception.latencies_ms.clear()


# --- the participants' processes ------------------------------------------------------------


def peers_process(target: str, endpoint: str, room, specs: list[tuple[str, str]], publishers: list[str], size, fps: int, sent_ms, conn) -> None:
    asyncio.run(_peers(target, endpoint, room, specs, publishers, tuple(size), fps, sent_ms, conn))


async def _peers(target: str, endpoint: str, room, specs, publishers: list[str], size, fps: int, sent_ms, conn) -> None:
    """Some of a room's participants, driven by the parent through `conn`: status (frames of the
    live video so far, per receiver), reset, report (rates, latencies, this process's CPU), close."""
    if target == "janus":
        client = JanusClient(endpoint)
        await client.connect()
    else:
        client = RelayClient()
        await client.connect(endpoint)
    peers = [make_peer(name, role, size, fps, sent_ms) for name, role in specs]
    # At once: in Janus a publisher's subscription waits for publishers joining after it here.
    joined = await asyncio.gather(*(client.join(room, peer, publishers) for peer in peers))
    peers += [receiving for receiving in joined if receiving is not None]
    receivers = [p for p in peers if receives_live(p.name, target, publishers)]
    loop = asyncio.get_running_loop()
    started, cpu = time.monotonic(), time.process_time()
    while True:
        command = await loop.run_in_executor(None, conn.recv)
        if command == "status":
            conn.send({p.name: (r.frames if (r := p.reception_from("live", "video")) else 0) for p in receivers})
        elif command == "reset":
            reset(peers)
            started, cpu = time.monotonic(), time.process_time()
            conn.send(True)
        elif command == "report":
            elapsed = time.monotonic() - started
            conn.send(
                {
                    "fps": [(r.frames if (r := p.reception_from("live", "video")) else 0) / elapsed for p in receivers],
                    "latencies": [x for p in peers if (r := p.reception_from("live", "video")) for x in r.latencies_ms],
                    "cpu": (time.process_time() - cpu) / elapsed,
                    # counted by the listeners only (the probe decodes): how big a stream was forwarded
                    "pps": [r.packets / elapsed for p in receivers if (r := p.reception_from("live", "video")) and r.packets],
                    "audio_pps": [r.packets / elapsed for p in receivers if (r := p.reception_from("live", "audio")) and r.packets],
                }
            )
        elif command == "close":
            await asyncio.gather(*(p.close() for p in peers))
            if target == "janus":
                await client.close()
            conn.send(True)
            return


class PeerProcesses:
    """A room's participants spread over processes: the live publisher alone in one (its encoder
    must keep up), the probe alone in another (a decoder sharing a busy process falls behind,
    and its latency would be the process's), the others round-robin in the rest."""

    def __init__(self, target: str, endpoint: str, room, specs, size, fps: int, processes: int) -> None:
        publishers = [name for name, role in specs if role in ("live", "loop")]
        alone = [[spec] for spec in specs if spec[1] in ("live", "probe")]
        others = [spec for spec in specs if spec[1] not in ("live", "probe")]
        shared = max(processes - len(alone), 1)
        groups = alone + [others[i::shared] for i in range(shared)]
        context = multiprocessing.get_context("spawn")
        sent_ms = context.Array("q", STAMPED_FRAMES, lock=False)  # the live publisher's, read by the probe
        self.pipes, self.workers = [], []
        for group in filter(None, groups):
            parent, child = context.Pipe()
            worker = context.Process(target=peers_process, args=(target, endpoint, room, group, publishers, size, fps, sent_ms, child), daemon=True)
            worker.start()
            self.pipes.append(parent)
            self.workers.append(worker)

    async def ask(self, command: str) -> list:
        loop = asyncio.get_running_loop()
        for pipe in self.pipes:
            pipe.send(command)
        return [await loop.run_in_executor(None, pipe.recv) for pipe in self.pipes]

    async def close(self) -> None:
        await self.ask("close")
        for worker in self.workers:
            worker.join(10)


async def direct(size: tuple[int, int], fps: int, seconds: float) -> list[int]:
    """The baseline: publisher straight to the probe, no relay, in this process."""
    sent_ms = [0] * STAMPED_FRAMES
    sender, receiver = live_publisher("direct-sender", size, fps, sent_ms), probe("direct-probe", sent_ms, decode=True)
    try:
        await sender.accept(await receiver.answer(await sender.offer()))
        await until(lambda: any(r.kind == "video" and r.frames > fps for r in receiver.receptions.values()), timeout=30)
        await asyncio.sleep(2)
        reset([receiver])
        await asyncio.sleep(seconds)
        return [x for r in receiver.receptions.values() for x in r.latencies_ms]
    finally:
        await asyncio.gather(sender.close(), receiver.close())


async def through_relay(
    target: RelayTarget | JanusTarget, label: str, size, fps: int, seconds: float, *, receivers: int, publishers: int, processes: int
) -> dict:
    specs = [("live", "live")] + [(f"loop-{n}", "loop") for n in range(publishers - 1)]
    specs += [("probe", "probe")] + [(f"listener-{n}", "listener") for n in range(receivers - 1)]
    room = target.room(label)
    await target.open_room(room)
    peers = PeerProcesses(target.name, target.endpoint, room, specs, size, fps, processes)
    try:
        deadline = time.monotonic() + 180
        while True:
            frames = {name: n for status in await peers.ask("status") for name, n in status.items()}
            if frames and all(frames.values()):
                break
            if time.monotonic() > deadline:
                missing = [n for n, f in frames.items() if not f]
                stats = await target.stats(room) or {}
                for name in missing:
                    print(f"{name}: relay says {stats.get(name)}")
                raise TimeoutError(f"no live video after 180 s at {missing}")
            await asyncio.sleep(1)
        await asyncio.sleep(3)
        await peers.ask("reset")
        relay_cpu, started = await target.cpu(), time.monotonic()
        before = await target.stats(room)
        await asyncio.sleep(seconds)
        reports = await peers.ask("report")
        after = await target.stats(room)
        elapsed = time.monotonic() - started
        relay_cpu = (await target.cpu() - relay_cpu) / elapsed
        rates = [rate for report in reports for rate in report["fps"]]
        received = sent = 0
        if before is not None and after is not None:
            received = video_packets(after, "publishing") - video_packets(before, "publishing")
            sent = [video_packets(after, "receiving", p) - video_packets(before, "receiving", p) for p in after if p != "live"]
        return {
            "forwarded": sum(sent) / len(sent) / received if received else 0.0,
            "relay_in_pps": received / elapsed,
            "cpu": relay_cpu,
            "peers_cpu": sum(r["cpu"] for r in reports),
            "listener_pps": [x for report in reports for x in report["pps"]],
            "listener_audio_pps": [x for report in reports for x in report["audio_pps"]],
            "fps_min": min(rates),
            "fps_mean": sum(rates) / len(rates),
            "latencies": [x for report in reports for x in report["latencies"]],
            "receivers": len(rates),
        }
    finally:
        await peers.close()
        await target.close_room(room)


def video_packets(stats: dict, side: str, participant: str = "live", publisher: str = "live") -> int:
    """Packets of a publisher's video the relay received from it (publishing) or sent to one
    participant (receiving), from `Room.stats()`."""
    figures = stats.get(participant, {}).get(side, {})
    return (figures.get("video") or figures.get(f"{publisher}/video") or {}).get("packets", 0)


async def _or_failure(measurement, label: str) -> dict | None:
    """A measurement the machine could not complete is reported, and the others still run."""
    try:
        return await measurement
    except (TimeoutError, RuntimeError, KeyError) as exc:
        print(f"{label}: not measured: {exc}")
        return None


def _pps(rates: list[float]) -> str:
    return f"video at a listener {sum(rates) / len(rates):.0f} packets/s; " if rates else ""


def _ms(values: list[int]) -> str:
    return f"p50 {percentile(values, 50):.0f} ms, p95 {percentile(values, 95):.0f} ms" if values else "no samples"


async def run(args) -> None:
    targets: list[RelayTarget | JanusTarget] = []
    worker = None
    if args.target in ("relay", "both"):
        socket_path = os.path.join(tempfile.mkdtemp(prefix="relay-bench-"), "relay.sock")
        worker = multiprocessing.get_context("spawn").Process(target=relay_process, args=(socket_path,), daemon=True)
        worker.start()
        await until(lambda: os.path.exists(socket_path), timeout=30)
        client = RelayClient()
        await client.connect(socket_path)
        targets.append(RelayTarget(client, socket_path))
    if args.target in ("janus", "both"):
        if not os.environ.get("JANUS_URL"):
            raise SystemExit("--target janus needs JANUS_URL and JANUS_PID: run under bench/janus.sh")
        janus = JanusTarget(os.environ["JANUS_URL"], int(os.environ["JANUS_PID"]))
        await janus.connect()
        targets.append(janus)
    print(f"machine: {os.cpu_count()} cores, load average at start {os.getloadavg()[0]:.2f}")
    try:
        for size in args.sizes:
            label = f"{size[0]}x{size[1]} @ {args.fps} fps"
            baseline = await direct(size, args.fps, args.seconds)
            print(f"{label}: direct publisher -> probe: latency {_ms(baseline)}")
            base_p50 = percentile(baseline, 50) if baseline else 0.0
            base_p95 = percentile(baseline, 95) if baseline else 0.0
            # Alternating the targets at each count puts both under the same load of the day.
            cpu_by_count: dict[str, dict[int, float]] = {t.name: {} for t in targets}
            packet_rates: dict[str, list[float]] = {t.name: [] for t in targets}
            for count in args.counts:
                for target in targets:
                    result = await _or_failure(through_relay(
                        target, f"n{count}-{size[0]}", size, args.fps, args.seconds,
                        receivers=count, publishers=1, processes=args.processes,
                    ), f"{label}: {target.name}: 1 publisher, {count} receivers")
                    if result is None:
                        continue
                    cpu_by_count[target.name][count] = result["cpu"]
                    if result["listener_pps"] and result["listener_audio_pps"]:
                        packet_rates[target.name].append(np.mean(result["listener_pps"]) + np.mean(result["listener_audio_pps"]))
                    lat = result["latencies"]
                    added = f"added p50 {percentile(lat, 50) - base_p50:+.0f} ms, p95 {percentile(lat, 95) - base_p95:+.0f} ms" if lat else ""
                    print(
                        f"{label}: {target.name}: 1 publisher, {count} receivers: {target.name} CPU {result['cpu'] * 100:.1f} % of a core; "
                        f"fps min {result['fps_min']:.1f} mean {result['fps_mean']:.1f}; latency {_ms(lat)} ({added}); "
                        f"{_pps(result['listener_pps'])}the peers used {result['peers_cpu'] * 100:.0f} %; load average {os.getloadavg()[0]:.2f}"
                    )
            for target in targets:
                by_count, rates = cpu_by_count[target.name], packet_rates[target.name]
                if len(by_count) > 1:
                    counts = sorted(by_count)
                    slope = np.polyfit(counts, [by_count[c] for c in counts], 1)[0]
                    # The two servers' publishers may settle at different bitrates: per packet compares the work.
                    per_packet = f"; {slope / np.mean(rates) * 1e6:.1f} µs per forwarded packet ({np.mean(rates):.0f} packets/s a receiver)" if rates else ""
                    print(f"{label}: {target.name}: CPU per receiving participant (audio + video, slope): {slope * 100:.2f} % of a core{per_packet}")
            for target in targets if args.room_of_8 else []:
                result = await _or_failure(through_relay(
                    target, f"room8-{size[0]}", size, args.fps, args.seconds,
                    receivers=1, publishers=8, processes=args.processes,
                ), f"{label}: {target.name}: room of 8 publishers")
                if result is None:
                    continue
                lat = result["latencies"]
                added = f"added p50 {percentile(lat, 50) - base_p50:+.0f} ms, p95 {percentile(lat, 95) - base_p95:+.0f} ms" if lat else ""
                forwarded = (
                    f"; the relay got {result['relay_in_pps']:.0f} packets/s of the live video and forwarded "
                    f"{result['forwarded'] * 100:.0f} % of them to each receiver" if target.name == "relay" else ""
                )
                print(
                    f"{label}: {target.name}: room of 8 publishers + a probe (64 video subscriptions): {target.name} CPU "
                    f"{result['cpu'] * 100:.1f} % of a core; live publisher's video at {result['receivers']} receivers: "
                    f"fps min {result['fps_min']:.1f} mean {result['fps_mean']:.1f}; latency {_ms(lat)} ({added}); "
                    f"{_pps(result['listener_pps'])}the peers used {result['peers_cpu'] * 100:.0f} %{forwarded}"
                )
    finally:
        print(f"load average at the end {os.getloadavg()[0]:.2f}")
        if worker is not None:
            worker.terminate()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each measurement")
    parser.add_argument("--sizes", default="640x480,1280x720")
    parser.add_argument("--counts", default="1,2,4,8", help="receivers of one publisher")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--no-room-of-8", dest="room_of_8", action="store_false")
    parser.add_argument("--processes", type=int, default=4, help="processes playing the participants")
    parser.add_argument("--target", choices=("relay", "janus", "both"), default="relay", help="janus/both: under bench/janus.sh")
    args = parser.parse_args()
    args.sizes = [tuple(int(x) for x in s.split("x")) for s in args.sizes.split(",")]
    args.counts = [int(c) for c in args.counts.split(",") if c]
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
