// A stack viewer over WADO-RS rendered images: the server decodes and windows, the browser gets
// JPEGs. On a weak link each image comes first as a small, low-quality JPEG (a few kilobytes),
// then at full quality once scrolling pauses; neighbours are prefetched. Zoom and pan are CSS
// transforms of the full-size image, so measurements are taken in image pixels and stay right
// in millimetres at any zoom. Two viewports, each with its own series, slice, window and zoom.
// An image the server cannot render leaves its viewport blank with the server's reason.
import {format} from "../../telemed/js/format.js";

const data = JSON.parse(document.getElementById("viewer-data").textContent);
const root = document.getElementById("viewer");
const text = root.dataset;
const LOW = {viewport: "192,192", quality: "40"};
const FULL_QUALITY = "85";
const SETTLE_MS = 120;  // full quality is fetched once scrolling pauses this long
const MIN_SCALE = 0.05, MAX_SCALE = 40;
// A wheel's notch (about 100 px, or 3 lines) moves one image; a trackpad's many small deltas add
// up to one image per WHEEL_STEP_PX. A one-finger (or Scroll tool) drag moves one per DRAG_STEP_PX.
const WHEEL_STEP_PX = 50, LINE_PX = 40, DRAG_STEP_PX = 10;
const presets = document.querySelectorAll("[data-preset]");

// Loaded images, by URL: a bounded map of promises, so a prefetched image is shown at once.
const images = new Map();
const IMAGE_LIMIT = 300;

function fetchImage(url) {
  let entry = images.get(url);
  if (entry) { images.delete(url); images.set(url, entry); return entry.promise; }
  const img = new Image();
  img.src = url;
  entry = {img, done: false};
  entry.promise = img.decode().then(() => { entry.done = true; return img; });
  entry.promise.catch(() => images.delete(url));
  images.set(url, entry);
  while (images.size > IMAGE_LIMIT) images.delete(images.keys().next().value);
  return entry.promise;
}

const isLoaded = (url) => Boolean(images.get(url)?.done);

// An answer of the server kept by key, so that it is asked once; a failure that may pass (no
// network, a 5xx: `ask` rejects) is forgotten, and asked again next time.
function remembered(answers, key, ask) {
  if (!answers.has(key)) {
    const asked = ask();
    asked.catch(() => answers.delete(key));
    answers.set(key, asked);
  }
  return answers.get(key);
}

// Why an image failed: the server's 406 says in its body (an <img> cannot read it). An image the
// server refused is remembered, so going back to it asks the server nothing more.
const refusals = new Map();

function failureReason(url) {
  return remembered(refusals, url, () => fetch(url).then((response) => (response.status >= 400 && response.status < 500
    ? response.json().then((body) => body.detail || "", () => "") : Promise.reject(response)))).catch(() => "");
}

// The window the server renders an image with when its header names none (the frame's range),
// asked for once per image, when a window drag first needs it.
const ownWindows = new Map();

function ownWindow(series, image) {
  const path = `${series.uid}/${image.uid}/${image.frame || 1}`;
  // 406: the image cannot be decoded, so it has no window.
  return remembered(ownWindows, path, () => fetch(`${root.dataset.windowBase}${path}/window/`)
    .then((response) => (response.ok ? response.json() : response.status === 406 ? {window: null} : Promise.reject(response)))
    .then((body) => body.window));
}

function dot(a, b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }

class Viewport {
  constructor(element, number) {
    this.element = element;
    this.number = number;
    this.canvas = element.querySelector(".canvas");
    this.img = element.querySelector(".image");
    this.overlay = element.querySelector(".overlay");
    this.slider = element.querySelector(".slider");
    this.message = element.querySelector(".message");
    this.failed = false;
    this.wheelRest = 0;
    this.series = null;
    this.index = 0;
    this.window = null;
    this.view = {scale: 1, x: 0, y: 0, fitted: true};
    this.points = [];
    this.region = null;  // {from, to} in image pixels: the ellipse being drawn or measured
    this.token = 0;
    this.settle = null;
    this.slider.addEventListener("input", () => { activate(this); this.goTo(Number(this.slider.value) - 1); });
    new ResizeObserver(() => { if (this.view.fitted) this.fit(); }).observe(this.canvas);
  }

  get images() { return this.series === null ? [] : data.series[this.series].images; }
  get current() { return this.images[this.index]; }
  get colour() { return this.series !== null && data.series[this.series].colour; }
  // Colour is rendered as stored, and a failed image has nothing to window or measure.
  get windowable() { return this.series !== null && !this.colour && !this.failed; }

