// Resumable upload of DICOM files: each file is hashed as the server stores it (preamble zeroed),
// the server is asked which hashes it already has, and only the rest are sent, a few at a time.
// A dropped request is retried with growing pauses; a closed tab resumes by choosing again.
import {format} from "../../telemed/js/format.js";
import {redrawn} from "../../telemed/js/redraw.js";
import {personName} from "./names.js";

const root = document.getElementById("uploader");
const csrf = root.querySelector("input[name=csrfmiddlewaretoken]").value;
const text = root.dataset;
const IN_FLIGHT = 3;
const QUOTA_FULL = 507;
const studies = new Map();  // Study Instance UID, or "unread:<n>" for a file of an unread header -> {row, bar, total, stored, already, refused}
let unreadFiles = 0;  // the <n> of "unread:<n>", counted over every choice of the page: a row left unresolved is never another file's

function institutionQuery() {
  const value = document.getElementById("institution").value;
  return value ? `?institution=${encodeURIComponent(value)}` : "";
}

// The header fields a study row is labelled with, by tag (group and element as one number).
const STUDY_UID = 0x0020000d, PATIENT_NAME = 0x00100010, PATIENT_ID = 0x00100020, DESCRIPTION = 0x00081030, STUDY_DATE = 0x00080020, CHARSET = 0x00080005;
const WANTED = new Set([STUDY_UID, PATIENT_NAME, PATIENT_ID, DESCRIPTION, STUDY_DATE, CHARSET]);
const LONG_VRS = new Set(["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"]);
const IMPLICIT_LE = "1.2.840.10008.1.2", EXPLICIT_BE = "1.2.840.10008.1.2.2", DEFLATED = "1.2.840.10008.1.2.1.99";
const MEDIA_DIRECTORY = "1.2.840.10008.1.3.10";  // the SOP class of a DICOMDIR: the index of a CD or DVD, no image
const HEAD = 65536;  // the bytes of a file read for its header
// A first label only: the server decodes every character set, writes the date as its pages do, and its answer relabels the row.
const DECODERS = {"ISO_IR 192": "utf-8", "GB18030": "gb18030", "GBK": "gbk", "ISO_IR 100": "windows-1252"};

function readElements(view, offset, end, syntax, found) {
  // Walks data elements, stepping through sequences only to find their end; `found` (the top
  // level only) collects the wanted ones. Returns where it stopped.
  const {explicit, little} = syntax;
  while (offset + 8 <= end) {
    const tag = (view.getUint16(offset, little) << 16 | view.getUint16(offset + 2, little)) >>> 0;
    if (tag === 0xfffee00d || tag === 0xfffee0dd) return offset + 8;  // the end of an item or a sequence
    if (tag === 0xfffee000) {  // an item of a sequence
      const length = view.getUint32(offset + 4, little);
      offset = length === 0xffffffff ? readElements(view, offset + 8, end, syntax, null) : offset + 8 + length;
      continue;
    }
    let length, start;
    const vr = explicit ? String.fromCharCode(view.getUint8(offset + 4), view.getUint8(offset + 5)) : "";
    if (explicit && LONG_VRS.has(vr)) { if (offset + 12 > end) return end; length = view.getUint32(offset + 8, little); start = offset + 12; }
    else if (explicit) { length = view.getUint16(offset + 6, little); start = offset + 8; }
    else { length = view.getUint32(offset + 4, little); start = offset + 8; }
    if (found && tag > STUDY_UID) return end;  // every wanted field is behind us
    if (length === 0xffffffff) { offset = readElements(view, start, end, syntax, null); continue; }
    if (found && WANTED.has(tag) && start + length <= end) found.set(tag, new Uint8Array(view.buffer, view.byteOffset + start, length));
    offset = start + length;
  }
  return end;
}

