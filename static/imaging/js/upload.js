// Resumable upload of DICOM files: each file is hashed as the server stores it (preamble zeroed),
// the server is asked which hashes it already has, and only the rest are sent, a few at a time.
// A dropped request is retried with growing pauses; a closed tab resumes by choosing again.
const root = document.getElementById("uploader");
const csrf = root.querySelector("input[name=csrfmiddlewaretoken]").value;
const text = root.dataset;
const IN_FLIGHT = 3;
const QUOTA_FULL = 507;
const studies = new Map();  // study key -> {row, bar, done, total}

function institutionQuery() {
  const value = document.getElementById("institution").value;
  return value ? `?institution=${encodeURIComponent(value)}` : "";
}

async function headerInfo(file) {
  // Part 10 files carry "DICM" at byte 128; the Study Instance UID (0020,000D) groups the bars.
  const head = new Uint8Array(await file.slice(0, Math.min(file.size, 65536)).arrayBuffer());
  if (head.length < 132 || String.fromCharCode(...head.slice(128, 132)) !== "DICM") return null;
  for (let i = 132; i < head.length - 8; i++) {
    if (head[i] === 0x20 && head[i + 1] === 0x00 && head[i + 2] === 0x0d && head[i + 3] === 0x00) {
      const explicit = head[i + 4] === 0x55 && head[i + 5] === 0x49;  // "UI"
      const length = explicit ? head[i + 6] | (head[i + 7] << 8) : head[i + 4] | (head[i + 5] << 8);
      const start = i + (explicit ? 8 : 8);
      return {study: String.fromCharCode(...head.slice(start, start + length)).replace(/\0/g, "").trim()};
    }
  }
  return {study: "?"};
}

async function storedHash(file) {
  const bytes = new Uint8Array(await file.arrayBuffer());
  bytes.fill(0, 0, Math.min(128, bytes.length));
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function studyRow(key) {
  if (!studies.has(key)) {
    const row = document.createElement("li");
    row.innerHTML = `<span class="name"></span> <progress max="1" value="0"></progress> <span class="count"></span>`;
    row.querySelector(".name").textContent = key;
    document.getElementById("studies").append(row);
    studies.set(key, {row, bar: row.querySelector("progress"), done: 0, total: 0});
  }
  return studies.get(key);
}

function tick(key, label) {
  const study = studyRow(key);
  study.done += 1;
  study.bar.max = study.total;
  study.bar.value = study.done;
  study.row.querySelector(".count").textContent = `${study.done}/${study.total} ${study.done === study.total ? text.textDone : ""}`;
  if (label) study.row.querySelector(".name").textContent = label;
}

function problem(file, reason) {
  document.getElementById("problems").hidden = false;
  const item = document.createElement("li");
  item.textContent = `${file.webkitRelativePath || file.name}: ${reason}`;
  document.getElementById("problem-list").append(item);
}

async function post(url, body, type) {
  for (let pause = 1000; ; pause = Math.min(pause * 2, 30000)) {
    try {
      const response = await fetch(url + institutionQuery(), {method: "POST", body, headers: {"X-CSRFToken": csrf, "Content-Type": type}});
      // 507: the clinic's storage quota is full, an answer to show rather than a fault to retry.
      if (response.status < 500 || response.status === QUOTA_FULL) return response;
    } catch (error) {
      document.getElementById("overall-text").textContent = text.textOffline;
    }
    await new Promise((resolve) => setTimeout(resolve, pause));
  }
}

async function upload(files) {
  const bar = document.getElementById("overall-bar");
  document.getElementById("overall").hidden = false;
  bar.max = files.length;
  let finished = 0;
  const advance = () => { bar.value = ++finished; document.getElementById("overall-text").textContent = `${finished}/${files.length}`; };
  const work = [];
  for (const file of files) {
    const info = await headerInfo(file);
    if (!info) { problem(file, text.textSkipped); advance(); continue; }
    work.push({file, key: info.study, hash: await storedHash(file)});
    studyRow(info.study).total += 1;
  }
  const known = new Set();
  for (let i = 0; i < work.length; i += 1000) {
    const response = await post(root.dataset.knownUrl, JSON.stringify({hashes: work.slice(i, i + 1000).map((w) => w.hash)}), "application/json");
    if (response.ok) (await response.json()).known.forEach((h) => known.add(h));
  }
  const queue = work.filter((w) => {
    if (known.has(w.hash)) { tick(w.key); advance(); return false; }
    return true;
  });
  let quotaFull = null;
  async function worker() {
    while (queue.length) {
      const item = queue.shift();
      if (quotaFull) { problem(item.file, `${text.textFailed}: ${quotaFull}`); tick(item.key); advance(); continue; }
      const response = await post(root.dataset.instanceUrl, item.file, "application/dicom");
      const result = await response.json();
      if (response.status === QUOTA_FULL) {
        quotaFull = result.reason;
        const notice = document.getElementById("quota-full");
        notice.textContent = result.reason;
        notice.hidden = false;
      }
      if (response.ok) tick(item.key, [result.patient, result.description].filter(Boolean).join(" · ") || item.key);
      else { problem(item.file, `${text.textFailed}: ${result.reason || response.status}`); tick(item.key); }
      advance();
    }
  }
  await Promise.all(Array.from({length: IN_FLIGHT}, worker));
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
  const files = [];
  async function walk(entry) {
    if (entry.isFile) files.push(await new Promise((resolve) => entry.file(resolve)));
    else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (let batch = await new Promise((r) => reader.readEntries(r)); batch.length; batch = await new Promise((r) => reader.readEntries(r))) {
        for (const child of batch) await walk(child);
      }
    }
  }
  for (const item of event.dataTransfer.items) {
    const entry = item.webkitGetAsEntry && item.webkitGetAsEntry();
    if (entry) await walk(entry);
  }
  upload(files);
});