  url(image, low) {
    const tail = image.frame ? `frames/${image.frame}/rendered` : "rendered";
    const params = new URLSearchParams(low ? LOW : {quality: FULL_QUALITY});
    if (this.window) params.set("window", this.window.join(","));
    return `${root.dataset.base}/series/${data.series[this.series].uid}/instances/${image.uid}/${tail}?${params}`;
  }

  // Another series opens at its middle; the one already shown (→ in a study of one series, its
  // thumbnail clicked) stays at the image the reader was on.
  load(seriesNumber, index = null) {
    const changed = seriesNumber !== this.series;
    this.series = seriesNumber;
    this.index = index ?? (changed ? Math.floor(this.images.length / 2) : this.index);
    if (changed) {  // its own window, fitted; the last series' image is not left under the new label
      this.window = null;
      this.view.fitted = true;
      this.blank();
      this.element.querySelector(".caption").textContent = data.series[seriesNumber].label;
    }
    this.slider.max = String(this.images.length);
    this.show();
    if (this.view.fitted) this.fit();
    markSeries();
  }

  goTo(index, {linked = true} = {}) {
    if (this.series === null) return;
    const last = this.images.length - 1;
    const next = Math.min(Math.max(index, 0), last);
    const direction = Math.sign(next - this.index) || 1;
    if (next === this.index && this.img.getAttribute("src")) return;
    this.index = next;
    this.show(direction);
    if (linked && state.linked && state.layout === 2) follow(this);
  }

  step(delta) { this.goTo(this.index + delta); }

  show(direction = 1) {
    const image = this.current;
    if (!image) return;
    const token = ++this.token;
    const full = this.url(image, false), low = this.url(image, true);
    this.slider.value = String(this.index + 1);
    this.element.querySelector(".position").textContent = `${this.index + 1} / ${this.images.length}`;
    const shown = `${this.series}/${this.index}`;
    if (shown !== this.shown) {  // a new image: the old measurement does not belong to it
      this.shown = shown;
      this.clearMeasurement();
    }
    this.failed = false;
    this.message.hidden = true;
    this.size(image);
    clearTimeout(this.settle);
    if (refusals.has(full)) this.fail(full);
    else if (isLoaded(full)) { this.display(full, "full"); this.prefetch(direction); }
    else {
      const showFull = () => fetchImage(full).then(() => {
        if (token !== this.token) return;
        this.display(full, "full");
        this.prefetch(direction);
      }).catch(() => token === this.token && this.fail(full));
      fetchImage(low).then(() => {
        if (token !== this.token) return;
        this.display(low, "low");
        this.settle = setTimeout(() => token === this.token && showFull(), SETTLE_MS);
      }).catch(showFull);
    }
    if (this === state.active) { refreshTags(); updateControls(); }
    this.labels();
  }

  // Blank, with the server's reason: never the previous image under this one's label.
  async fail(url) {
    const token = this.token;
    this.failed = true;
    this.blank();
    this.clearMeasurement();
    this.labels();
    if (this === state.active) updateControls();
    const reason = await failureReason(url);
    if (token !== this.token) return;
    this.message.textContent = reason ? format(text.textFailed, {reason}) : text.textFailedPlain;
    this.message.hidden = false;
  }

  // Called with each wheel event's vertical distance in pixels.
  wheel(pixels) {
    if (Math.sign(pixels) !== Math.sign(this.wheelRest)) this.wheelRest = 0;
    this.wheelRest += pixels;
    if (Math.abs(this.wheelRest) < WHEEL_STEP_PX) return;
    this.wheelRest = 0;
    this.step(Math.sign(pixels));
  }

  blank() {
    this.img.removeAttribute("src");
    delete this.img.dataset.quality;
    this.element.querySelector(".quality").hidden = true;
  }

  display(url, quality) {
    this.img.src = url;
    this.img.dataset.quality = quality;
    this.element.querySelector(".quality").hidden = quality === "full";
  }

  prefetch(direction) {
    const list = this.images;
    for (const offset of [1, 2, 3, -1]) {
      const neighbour = list[this.index + offset * direction];
      if (neighbour) fetchImage(this.url(neighbour, false)).catch(() => {});
    }
    for (let offset = 4; offset <= 10; offset++) {
      const further = list[this.index + offset * direction];
      if (further) fetchImage(this.url(further, true)).catch(() => {});
    }
  }