async function inflated(file, offset) {
  // A deflated data set (the meta group before it is not) inflated as far as its header goes;
  // null in a browser that cannot inflate (no DecompressionStream, or, as Chromium 80 to 102,
  // one without "deflate-raw"), and the server reads the file.
  let inflater;
  try { inflater = new DecompressionStream("deflate-raw"); } catch (error) { return null; }
  const reader = file.slice(offset).stream().pipeThrough(inflater).getReader();
  const bytes = new Uint8Array(HEAD);
  let length = 0;
  try {
    while (length < HEAD) {
      const {done, value} = await reader.read();
      if (done) break;
      bytes.set(value.subarray(0, HEAD - length), length);
      length += Math.min(value.length, HEAD - length);
    }
    reader.cancel();
  } catch (error) { /* not deflated after all: keep what was inflated */ }
  return new DataView(bytes.buffer, 0, length);
}

async function headerInfo(file) {
  // Part 10 files carry "DICM" at byte 128, then the file meta group (always explicit VR little
  // endian). What is not found (a study UID beyond the bytes read) is left empty. A DICOMDIR is
  // said to be one: it is not sent.
  const head = await file.slice(0, Math.min(file.size, HEAD)).arrayBuffer();
  const bytes = new Uint8Array(head);
  if (bytes.length < 132 || String.fromCharCode(...bytes.slice(128, 132)) !== "DICM") return null;
  let view = new DataView(head);
  let offset = 132, syntax = "", sopClass = "";
  while (offset + 12 <= bytes.length && view.getUint16(offset, true) === 0x0002) {
    const long = LONG_VRS.has(String.fromCharCode(bytes[offset + 4], bytes[offset + 5]));
    const start = offset + (long ? 12 : 8);
    const length = long ? view.getUint32(offset + 8, true) : view.getUint16(offset + 6, true);
    const uid = () => String.fromCharCode(...bytes.slice(start, start + length)).replace(/\0/g, "").trim();
    if (view.getUint16(offset + 2, true) === 0x0010) syntax = uid();
    else if (view.getUint16(offset + 2, true) === 0x0002) sopClass = uid();
    offset = start + length;
  }
  if (sopClass === MEDIA_DIRECTORY) return {directory: true};
  if (syntax === DEFLATED) [view, offset] = [(await inflated(file, offset)) || new DataView(new ArrayBuffer(0)), 0];
  const found = new Map();
  try { readElements(view, offset, view.byteLength, {explicit: syntax !== IMPLICIT_LE, little: syntax !== EXPLICIT_BE}, found); } catch (error) { /* a cut header: keep what was read */ }
  const charset = found.has(CHARSET) ? new TextDecoder().decode(found.get(CHARSET)).split("\\").pop().trim() : "";
  const decoder = new TextDecoder(DECODERS[charset] || (charset ? "utf-8" : "windows-1252"));
  const value = (tag) => (found.has(tag) ? decoder.decode(found.get(tag)).replace(/\0/g, "").trim() : "");
  return {study: value(STUDY_UID), patient: value(PATIENT_NAME), patientId: value(PATIENT_ID), description: value(DESCRIPTION), date: dicomDate(value(STUDY_DATE))};
}

// As the imaging pages write a date, in both languages (YYYY-MM-DD).
function dicomDate(value) {
  const match = /^(\d{4})(\d{2})(\d{2})$/.exec(value);
  return match ? match.slice(1).join("-") : value;
}

