// The video call page: pre-call check, lobby, the call through the relay, chat, host actions,
// quality figures and automatic reconnection. Plain ES module; texts come from the page
// (json_script "call-strings") in the user's language.

import { format } from "../../telemed/js/format.js";

const root = document.getElementById("call");
const T = JSON.parse(document.getElementById("call-strings").textContent);
const $ = (id) => document.getElementById(id);

// Close codes the server uses (telemed/video/services/admission.py): these end the call for good.
const FINAL_CODES = { 4401: T.closed_signed_out, 4403: T.closed_forbidden, 4404: T.closed_no_room, 4408: T.closed_expired, 4409: T.closed_replaced, 4410: T.closed_ended, 4425: T.closed_too_early, 1009: T.closed_too_big };
const RECONNECT_DELAYS = [500, 1000, 2000, 4000, 8000];
const GATHER_TIMEOUT = 4000;
const STATS_EVERY = 2000;
const SUMMARY_EVERY = 10000;

const state = {
  token: root.dataset.token,
  ws: null, pc: null, seat: null, host: false, iceServers: [],
  local: null, screen: null, sources: {}, tracks: {}, people: new Map(),
  audioOnly: false, muted: false, cameraOff: false, leaving: false, attempts: 0,
  pendingServerOffer: null, summary: newSummary(), lastStats: new Map(),
};

function newSummary() {
  return { samples: 0, seconds: 0, rtt_ms: 0, loss_pct: 0, bitrate_in_kbps: 0, bitrate_out_kbps: 0, fps: 0, freezes: 0, freeze_seconds: 0, audio_only_seconds: 0, frames_decoded: 0, jitter_ms: 0 };
}

function show(id, visible) { $(id).hidden = !visible; }
function status(text, warn = false) {
  const el = $("status");
  el.textContent = text || "";
  el.hidden = !text;
  el.classList.toggle("warn", warn);
}

// --- Pre-call check -------------------------------------------------------------------------

async function startPreview() {
  const constraints = {
    audio: $("mic-select").value ? { deviceId: { exact: $("mic-select").value } } : true,
    video: $("start-audio-only").checked ? false : ($("camera-select").value ? { deviceId: { exact: $("camera-select").value } } : { width: 640, height: 480 }),
  };
  if (state.local) state.local.getTracks().forEach((t) => t.stop());
  try {
    state.local = await navigator.mediaDevices.getUserMedia(constraints);
    $("device-problem").hidden = true;
  } catch (error) {
    state.local = new MediaStream();
    $("device-problem").textContent = format(T.device_problem, { reason: error.name });
    $("device-problem").hidden = false;
  }
  $("preview").srcObject = state.local;
  meterMicrophone(state.local);
  await listDevices();
}

async function listDevices() {
  const devices = await navigator.mediaDevices.enumerateDevices();
  const fill = (select, kind) => {
    const chosen = select.value;
    select.replaceChildren(...devices.filter((d) => d.kind === kind).map((d, i) => new Option(d.label || `${kind} ${i + 1}`, d.deviceId)));
    if (chosen) select.value = chosen;
  };
  fill($("camera-select"), "videoinput");
  fill($("mic-select"), "audioinput");
  fill($("speaker-select"), "audiooutput");
}

let meterContext = null;
function meterMicrophone(stream) {
  if (!stream.getAudioTracks().length) return;
  meterContext = meterContext || new AudioContext();
  const analyser = meterContext.createAnalyser();
  meterContext.createMediaStreamSource(stream).connect(analyser);
  const data = new Uint8Array(analyser.fftSize);
  const tick = () => {
    analyser.getByteTimeDomainData(data);
    const peak = data.reduce((m, v) => Math.max(m, Math.abs(v - 128)), 0) / 128;
    $("mic-level").value = peak;
    if (!$("precheck").hidden) requestAnimationFrame(tick);
  };
  tick();
}

function playTestSound() {
  const context = new AudioContext();
  const destination = context.createMediaStreamDestination();
  const tone = context.createOscillator();
  tone.frequency.value = 660;
  tone.connect(destination);
  tone.start();
  tone.stop(context.currentTime + 0.6);
  const audio = new Audio();
  audio.srcObject = destination.stream;
  if (audio.setSinkId && $("speaker-select").value) audio.setSinkId($("speaker-select").value).catch(() => {});
  audio.play();
}