  // The image element is laid out at full resolution, so a low-resolution JPEG is stretched
  // to the same size and a point on screen maps to the same image pixel either way.
  size(image) {
    const [columns, rows] = image.size;
    this.img.style.width = `${columns}px`;
    this.img.style.height = `${rows}px`;
  }

  fit() {
    const image = this.current;
    if (!image) return;
    const box = this.canvas.getBoundingClientRect();
    const [columns, rows] = image.size;
    const scale = Math.min(box.width / columns, box.height / rows) || 1;
    this.view = {scale, x: (box.width - columns * scale) / 2, y: (box.height - rows * scale) / 2, fitted: true};
    this.transform();
  }

  actualSize() {
    const box = this.canvas.getBoundingClientRect();
    this.zoomAt(1 / this.view.scale, box.width / 2, box.height / 2);
  }

  // Zoom by `factor` keeping the image point under (x, y) (canvas pixels) where it is.
  zoomAt(factor, x, y) {
    const {scale} = this.view;
    const next = Math.min(Math.max(scale * factor, MIN_SCALE), MAX_SCALE);
    const imageX = (x - this.view.x) / scale, imageY = (y - this.view.y) / scale;
    this.view = {scale: next, x: x - imageX * next, y: y - imageY * next, fitted: false};
    this.transform();
  }

  zoomCentre(factor) {
    const box = this.canvas.getBoundingClientRect();
    this.zoomAt(factor, box.width / 2, box.height / 2);
  }

  panBy(dx, dy) {
    this.view = {...this.view, x: this.view.x + dx, y: this.view.y + dy, fitted: false};
    this.transform();
  }

  transform() {
    const {scale, x, y} = this.view;
    const css = `translate(${x}px, ${y}px) scale(${scale})`;
    this.img.style.transform = css;
    this.drawMeasurement();
    this.img.style.imageRendering = scale > 2 ? "pixelated" : "auto";
    this.labels();
  }

  labels() {
    let windowLabel = this.window ? format(text.textWindow, {width: this.window[1], level: this.window[0]}) : text.textDefaultWindow;
    if (this.series !== null && data.series[this.series].colour) windowLabel = text.textColour;
    this.element.querySelector(".window-label").textContent = windowLabel;
    this.element.querySelector(".zoom-label").textContent = format(text.textZoom, {percent: `${Math.round(this.view.scale * 100)}%`});
  }

  // Screen → image pixel coordinates, whatever the zoom and pan.
  toImage(event) {
    const box = this.canvas.getBoundingClientRect();
    return [(event.clientX - box.left - this.view.x) / this.view.scale, (event.clientY - box.top - this.view.y) / this.view.scale];
  }

  // Also ends a region being dragged on this viewport: whatever clears it mid-drag (the wheel, a
  // key, cine) leaves nothing for the pointer to grow or measure.
  clearMeasurement() {
    if (drag?.viewport === this && drag.mode === "region") drag = null;
    this.points = [];
    this.region = null;
    this.drawMeasurement();
    this.element.querySelector(".distance").textContent = "";
  }

  measure(event) {
    this.region = null;
    if (this.points.length === 2) this.points = [];
    this.points.push(this.toImage(event));
    this.drawMeasurement();
    if (this.points.length < 2) return;
    const [[x1, y1], [x2, y2]] = this.points;
    const spacing = this.current.spacing;  // [between rows, between columns] in mm
    this.element.querySelector(".distance").textContent = spacing
      ? `${Math.hypot((x2 - x1) * spacing[1], (y2 - y1) * spacing[0]).toFixed(1)} ${text.textMm}`
      : `${Math.hypot(x2 - x1, y2 - y1).toFixed(0)} px (${text.textNoSpacing})`;
  }

  // The region tool: an ellipse dragged from corner to corner (`from`, `to` in image pixels), or
  // one pixel clicked; the server measures the stored values under it (HU for CT, dose for RT
  // Dose) and the status line shows them. A colour image has none: that is said at once, with no
  // region drawn and nothing asked.
  startRegion(from, to = from) {
    if (this.colour) {
      this.clearMeasurement();
      this.element.querySelector(".distance").textContent = text.textNoValues;
      return false;
    }
    this.points = [];
    this.region = {from, to};
    this.element.querySelector(".distance").textContent = "";
    this.drawMeasurement();
    return true;
  }

  growRegion(event) {
    this.region.to = this.toImage(event);
    this.drawMeasurement();
  }