async function storedHash(file) {
  const bytes = new Uint8Array(await file.arrayBuffer());
  bytes.fill(0, 0, Math.min(128, bytes.length));
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

// `name` as written (personName); a name of empty components ("^") names nobody: the Patient ID stands in for it.
const studyLabel = ({name, patientId, description, date}) => [name || patientId, description, date].filter(Boolean).join(" · ");

function studyRow(key, info) {
  // info: what the header says, and `file`, the path of the row's first file, the label left
  // when the header says nothing; `unread`: the page could not read the header at all.
  if (!studies.has(key)) {
    const row = document.createElement("li");
    row.innerHTML = `<span class="name"></span> <progress max="1" value="0"></progress> <span class="count"></span> <span class="outcomes muted small"></span>`;
    row.querySelector(".name").textContent = info.unread ? format(text.textUnread, {file: info.file}) : studyLabel({...info, name: personName(info.patient || "", document.documentElement.lang)}) || info.file;
    document.getElementById("studies").append(row);
    studies.set(key, {row, date: info.date, relabelled: false, bar: row.querySelector("progress"), total: 0, stored: 0, already: 0, refused: 0});
  }
  return studies.get(key);
}

function relabel(key, result) {
  // The server read the header with every character set DICOM has: its names are the right ones, written.
  const study = studies.get(key);
  const label = studyLabel({name: result.patient, patientId: result.patient_id, description: result.description, date: result.date || study.date});
  if (study.relabelled || !label) return;
  study.relabelled = true;
  study.row.querySelector(".name").textContent = label;
}

function settled(item, result) {
  // A file whose header the page could not read has a row of its own until the server has read
  // it: then it joins its study's row. Returns the key of the row it belongs to.
  if (!item.unread || !result.study_uid) return item.key;
  studies.get(item.key).row.remove();
  studies.delete(item.key);
  studyRow(result.study_uid, {file: item.path}).total += 1;
  return result.study_uid;
}

function tick(key, outcome) {
  // outcome: "stored", "already" or "refused"; "done" only when every file is in the archive.
  const study = studies.get(key);
  study[outcome] += 1;
  const handled = study.stored + study.already + study.refused;
  study.bar.max = study.total;
  study.bar.value = handled;
  // How many were refused is said once, among the outcomes, as the link to why.
  study.row.querySelector(".count").textContent = handled === study.total ? `${handled}/${study.total} ${text.textDone}` : `${handled}/${study.total}`;
  const outcomes = study.row.querySelector(".outcomes");
  outcomes.replaceChildren();
  for (const [name, template] of [["stored", text.textStored], ["already", text.textAlready], ["refused", text.textRefused]]) {
    if (!study[name]) continue;
    if (outcomes.childNodes.length) outcomes.append(" · ");
    const part = document.createElement(name === "refused" ? "a" : "span");
    part.textContent = format(template, {n: study[name]});
    if (name === "refused") { part.href = "#problems"; part.addEventListener("click", () => { document.getElementById("problems").open = true; }); }
    outcomes.append(part);
  }
}

// Where a file lies under what was chosen or dropped ("CT/IM0001.dcm"): a dropped folder's files
// know only their own name, so the drop notes each one's path here.
const droppedPaths = new WeakMap();
const pathOf = (file) => droppedPaths.get(file) || file.webkitRelativePath || file.name;

// What macOS and Windows leave in folders beside the images: never DICOM, so not sent, and not
// called a file to export again either. By name (Finder's .DS_Store, Explorer's Thumbs.db and
// desktop.ini, the "._" twin macOS writes of every file on a stick or share), or by folder (a zip
// made on a Mac holds those twins under __MACOSX; a whole drive has the systems' own folders).
const SYSTEM_NAMES = new Set([".ds_store", "thumbs.db", "ehthumbs.db", "desktop.ini"]);
const SYSTEM_FOLDERS = new Set(["__macosx", ".spotlight-v100", ".trashes", ".fseventsd", "system volume information", "$recycle.bin"]);

function systemFile(path) {
  const parts = path.toLowerCase().split("/");
  const name = parts.pop();
  return SYSTEM_NAMES.has(name) || name.startsWith("._") || parts.some((folder) => SYSTEM_FOLDERS.has(folder));
}

let notStored = 0;

function problem(what, reason, files = 1) {
  // A line of "Files not stored": `what` names the file (or the files) `reason` is about.
  document.getElementById("problems").hidden = false;
  const item = document.createElement("li");
  item.textContent = `${what}: ${reason}`;
  document.getElementById("problem-list").append(item);
  notStored += files;
  document.getElementById("problem-count").textContent = String(notStored);  // seen while the list is folded
}

const NAMED_SYSTEM_FILES = 3;

function systemFiles(paths) {
  // One line for them all: a folder copied from a Mac holds a "._" twin of every image. The
  // first few are named, in a list written as the page's language writes one (", " or "、").
  if (paths.length === 1) { problem(paths[0], text.textSystem); return; }
  const named = [...paths.slice(0, NAMED_SYSTEM_FILES), ...(paths.length > NAMED_SYSTEM_FILES ? ["…"] : [])].join(text.textSeparator);
  problem(named, format(text.textSystemMany, {count: paths.length}), paths.length);
}

class SessionEnded extends Error {}

async function answer(response) {
  // The endpoints answer JSON. Anything else is the sign-in page (a redirect after the session
  // ended) or a refusal of the page's CSRF token (the user signed in again elsewhere): stop then.
  let body = null;
  if ((response.headers.get("Content-Type") || "").startsWith("application/json")) {
    try { body = await response.json(); } catch (error) { body = null; }
  }
  if (body === null && (response.redirected || response.status === 401 || response.status === 403)) throw new SessionEnded();
  return body || {reason: `HTTP ${response.status}`};
}

const MAX_ATTEMPTS = 8;  // about two minutes of retrying before a file is reported as not sent

async function post(url, body, type) {
  // A dropped connection is retried with growing pauses; a 5xx too, except a full quota (507), an answer to show.
  for (let attempt = 1, pause = 1000; ; attempt += 1, pause = Math.min(pause * 2, 30000)) {
    try {
      const response = await fetch(url + institutionQuery(), {method: "POST", body, headers: {"X-CSRFToken": csrf, "Content-Type": type}});
      if (response.status < 500 || response.status === QUOTA_FULL || attempt === MAX_ATTEMPTS) return response;
    } catch (error) {
      if (attempt === MAX_ATTEMPTS) return null;
      document.getElementById("overall-text").textContent = text.textOffline;
    }
    await new Promise((resolve) => setTimeout(resolve, pause));
  }
}

function stop(message) {
  const notice = document.getElementById("upload-stopped");
  notice.textContent = message;
  notice.hidden = false;
}

async function knownHashes(work) {
  const known = new Set();
  for (let i = 0; i < work.length; i += 1000) {
    const response = await post(root.dataset.knownUrl, JSON.stringify({hashes: work.slice(i, i + 1000).map((w) => w.hash)}), "application/json");
    // Without an answer every file is sent: the server stores each one once anyway.
    if (response && response.ok) ((await answer(response)).known || []).forEach((h) => known.add(h));
    else if (response) await answer(response);
  }
  return known;
}

const SIZE_WORDS = JSON.parse(root.dataset.sizeWords);  // {byte, bytes, units: [KB, MB, GB, TB, PB]}, the server's own

export function byteSize(bytes) {
  // As the server's pages write sizes (Django's filesizeformat): bytes below 1 KB, then 1024 to
  // the next unit with one decimal, rounded as Python's round() (a tie to the even tenth), in
  // the server's words for the page's language (a no-break space in them).
  let unit = -1;
  for (; bytes >= 1024 && unit < SIZE_WORDS.units.length - 1; unit += 1) bytes /= 1024;
  if (unit < 0) return format(bytes === 1 ? SIZE_WORDS.byte : SIZE_WORDS.bytes, {size: bytes});
  const tenths = Math.floor(bytes * 10), rest = bytes * 10 - tenths;  // exact: a size over a power of 1024 has few bits
  const rounded = rest > 0.5 || (rest === 0.5 && tenths % 2) ? tenths + 1 : tenths;
  return format(SIZE_WORDS.units[unit], {size: (rounded / 10).toFixed(1)});
}

function showChecked(files, total, bytes, size) {
  const bar = document.getElementById("checking-bar");
  bar.max = size || 1;
  bar.value = bytes;
  document.getElementById("checking-text").textContent = format(text.textChecking, {files, total, bytes: byteSize(bytes), size: byteSize(size)});
}

async function checked(files) {
  // Every header is read and every file hashed before anything is sent, which takes a while for
  // hundreds of MB: a bar of its own says how far it is. Returns the files to send and the rest,
  // each with why it is not sent.
  const size = files.reduce((sum, file) => sum + file.size, 0);
  const work = [], skipped = [], litter = [];
  let bytes = 0;
  document.getElementById("checking").hidden = false;
  for (const [n, file] of files.entries()) {
    showChecked(n, files.length, bytes, size);
    const path = pathOf(file);
    const info = systemFile(path) ? {system: true} : await headerInfo(file);
    if (!info) skipped.push({file, reason: text.textSkipped});
    else if (info.system) litter.push(path);
    else if (info.directory) skipped.push({file, reason: text.textDirectory});
    else {
      const unread = !info.study;
      const key = unread ? `unread:${unreadFiles++}` : info.study;
      work.push({file, key, path, unread, hash: await storedHash(file)});
      studyRow(key, {...info, file: path, unread}).total += 1;
    }
    bytes += file.size;
  }
  document.getElementById("checking").hidden = true;
  return {work, skipped, litter};
}

async function upload(files) {
  const bar = document.getElementById("overall-bar");
  document.getElementById("upload-stopped").hidden = true;
  let checks;
  try { checks = await checked(files); } catch (error) {
    // A file the browser could not read (moved, a disc or stick taken out): said, not a bar left checking.
    document.getElementById("checking").hidden = true;
    stop(text.textUnreadable);
    return;
  }
  const {work, skipped, litter} = checks;
  document.getElementById("overall").hidden = false;
  bar.max = files.length;
  let finished = 0;
  const advance = () => { bar.value = ++finished; document.getElementById("overall-text").textContent = `${finished}/${files.length}`; };
  for (const {file, reason} of skipped) { problem(pathOf(file), reason); advance(); }
  if (litter.length) systemFiles(litter);
  litter.forEach(() => advance());
  let known;
  try { known = await knownHashes(work); } catch (error) {
    if (error instanceof SessionEnded) { stop(text.textSession); return; }
    throw error;
  }
  // A file already stored is not sent again, unless the page could not read its header: the
  // server's answer ("already stored") names its study, which the row would otherwise never learn.
  const queue = work.filter((w) => {
    if (known.has(w.hash) && !w.unread) { tick(w.key, "already"); advance(); return false; }
    return true;
  });
  const state = {quotaFull: null, ended: false};
  await Promise.all(Array.from({length: IN_FLIGHT}, () => worker(queue, state, advance)));
  if (state.ended) stop(text.textSession);
  else await refreshUsage();
}

// The storage bars as the server draws them, now that the files are in.
const refreshUsage = () => redrawn(document.getElementById("storage-usage"));

async function worker(queue, state, advance) {
  while (queue.length && !state.ended) {
    const item = queue.shift();
    if (state.quotaFull) { problem(pathOf(item.file), `${text.textFailed}: ${state.quotaFull}`); tick(item.key, "refused"); advance(); continue; }
    const response = await post(root.dataset.instanceUrl, item.file, "application/dicom");
    let result;
    try { result = response ? await answer(response) : {reason: text.textUnsent}; } catch (error) {
      if (!(error instanceof SessionEnded)) throw error;
      state.ended = true;  // the files left are sent when the folder is chosen again
      return;
    }
    if (response && response.status === QUOTA_FULL) {
      state.quotaFull = result.reason;
      const notice = document.getElementById("quota-full");
      notice.textContent = result.reason;
      notice.hidden = false;
    }
    if (response && response.ok) {
      const key = settled(item, result);
      relabel(key, result);
      tick(key, result.status === "duplicate" ? "already" : "stored");
    }
    else { problem(pathOf(item.file), `${text.textFailed}: ${result.reason || response.status}`); tick(item.key, "refused"); }
    advance();
  }
}

for (const id of ["folder", "files"]) {
  document.getElementById(id).addEventListener("change", (event) => upload([...event.target.files]));
}
const zone = document.getElementById("dropzone");
zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
zone.addEventListener("dragleave", () => zone.classList.remove("over"));
zone.addEventListener("drop", async (event) => {
  event.preventDefault();
  zone.classList.remove("over");
  // Every entry is taken before the first await: the browser empties the drop's item list once
  // the event has been handled, so a second folder read after it would be lost.
  const entries = [...event.dataTransfer.items].map((item) => item.webkitGetAsEntry && item.webkitGetAsEntry()).filter(Boolean);
  const files = [];
  async function walk(entry) {
    if (entry.isFile) {
      const file = await new Promise((resolve) => entry.file(resolve));
      droppedPaths.set(file, entry.fullPath.replace(/^\//, ""));
      files.push(file);
    }
    else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (let batch = await new Promise((r) => reader.readEntries(r)); batch.length; batch = await new Promise((r) => reader.readEntries(r))) {
        for (const child of batch) await walk(child);
      }
    }
  }
  for (const entry of entries) await walk(entry);
  upload(files);
});