function checkConnection() {
  const started = performance.now();
  const ws = new WebSocket(wsUrl());
  ws.onopen = () => ws.send(JSON.stringify({ type: "ping" }));
  ws.onmessage = () => {
    $("check-connection").textContent = format(T.connection_ok, { ms: Math.round(performance.now() - started) });
    ws.close();
  };
  ws.onerror = () => { $("check-connection").textContent = T.connection_failed; };
}

// --- Signalling ---------------------------------------------------------------------------------

function wsUrl() {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${root.dataset.ws}`;
}

function send(message) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(message));
}

function connect() {
  const ws = new WebSocket(wsUrl());
  state.ws = ws;
  ws.onopen = () => send({ type: "join", token: state.token });
  ws.onmessage = (event) => handle(JSON.parse(event.data));
  ws.onclose = (event) => {
    if (ws !== state.ws || state.leaving) return;
    if (FINAL_CODES[event.code]) return endCall(FINAL_CODES[event.code]);
    reconnect();
  };
}

const handlers = {
  lobby(m) {
    show("precheck", false); show("stage", false); show("lobby", true);
    state.seat = m.seat;
    renderExperts($("lobby-experts"), m.experts);
  },
  async joined(m) {
    state.seat = m.seat; state.host = m.host; state.iceServers = m.ice_servers; state.attempts = 0;
    $("consent").checked = m.consented;
    $("record").hidden = !m.host;
    showRecording(m.recording);
    show("precheck", false); show("lobby", false); show("stage", true); status("");
    $("chat-log").replaceChildren();
    m.chat.forEach(addChat);
    renderRoster(m);
    await startMedia();
  },
  roster(m) { renderRoster(m); if (!$("lobby").hidden) renderExperts($("lobby-experts"), m.experts); },
  refused(m) { endCall(m.error); },
  error(m) { status(m.error, true); },
  token(m) { state.token = m.token; },
  answer(m) { state.pc && state.pc.setRemoteDescription({ type: "answer", sdp: m.sdp }).catch((e) => status(e.message, true)); },
  offer(m) { answerServerOffer(m); },
  offer_conflict() { /* the relay's offer arrives next; we answer it and offer again then */ state.reofferAfterAnswer = true; },
  chat(m) { addChat(m); },
  mute(m) { const p = state.people.get(m.seat); if (p) { p.audio = m.audio; p.video = m.video; drawTile(m.seat); } },
  audio_only(m) { const p = state.people.get(m.seat); if (p) { p.audioOnly = m.on; drawTile(m.seat); } },
  recording(m) { showRecording(m.on); if (m.reason) status(m.reason, true); },
  pong() {},
};

function showRecording(on) {
  state.recording = on;
  $("rec-indicator").hidden = !on;
  toggle("record", on, T.stop_recording, T.record);
}

function handle(message) {
  const handler = handlers[message.kind];
  if (handler) handler(message);
}

// --- Media through the relay -------------------------------------------------------------------

function waitForIce(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { if (pc.iceGatheringState === "complete") { pc.removeEventListener("icegatheringstatechange", done); resolve(); } };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, GATHER_TIMEOUT);
  });
}

async function startMedia() {
  if (state.pc) state.pc.close();
  const pc = new RTCPeerConnection({ iceServers: state.iceServers, bundlePolicy: "max-bundle" });
  state.pc = pc;
  state.sources = {};
  for (const track of state.local.getTracks()) {
    const transceiver = pc.addTransceiver(track, { direction: "sendonly", streams: [state.local] });
    transceiver.label = track.kind;
  }
  if (state.screen) pc.addTransceiver(state.screen.getVideoTracks()[0], { direction: "sendonly" }).label = "screen";
  pc.ontrack = (event) => attachRemote(event.transceiver.mid, event.track);
  pc.onconnectionstatechange = () => {
    if (pc !== state.pc) return;
    if (pc.connectionState === "failed") reconnect();
    if (pc.connectionState === "disconnected") setTimeout(() => { if (pc === state.pc && pc.connectionState === "disconnected") reconnect(); }, 3000);
  };
  await sendOffer();
  if (state.audioOnly) send({ type: "audio_only", on: true });
}

async function sendOffer() {
  const pc = state.pc;
  await pc.setLocalDescription(await pc.createOffer());
  await waitForIce(pc);
  const sources = {};
  for (const t of pc.getTransceivers()) if (t.label && t.mid !== null) sources[t.mid] = t.label;
  send({ type: "offer", sdp: pc.localDescription.sdp, sources });
}

async function answerServerOffer(message) {
  const pc = state.pc;
  if (!pc) return;
  Object.assign(state.tracks, message.tracks);
  if (pc.signalingState !== "stable") await pc.setLocalDescription({ type: "rollback" });
  await pc.setRemoteDescription({ type: "offer", sdp: message.sdp });
  await pc.setLocalDescription(await pc.createAnswer());
  await waitForIce(pc);
  send({ type: "answer", sdp: pc.localDescription.sdp });
  for (const t of pc.getTransceivers()) if (t.currentDirection === "inactive" && state.tracks[t.mid]) removeRemote(t.mid);
  if (state.reofferAfterAnswer) { state.reofferAfterAnswer = false; await sendOffer(); }
}

function attachRemote(mid, track) {
  const info = state.tracks[mid];
  if (!info) return;
  const person = state.people.get(info.seat) || { id: info.seat, name: "", media: {} };
  person.media = person.media || {};
  person.media[info.source] = track;
  state.people.set(info.seat, person);
  track.onended = () => removeRemote(mid);
  drawTile(info.seat);
}

function removeRemote(mid) {
  const info = state.tracks[mid];
  if (!info) return;
  const person = state.people.get(info.seat);
  if (person && person.media) delete person.media[info.source];
  drawTile(info.seat);
}

// --- Tiles, people and chat ------------------------------------------------------------------

function renderRoster(m) {
  const list = $("people");
  list.replaceChildren();
  const seen = new Set();
  for (const p of m.people) {
    seen.add(p.id);
    const person = Object.assign(state.people.get(p.id) || { media: {} }, p);
    state.people.set(p.id, person);
    const item = document.createElement("li");
    item.textContent = `${p.name} · ${p.role}${p.institution ? " · " + p.institution : ""}${p.id === state.seat ? " " + T.you : ""}${p.state === "waiting" ? " — " + T.waiting : ""}`;
    if (state.host && p.id !== state.seat) {
      if (p.state === "waiting") item.append(" ", button(T.admit, () => send({ type: "admit", seat: p.id }), "primary"));
      item.append(" ", button(p.state === "waiting" ? T.turn_away : T.remove, () => send({ type: "remove", seat: p.id }), "danger"));
    }
    list.append(item);
  }
  for (const id of [...state.people.keys()]) if (!seen.has(id)) { state.people.delete(id); document.querySelector(`[data-seat="${id}"]`)?.remove(); }
  for (const p of m.people) if (p.state === "in_room") drawTile(p.id);
  const absent = m.experts.filter((e) => e.state !== "here");
  $("waiting-experts").hidden = !absent.length;
  renderExperts($("waiting-experts"), absent);
}

function renderExperts(target, experts) {
  target.replaceChildren(...experts.map((e) => {
    const item = document.createElement(target.tagName === "UL" ? "li" : "p");
    item.textContent = `${e.name}: ${format(T["expert_" + e.state], { n: e.wait_minutes })}`;
    return item;
  }));
}

function button(text, onclick, cls = "") {
  const b = document.createElement("button");
  b.type = "button"; b.textContent = text; b.className = cls; b.onclick = onclick;
  return b;
}

function drawTile(id) {
  const person = state.people.get(id);
  if (!person || person.state === "waiting") return;
  let tile = document.querySelector(`[data-seat="${id}"]`);
  if (!tile) {
    tile = document.createElement("figure");
    tile.className = "tile";
    tile.dataset.seat = id;
    tile.innerHTML = '<video autoplay playsinline></video><video class="screen" autoplay playsinline hidden></video><audio autoplay></audio><figcaption><span class="name"></span> <span class="flags"></span> <span class="quality" title=""></span></figcaption>';
    $("tiles").append(tile);
  }
  const mine = id === state.seat;
  const [video, screen] = tile.querySelectorAll("video");
  const media = person.media || {};
  const camera = mine ? state.local : streamOf(media.video);
  if (video.srcObject !== camera) video.srcObject = camera;
  video.muted = true;
  const shared = mine ? state.screen : streamOf(media.screen);
  screen.hidden = !shared;
  if (screen.srcObject !== shared) screen.srcObject = shared;
  const audio = tile.querySelector("audio");
  const sound = mine ? null : streamOf(media.audio);
  if (audio.srcObject !== sound) {
    audio.srcObject = sound;
    if (audio.setSinkId && $("speaker-select").value) audio.setSinkId($("speaker-select").value).catch(() => {});
  }
  tile.querySelector(".name").textContent = `${person.name || ""}${mine ? " " + T.you : ""} · ${person.role || ""}${person.institution ? " · " + person.institution : ""}`;
  const flags = [];
  if (person.audio === false) flags.push(T.flag_muted);
  if (person.video === false) flags.push(T.flag_camera_off);
  if (person.audioOnly) flags.push(T.flag_audio_only);
  tile.querySelector(".flags").textContent = flags.join(" · ");
  tile.classList.toggle("no-video", !camera || person.video === false || state.audioOnly);
}

function streamOf(track) { return track ? new MediaStream([track]) : null; }

function addChat(m) {
  const item = document.createElement("li");
  const time = new Date(m.at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  item.textContent = `${time} ${m.from}: ${m.text}`;
  $("chat-log").append(item);
  item.scrollIntoView({ block: "nearest" });
}

// --- Controls ------------------------------------------------------------------------------------

function toggle(id, on, onText, offText) {
  const b = $(id);
  b.setAttribute("aria-pressed", String(on));
  b.textContent = on ? onText : offText;
}

function announceMute() {
  send({ type: "mute", audio: !state.muted, video: !state.cameraOff });
}

async function toggleScreen() {
  if (state.screen) {
    state.screen.getTracks().forEach((t) => t.stop());
    const t = state.pc.getTransceivers().find((x) => x.label === "screen");
    if (t) { t.sender.replaceTrack(null); t.direction = "inactive"; t.label = null; }
    state.screen = null;
  } else {
    try {
      state.screen = await navigator.mediaDevices.getDisplayMedia({ video: true });
    } catch (error) {
      return status(format(T.share_failed, { reason: error.name }), true);
    }
    state.screen.getVideoTracks()[0].onended = () => { if (state.screen) toggleScreen(); };
    state.pc.addTransceiver(state.screen.getVideoTracks()[0], { direction: "sendonly" }).label = "screen";
  }
  toggle("share", !!state.screen, T.stop_share, T.share);
  drawTile(state.seat);
  await sendOffer();
}

function bindControls() {
  $("join").onclick = async () => { show("precheck", false); status(T.joining); await state.previewReady; connect(); };
  $("speaker-test").onclick = playTestSound;
  for (const id of ["camera-select", "mic-select", "start-audio-only"]) $(id).onchange = startPreview;
  $("mute").onclick = () => {
    state.muted = !state.muted;
    state.local.getAudioTracks().forEach((t) => (t.enabled = !state.muted));
    toggle("mute", state.muted, T.unmute, T.mute);
    announceMute();
  };
  $("camera").onclick = () => {
    state.cameraOff = !state.cameraOff;
    state.local.getVideoTracks().forEach((t) => (t.enabled = !state.cameraOff));
    toggle("camera", state.cameraOff, T.camera_on, T.camera_off);
    announceMute();
  };
  $("share").onclick = toggleScreen;
  $("consent").onchange = () => send({ type: "consent", on: $("consent").checked });
  $("record").onclick = () => send({ type: "record", on: !state.recording });
  $("audio-only").onclick = () => {
    state.audioOnly = !state.audioOnly;
    toggle("audio-only", state.audioOnly, T.video_on, T.audio_only);
    send({ type: "audio_only", on: state.audioOnly });
    document.querySelectorAll(".tile").forEach((tile) => tile.classList.toggle("no-video", state.audioOnly));
  };
  $("leave").onclick = () => { send({ type: "leave" }); endCall(T.you_left); };
  $("chat-form").onsubmit = (event) => {
    event.preventDefault();
    const text = $("chat-text").value.trim();
    if (text) send({ type: "chat", text });
    $("chat-text").value = "";
  };
}

// --- Quality: getStats every 2 s, a summary to the server every 10 s ------------------------------

async function sampleStats() {
  const pc = state.pc;
  if (!pc || pc.connectionState !== "connected") return;
  const report = await pc.getStats();
  const now = performance.now();
  let rtt = 0, lost = 0, received = 0, bytesIn = 0, bytesOut = 0, fps = 0, freezes = 0, freezeSeconds = 0, decoded = 0, jitter = 0;
  report.forEach((s) => {
    if (s.type === "candidate-pair" && s.nominated && s.currentRoundTripTime !== undefined) rtt = s.currentRoundTripTime * 1000;
    if (s.type === "inbound-rtp") {
      lost += s.packetsLost || 0; received += s.packetsReceived || 0; bytesIn += s.bytesReceived || 0;
      jitter = Math.max(jitter, (s.jitter || 0) * 1000);
      if (s.kind === "video") {
        fps = Math.max(fps, s.framesPerSecond || 0); freezes += s.freezeCount || 0;
        freezeSeconds += s.totalFreezesDuration || 0; decoded += s.framesDecoded || 0;
        drawQuality(s);
      }
    }
    if (s.type === "outbound-rtp") bytesOut += s.bytesSent || 0;
  });
  const last = state.lastStats.get("all");
  state.lastStats.set("all", { now, bytesIn, bytesOut });
  if (!last) return;
  const seconds = (now - last.now) / 1000;
  const s = state.summary;
  const n = s.samples + 1;
  const avg = (old, value) => old + (value - old) / n;
  s.rtt_ms = avg(s.rtt_ms, rtt);
  s.loss_pct = received + lost ? (100 * lost) / (received + lost) : 0;
  s.bitrate_in_kbps = avg(s.bitrate_in_kbps, (8 * (bytesIn - last.bytesIn)) / seconds / 1000);
  s.bitrate_out_kbps = avg(s.bitrate_out_kbps, (8 * (bytesOut - last.bytesOut)) / seconds / 1000);
  s.fps = avg(s.fps, fps);
  s.jitter_ms = avg(s.jitter_ms, jitter);
  s.freezes = freezes; s.freeze_seconds = freezeSeconds; s.frames_decoded = decoded;
  s.seconds += seconds; s.samples = n;
  if (state.audioOnly) s.audio_only_seconds += seconds;
  drawOwnQuality(rtt, s.loss_pct);
}

function drawQuality(inbound) {
  const info = Object.values(state.tracks).find((t) => t.kind === "video" && inbound.trackIdentifier && state.pc.getReceivers().some((r) => r.track.id === inbound.trackIdentifier));
  if (!info) return;
  const tile = document.querySelector(`[data-seat="${info.seat}"] .quality`);
  if (tile) tile.textContent = format(T.fps, { n: Math.round(inbound.framesPerSecond || 0) });
}

function drawOwnQuality(rtt, loss) {
  const level = loss > 5 || rtt > 400 ? "poor" : loss > 1 || rtt > 150 ? "fair" : "good";
  const mine = document.querySelector(`[data-seat="${state.seat}"] .quality`);
  if (mine) { mine.textContent = T["quality_" + level]; mine.title = format(T.quality_detail, { rtt: Math.round(rtt), loss: loss.toFixed(1) }); mine.dataset.level = level; }
}

function sendSummary() {
  if (state.summary.samples) send({ type: "stats", summary: Object.fromEntries(Object.entries(state.summary).map(([k, v]) => [k, Math.round(v * 10) / 10])) });
}

// --- Reconnection and the end ---------------------------------------------------------------------

function reconnect() {
  if (state.leaving || state.reconnecting) return;
  state.reconnecting = true;
  status(T.reconnecting, true);
  if (state.pc) { state.pc.close(); state.pc = null; }
  const old = state.ws;
  state.ws = null;
  if (old) old.close();
  const delay = RECONNECT_DELAYS[Math.min(state.attempts++, RECONNECT_DELAYS.length - 1)];
  setTimeout(() => { state.reconnecting = false; connect(); }, delay);
}

function endCall(reason) {
  state.leaving = true;
  if (state.pc) state.pc.close();
  if (state.ws) state.ws.close();
  if (state.local) state.local.getTracks().forEach((t) => t.stop());
  if (state.screen) state.screen.getTracks().forEach((t) => t.stop());
  show("stage", false); show("lobby", false); show("precheck", false);
  status(reason, true);
}

window.addEventListener("online", () => { if (state.seat && !state.leaving) reconnect(); });
setInterval(() => sampleStats().catch(() => {}), STATS_EVERY);
setInterval(sendSummary, SUMMARY_EVERY);
bindControls();
checkConnection();
state.previewReady = startPreview();
// For tests and support staff: the call's live state, read-only in spirit.
window.telemedCall = state;