  // The region tool without a pointer (Enter on the image): a circle a tenth of the image's
  // smaller side across, at the centre of the view (the image's centre when fitted), kept whole
  // on the image when zoom and pan have moved the centre off it.
  regionAtCentre() {
    if (this.failed || !this.current) return;
    const box = this.canvas.getBoundingClientRect(), [columns, rows] = this.current.size;
    const radius = Math.max(Math.min(columns, rows) / 20, 0.5);
    const within = (v, size) => Math.min(Math.max(v, radius), size - radius);
    const x = within((box.width / 2 - this.view.x) / this.view.scale, columns), y = within((box.height / 2 - this.view.y) / this.view.scale, rows);
    if (this.startRegion([x - radius, y - radius], [x + radius, y + radius])) this.measureRegion();
  }

  async measureRegion() {
    const region = this.region, image = this.current, token = this.token;
    const label = this.element.querySelector(".distance");
    // A click or a drag wholly off the image (the black around it) is told at once, with nothing
    // asked: the server refuses it for the same reason (regions.py), as a 400 the console logs.
    const [columns, rows] = image.size, xs = [region.from[0], region.to[0]], ys = [region.from[1], region.to[1]];
    if (Math.max(...xs) < 0 || Math.max(...ys) < 0 || Math.min(...xs) > columns || Math.min(...ys) > rows) {
      this.clearMeasurement();
      label.textContent = format(text.textOutside, {columns, rows});
      return;
    }
    const box = [...region.from, ...region.to].map((v) => v.toFixed(1)).join(",");
    const url = `${root.dataset.windowBase}${data.series[this.series].uid}/${image.uid}/${image.frame || 1}/region/?shape=ellipse&box=${box}`;
    label.textContent = text.textMeasuring;
    const answer = await fetch(url).then((response) => response.json().then((body) => ({ok: response.ok, body}))).catch(() => null);
    if (token !== this.token || region !== this.region) return;
    if (!answer) { label.textContent = text.textRegionFailed; return; }
    if (!answer.ok) { label.textContent = answer.body.detail || text.textRegionFailed; return; }
    const {pixels, mean, sd, min, max, unit} = answer.body;
    // Stored values are whole numbers (HU); a dose is read to the centigray.
    const number = (v) => (Number.isInteger(v) ? String(v) : v.toFixed(unit === "Gy" ? 2 : 1)).replace("-", "−");
    const withUnit = (v) => (unit ? `${number(v)} ${unit}` : number(v));
    if (pixels === 1) { label.textContent = format(text.textPixel, {value: withUnit(mean)}); return; }
    const spacing = image.spacing;  // [between rows, between columns] in mm
    const area = spacing ? `${(pixels * spacing[0] * spacing[1] / 100).toFixed(2)} ${text.textCm2}` : format(text.textNoSpacingArea, {pixels});
    label.textContent = format(text.textRegion, {mean: withUnit(mean), sd: number(sd), min: number(min), max: number(max), area});
  }

  // Points and the region are kept in image pixels and drawn on screen where the transform puts
  // them, so they follow zoom and pan at a constant thickness.
  drawMeasurement() {
    const {scale, x, y} = this.view;
    const screen = this.points.map(([px, py]) => [px * scale + x, py * scale + y]);
    const dots = screen.map(([sx, sy]) => `<circle cx="${sx}" cy="${sy}" r="3" fill="yellow"/>`);
    const line = screen.length === 2
      ? `<line x1="${screen[0][0]}" y1="${screen[0][1]}" x2="${screen[1][0]}" y2="${screen[1][1]}" stroke="yellow" stroke-width="2"/>`
      : "";
    let region = "";
    if (this.region) {
      const [[x1, y1], [x2, y2]] = [this.region.from, this.region.to].map(([px, py]) => [px * scale + x, py * scale + y]);
      region = `<ellipse cx="${(x1 + x2) / 2}" cy="${(y1 + y2) / 2}" rx="${Math.max(Math.abs(x2 - x1) / 2, 2)}" ry="${Math.max(Math.abs(y2 - y1) / 2, 2)}" fill="none" stroke="yellow" stroke-width="2"/>`;
    }
    this.overlay.innerHTML = line + dots.join("") + region;
  }

  setWindow(center, width) {
    if (!this.windowable) return;
    this.window = [Math.round(center), Math.max(1, Math.round(width))];
    this.show();
  }

