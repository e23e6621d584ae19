// A stack viewer over WADO-RS rendered images: the server applies the window and sends a JPEG,
// so a weak link carries tens of kilobytes per image; neighbours are prefetched.
const data = JSON.parse(document.getElementById("viewer-data").textContent);
const root = document.getElementById("viewer");
const image = document.getElementById("image");
const overlay = document.getElementById("overlay");
const slider = document.getElementById("slider");
const canvas = document.getElementById("canvas");
const state = {series: 0, index: 0, window: null, measuring: false, points: [], cine: null};
const cache = new Map();

const current = () => data.series[state.series].instances[state.index];
const instanceUrl = (i, tail) => `${root.dataset.base}/series/${data.series[state.series].uid}/instances/${i.uid}/${tail}`;

function renderedUrl(instance) {
  const params = new URLSearchParams({quality: "85"});
  if (state.window) params.set("window", state.window.join(","));
  return instanceUrl(instance, "rendered") + "?" + params;
}

function prefetch() {
  const list = data.series[state.series].instances;
  for (const offset of [1, 2, -1, 3]) {
    const neighbour = list[state.index + offset];
    if (!neighbour) continue;
    const url = renderedUrl(neighbour);
    if (!cache.has(url)) { const img = new Image(); img.src = url; cache.set(url, img); }
  }
}

function show() {
  const list = data.series[state.series].instances;
  image.src = renderedUrl(current());
  slider.max = String(list.length);
  slider.value = String(state.index + 1);
  document.getElementById("position").textContent = `${state.index + 1} / ${list.length}`;
  document.getElementById("window-label").textContent = state.window ? `W ${state.window[1]} L ${state.window[0]}` : "";
  state.points = [];
  overlay.innerHTML = "";
  document.getElementById("distance").textContent = "";
  prefetch();
  if (!document.getElementById("tags").hidden) loadTags();
}

function step(delta) {
  const last = data.series[state.series].instances.length - 1;
  state.index = Math.min(Math.max(state.index + delta, 0), last);
  show();
}

function chooseSeries(n) {
  state.series = n;
  state.index = Math.floor(data.series[n].instances.length / 2);
  document.querySelectorAll(".series-list button").forEach((b, i) => b.setAttribute("aria-pressed", String(i === n)));
  show();
}

function measure(event) {
  const box = image.getBoundingClientRect();
  state.points.push([event.clientX - box.left, event.clientY - box.top]);
  if (state.points.length < 2) return;
  const [[x1, y1], [x2, y2]] = state.points;
  const frame = canvas.getBoundingClientRect();
  Object.assign(overlay.style, {left: `${box.left - frame.left}px`, top: `${box.top - frame.top}px`, width: `${box.width}px`, height: `${box.height}px`});
  overlay.setAttribute("viewBox", `0 0 ${box.width} ${box.height}`);
  overlay.innerHTML = `<line x1="${x1}" y1="${y1}" x2="${x2}" y2="${y2}" stroke="yellow" stroke-width="2"/>`;
  const scale = image.naturalWidth / box.width;  // screen pixels → image pixels
  const spacing = current().spacing;
  const dx = (x2 - x1) * scale, dy = (y2 - y1) * scale;
  const label = spacing
    ? `${Math.hypot(dx * spacing[1], dy * spacing[0]).toFixed(1)} ${root.dataset.textMm}`
    : `${Math.hypot(dx, dy).toFixed(0)} px (${root.dataset.textNoSpacing})`;
  document.getElementById("distance").textContent = label;
  state.points = [];
}

async function loadTags() {
  const response = await fetch(instanceUrl(current(), "metadata"));
  const [metadata] = await response.json();
  document.getElementById("tags").textContent = Object.entries(metadata)
    .map(([tag, el]) => `(${tag.slice(0, 4)},${tag.slice(4)}) ${el.vr} ${JSON.stringify(el.Value ?? el.BulkDataURI ?? "")}`)
    .join("\n");
}

function setWindow(center, width) {
  state.window = [Math.round(center), Math.max(1, Math.round(width))];
  show();
}

// Series list with thumbnails.
const list = document.getElementById("series-list");
data.series.forEach((series, n) => {
  const button = document.createElement("button");
  button.type = "button";
  button.innerHTML = `<img alt="" loading="lazy" src="${root.dataset.base}/series/${series.uid}/thumbnail"><span></span>`;
  button.querySelector("span").textContent = `${series.label} (${series.instances.length})`;
  button.addEventListener("click", () => chooseSeries(n));
  list.append(button);
});

document.querySelectorAll("[data-preset]").forEach((button, i) => {
  button.addEventListener("click", () => setWindow(...button.dataset.preset.split(",").map(Number)));
});
canvas.addEventListener("wheel", (event) => { event.preventDefault(); step(event.deltaY > 0 ? 1 : -1); }, {passive: false});
slider.addEventListener("input", () => { state.index = Number(slider.value) - 1; show(); });
document.getElementById("measure").addEventListener("click", (event) => {
  state.measuring = !state.measuring;
  event.currentTarget.setAttribute("aria-pressed", String(state.measuring));
});
document.getElementById("cine").addEventListener("click", (event) => {
  if (state.cine) { clearInterval(state.cine); state.cine = null; }
  else state.cine = setInterval(() => (state.index + 1 >= data.series[state.series].instances.length ? (state.index = -1, step(1)) : step(1)), 150);
  event.currentTarget.setAttribute("aria-pressed", String(Boolean(state.cine)));
});
document.getElementById("tags-toggle").addEventListener("click", () => {
  const tags = document.getElementById("tags");
  tags.hidden = !tags.hidden;
  if (!tags.hidden) loadTags();
});

// Dragging changes the window (horizontal: width, vertical: level); clicking measures.
let drag = null;
canvas.addEventListener("pointerdown", (event) => {
  if (state.measuring) { measure(event); return; }
  drag = {x: event.clientX, y: event.clientY, window: state.window || [40, 400]};
});
window.addEventListener("pointerup", (event) => {
  if (!drag) return;
  const dx = event.clientX - drag.x, dy = event.clientY - drag.y;
  if (Math.abs(dx) + Math.abs(dy) > 3) setWindow(drag.window[0] + dy * 2, drag.window[1] + dx * 4);
  drag = null;
});
canvas.addEventListener("keydown", (event) => {
  const keys = {ArrowDown: () => step(1), ArrowUp: () => step(-1), PageDown: () => step(10), PageUp: () => step(-10),
    m: () => document.getElementById("measure").click(), c: () => document.getElementById("cine").click(), t: () => document.getElementById("tags-toggle").click()};
  const preset = document.querySelectorAll("[data-preset]")[Number(event.key) - 1];
  if (keys[event.key]) { event.preventDefault(); keys[event.key](); }
  else if (preset) preset.click();
});

if (data.series.length) chooseSeries(0);
canvas.focus();