  // While dragging, only low-resolution previews are asked for, one at a time; one that arrives
  // after the drag ended or turned into a pinch is not shown (it would stay on screen).
  previewWindow(center, width) {
    this.window = [Math.round(center), Math.max(1, Math.round(width))];
    this.labels();
    if (this.previewing) return;
    this.previewing = true;
    const asked = this.window.join(","), token = this.token;
    const dragging = () => drag?.viewport === this && drag.mode === "window" && token === this.token;
    const url = this.url(this.current, true);
    fetchImage(url).then(() => { if (dragging() && this.window?.join(",") === asked) this.display(url, "low"); }).catch(() => {}).finally(() => {
      this.previewing = false;
      if (dragging() && this.window?.join(",") !== asked) this.previewWindow(...this.window);
    });
  }

  // The window a drag starts from: the one chosen, else the image's own (from its header, or
  // asked of the server when the header has none).
  async startWindow() {
    return this.window || this.current.window || ownWindow(data.series[this.series], this.current);
  }

  reset() {
    this.window = null;
    this.view.fitted = true;
    this.fit();
    this.show();
  }
}

const viewports = [...document.querySelectorAll(".viewport")].map((element, n) => new Viewport(element, n));
const state = {active: viewports[0], layout: 1, linked: false, tool: "window", toolChosen: false, cine: null};
const buttons = {
  layout: document.getElementById("layout"), link: document.getElementById("link"),
  cine: document.getElementById("cine"), tags: document.getElementById("tags-toggle"),
};

function activate(viewport) {
  state.active = viewport;
  viewports.forEach((v) => v.element.classList.toggle("active", v === viewport && state.layout === 2));
  markSeries();
  refreshTags();
  updateControls();
}

function updateControls() {
  presets.forEach((button) => { button.disabled = !state.active.windowable; });
}

function markSeries() {
  document.querySelectorAll(".series-list button").forEach((b, i) => {
    b.setAttribute("aria-pressed", String(i === state.active.series));
    if (i === state.active.series) reveal(b);
  });
}

// Scroll the series list, and only it (never the page), to show `button`.
function reveal(button) {
  const list = button.parentElement, outer = list.getBoundingClientRect(), inner = button.getBoundingClientRect();
  if (inner.top < outer.top) list.scrollTop -= outer.top - inner.top;
  else if (inner.bottom > outer.bottom) list.scrollTop += inner.bottom - outer.bottom;
  if (inner.left < outer.left) list.scrollLeft -= outer.left - inner.left;
  else if (inner.right > outer.right) list.scrollLeft += inner.right - outer.right;
}

// Linked scrolling: the other viewport goes to the image nearest in slice position (along the
// leading series' normal, same frame of reference), or at the same fraction of its stack.
function follow(leader) {
  const other = viewports.find((v) => v !== leader);
  if (other.series === null || !leader.current) return;
  const a = data.series[leader.series], b = data.series[other.series];
  const here = leader.current.ipp;
  const comparable = a.normal && here && a.frameOfReference && a.frameOfReference === b.frameOfReference && b.images.every((i) => i.ipp);
  let index;
  if (comparable) {
    const target = dot(here, a.normal);
    index = b.images.reduce((best, image, i) => (Math.abs(dot(image.ipp, a.normal) - target) < Math.abs(dot(b.images[best].ipp, a.normal) - target) ? i : best), 0);
  } else {
    index = Math.round((leader.index / Math.max(leader.images.length - 1, 1)) * (other.images.length - 1));
  }
  other.goTo(index, {linked: false});
}

function setLayout(count) {
  state.layout = count;
  document.getElementById("viewports").dataset.layout = String(count);
  viewports[1].element.hidden = count === 1;
  buttons.layout.setAttribute("aria-pressed", String(count === 2));
  buttons.link.hidden = count === 1;
  if (count === 2 && viewports[1].series === null && data.series.length) {
    viewports[1].load(Math.min(1, data.series.length - 1));
  }
  if (count === 1) activate(viewports[0]); else activate(state.active);
  viewports.forEach((v) => { if (v.view.fitted) v.fit(); });
}

function setTool(tool, {chosen = true} = {}) {
  state.tool = tool;
  state.toolChosen = chosen;
  document.querySelectorAll("[data-tool]").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.tool === tool)));
  viewports.forEach((v) => { v.canvas.dataset.tool = tool; });
}

function toggleCine() {
  if (state.cine) { clearInterval(state.cine); state.cine = null; }
  else {
    state.cine = setInterval(() => {
      const v = state.active;
      v.goTo(v.index + 1 >= v.images.length ? 0 : v.index + 1);
    }, 150);
  }
  buttons.cine.setAttribute("aria-pressed", String(Boolean(state.cine)));
}

// The tag panel: the server writes the rows (with each attribute's name); the filter box keeps
// the attributes whose tag, name or value holds what is typed ("0010,0010", "00100010" and
// "patient's name" all find Patient's Name), a whole sequence when the sequence matches. Only the
// answer for the image shown now is written in: one asked for an image scrolled past may come later.
let tagsShown = null, tagsAsked = null;

async function refreshTags() {
  const tags = document.getElementById("tags");
  const v = state.active;
  if (tags.hidden || !v.current) return;
  const path = `${data.series[v.series].uid}/${v.current.uid}`;
  if (path === tagsShown || path === tagsAsked) return;
  tagsAsked = path;
  const response = await fetch(`${root.dataset.windowBase}${path}/tags/`).catch(() => null);
  const rows = response?.ok ? await response.text().catch(() => null) : null;
  if (path !== tagsAsked) return;
  tagsAsked = null;
  tagsShown = rows === null ? null : path;
  document.getElementById("tags-table").innerHTML = rows ?? "";
  document.getElementById("tags-failed").hidden = rows !== null;
  filterTags();
}

const searchable = (value) => value.toLowerCase().replace(/[\s(),]/g, "");

function filterTags() {
  const wanted = searchable(document.getElementById("tags-filter").value);
  const groups = document.querySelectorAll("#tags-table tbody");
  let shown = 0;
  groups.forEach((group) => {
    const rows = [...group.rows];
    const whole = !wanted || searchable(rows[0].textContent).includes(wanted);
    const matching = rows.map((row) => whole || searchable(row.textContent).includes(wanted));
    if (matching.some(Boolean)) matching[0] = true;  // a nested match keeps its sequence's row above it
    rows.forEach((row, i) => { row.hidden = !matching[i]; });
    group.hidden = !matching[0];
    if (matching[0]) shown += 1;
  });
  document.getElementById("tags-none").hidden = shown > 0 || groups.length === 0;  // no rows: the header did not come
}
document.getElementById("tags-filter").addEventListener("input", filterTags);

// Series list with thumbnails: a click shows the series in the active viewport.
const list = document.getElementById("series-list");
data.series.forEach((series, n) => {
  const button = document.createElement("button");
  button.type = "button";
  button.innerHTML = `<img alt="" loading="lazy" src="${root.dataset.base}/series/${series.uid}/thumbnail"><span></span>`;
  button.querySelector("span").textContent = `${series.label} (${series.images.length})`;
  button.querySelector("img").addEventListener("error", (event) => {
    const placeholder = document.createElement("span");
    placeholder.className = "no-preview";
    placeholder.textContent = text.textNoPreview;
    event.target.replaceWith(placeholder);
  }, {once: true});
  button.addEventListener("click", () => state.active.load(n));
  list.append(button);
});

document.querySelectorAll("[data-preset]").forEach((button) => {
  button.addEventListener("click", () => state.active.setWindow(...button.dataset.preset.split(",").map(Number)));
});
document.querySelectorAll("[data-tool]").forEach((button) => button.addEventListener("click", () => setTool(button.dataset.tool)));
document.getElementById("zoom-in").addEventListener("click", () => state.active.zoomCentre(1.25));
document.getElementById("zoom-out").addEventListener("click", () => state.active.zoomCentre(0.8));
document.getElementById("fit").addEventListener("click", () => state.active.fit());
document.getElementById("actual").addEventListener("click", () => state.active.actualSize());
buttons.cine.addEventListener("click", toggleCine);
buttons.layout.addEventListener("click", () => setLayout(state.layout === 1 ? 2 : 1));
buttons.link.addEventListener("click", () => {
  state.linked = !state.linked;
  buttons.link.setAttribute("aria-pressed", String(state.linked));
  if (state.linked) follow(state.active);
});
buttons.tags.addEventListener("click", () => {
  const tags = document.getElementById("tags");
  tags.hidden = !tags.hidden;
  buttons.tags.setAttribute("aria-pressed", String(!tags.hidden));
  refreshTags();
});
const help = document.getElementById("help");
document.getElementById("help-open").addEventListener("click", () => help.showModal());

// Pointers: one drags with the tool (Shift or the middle button always pans), two pinch-zoom
// and pan together (touch screens, where the viewer starts with the Scroll tool: a swipe goes
// through the stack as the help says, and the window is changed by choosing the Window tool).
let drag = null;
const pointers = new Map();

function pinchOf(viewport) {
  const [a, b] = [...pointers.values()];
  const box = viewport.canvas.getBoundingClientRect();
  return {distance: Math.hypot(a.x - b.x, a.y - b.y) || 1, x: (a.x + b.x) / 2 - box.left, y: (a.y + b.y) / 2 - box.top};
}

viewports.forEach((viewport) => {
  const canvas = viewport.canvas;
  canvas.addEventListener("pointerdown", (event) => {
    activate(viewport);
    canvas.focus({preventScroll: true});
    canvas.setPointerCapture(event.pointerId);
    pointers.set(event.pointerId, {x: event.clientX, y: event.clientY});
    if (pointers.size === 2) {
      // The first finger may have changed the window already: a pinch leaves it as it was.
      if (drag?.viewport === viewport && drag.mode === "window" && drag.moved) { viewport.window = drag.before; viewport.show(); }
      drag = {viewport, mode: "pinch", start: pinchOf(viewport), view: {...viewport.view}};
      return;
    }
    if (pointers.size > 2) return;
    // A finger scrolls until a tool is chosen, also on a laptop whose mouse made Window the default.
    const tool = event.pointerType === "touch" && !state.toolChosen ? "scroll" : state.tool;
    let mode = event.shiftKey || event.button === 1 ? "pan" : tool;
    if ((mode === "window" && !viewport.windowable) || ((mode === "measure" || mode === "region") && viewport.failed)) mode = "none";
    if (mode === "measure") { viewport.measure(event); drag = null; return; }
    if (mode === "region" && !viewport.startRegion(viewport.toImage(event))) { drag = null; return; }
    drag = {viewport, mode, x: event.clientX, y: event.clientY, lastX: event.clientX, lastY: event.clientY,
      before: viewport.window, window: null, moved: false};
    if (mode === "window") {
      const started = drag;
      viewport.startWindow().then((window) => { started.window = window; }).catch(() => {});
    }
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!pointers.has(event.pointerId)) return;
    pointers.set(event.pointerId, {x: event.clientX, y: event.clientY});
    if (!drag || drag.viewport !== viewport) return;
    if (drag.mode === "pinch" && pointers.size === 2) {
      const now = pinchOf(viewport), {start, view} = drag;
      const scale = Math.min(Math.max(view.scale * now.distance / start.distance, MIN_SCALE), MAX_SCALE);
      const imageX = (start.x - view.x) / view.scale, imageY = (start.y - view.y) / view.scale;
      viewport.view = {scale, x: now.x - imageX * scale, y: now.y - imageY * scale, fitted: false};
      viewport.transform();
      return;
    }
    const dx = event.clientX - drag.x, dy = event.clientY - drag.y;
    drag.moved ||= Math.abs(dx) + Math.abs(dy) > 3;
    if (!drag.moved) return;
    if (drag.mode === "region") {
      viewport.growRegion(event);
    } else if (drag.mode === "pan") {
      viewport.panBy(event.clientX - drag.lastX, event.clientY - drag.lastY);
    } else if (drag.mode === "window" && drag.window) {
      viewport.previewWindow(drag.window[0] + dy * 2, drag.window[1] + dx * 4);
    } else if (drag.mode === "scroll") {  // like a page: moving up shows the next image
      const steps = Math.trunc((drag.lastY - event.clientY) / DRAG_STEP_PX);
      if (steps) viewport.step(steps);
      drag.lastX = event.clientX;
      drag.lastY -= steps * DRAG_STEP_PX;
      return;
    }
    drag.lastX = event.clientX;
    drag.lastY = event.clientY;
  });
  // A release always leaves a settled image: the dragged window at full quality, or after a
  // pinch whatever was showing brought to full quality. A cancelled region (the browser took
  // the pointer) is dropped, not measured.
  const release = (event) => {
    pointers.delete(event.pointerId);
    if (!drag || drag.viewport !== viewport) return;
    const ended = drag;
    if (ended.mode !== "pinch" || pointers.size === 0) drag = null;
    if (ended.mode === "region" && event.type === "pointercancel") viewport.clearMeasurement();
    else if (ended.mode === "region") viewport.measureRegion();
    else if (ended.mode === "window" && ended.moved && viewport.window) viewport.setWindow(...viewport.window);
    else if (!drag && viewport.img.dataset.quality === "low" && !viewport.failed) viewport.show();
  };
  canvas.addEventListener("pointerup", release);
  canvas.addEventListener("pointercancel", release);
  canvas.addEventListener("dblclick", () => viewport.fit());
  canvas.addEventListener("wheel", (event) => {
    event.preventDefault();
    activate(viewport);
    if (event.ctrlKey || event.metaKey) {  // a trackpad pinch arrives as Ctrl + wheel too
      const box = canvas.getBoundingClientRect();
      viewport.zoomAt(Math.exp(-event.deltaY / 300), event.clientX - box.left, event.clientY - box.top);
    } else if (event.deltaY !== 0) {  // a sideways scroll has no image to go to
      const unit = event.deltaMode === WheelEvent.DOM_DELTA_LINE ? LINE_PX : event.deltaMode === WheelEvent.DOM_DELTA_PAGE ? canvas.clientHeight : 1;
      viewport.wheel(event.deltaY * unit);
    }
  }, {passive: false});
});

// Keyboard shortcuts for the whole page (the help dialog lists them).
const shortcuts = {
  ArrowDown: () => state.active.step(1), ArrowUp: () => state.active.step(-1),
  PageDown: () => state.active.step(10), PageUp: () => state.active.step(-10),
  Home: () => state.active.goTo(0), End: () => state.active.goTo(state.active.images.length - 1),
  ArrowRight: () => data.series.length && state.active.load((state.active.series + 1) % data.series.length),
  ArrowLeft: () => data.series.length && state.active.load((state.active.series - 1 + data.series.length) % data.series.length),
  "+": () => state.active.zoomCentre(1.25), "=": () => state.active.zoomCentre(1.25), "-": () => state.active.zoomCentre(0.8),
  f: () => state.active.fit(), 0: () => state.active.actualSize(), r: () => state.active.reset(),
  w: () => setTool("window"), s: () => setTool("scroll"), p: () => setTool("pan"), m: () => setTool(state.tool === "measure" ? "window" : "measure"),
  o: () => setTool(state.tool === "region" ? "window" : "region"),
  c: toggleCine, l: () => buttons.layout.click(), k: () => state.layout === 2 && buttons.link.click(),
  v: () => state.layout === 2 && activate(viewports.find((v) => v !== state.active)),
  t: () => buttons.tags.click(), "?": () => help.showModal(),
  Escape: () => state.active.clearMeasurement(),
};
document.addEventListener("keydown", (event) => {
  if (help.open || event.ctrlKey || event.metaKey || event.altKey) return;
  const target = event.target;
  if (target.matches("input:not([type=range]), textarea, select")) return;
  // The slider keeps ← and → (its own direction); ↑ ↓ and the others go as on the image.
  if (target.matches("input[type=range]") && (event.key === "ArrowLeft" || event.key === "ArrowRight")) return;
  // Enter on an image measures a region at its centre with the ROI tool (its keyboard way);
  // anywhere else Enter keeps its own meaning (a button, a link).
  if (event.key === "Enter") {
    const viewport = viewports.find((v) => v.canvas === target);
    if (viewport && state.tool === "region") { event.preventDefault(); activate(viewport); viewport.regionAtCentre(); }
    return;
  }
  const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
  const preset = /^[1-5]$/.test(key) ? presets[Number(key) - 1] : null;
  const action = shortcuts[key];
  if (preset) { event.preventDefault(); preset.click(); }
  else if (action) { event.preventDefault(); action(); }
});

// The viewer fills the window from where it starts (app.css: .viewer), which moves whenever
// what is above it changes height: the site's header and the page head as the width and the
// language wrap them, the critical-finding banner when a finding arrives (redraw.js puts a
// fresh element in place of the old one, watched from then on), or an element put in above.
// Only what is above is watched: the viewer's own height, set here, would answer itself. Each
// element is watched once (watching it again makes the observer report it again, a loop).
function placeViewer() {
  root.style.setProperty("--viewer-top", `${root.getBoundingClientRect().top + window.scrollY}px`);
}
const above = new ResizeObserver(placeViewer);
function watchIfAbove(node) {
  if (node instanceof Element && node.compareDocumentPosition(root) & Node.DOCUMENT_POSITION_FOLLOWING) above.observe(node);
}
watchIfAbove(document.querySelector("body > header"));
for (let node = root.previousElementSibling; node; node = node.previousElementSibling) watchIfAbove(node);
new MutationObserver((records) => {
  for (const {addedNodes, removedNodes} of records) {
    addedNodes.forEach(watchIfAbove);
    removedNodes.forEach((node) => node instanceof Element && above.unobserve(node));
  }
  placeViewer();
}).observe(root.parentElement, {childList: true});
window.addEventListener("resize", placeViewer);  // the page's margins change with the width too
placeViewer();

setTool(matchMedia("(pointer: coarse)").matches ? "scroll" : "window", {chosen: false});
if (data.series.length) viewports[0].load(0);
viewports[0].canvas.focus({preventScroll: true});
