// Follows a teaching export while a worker builds it: polls its progress once a second (slower
// after errors, for weak links) and shows the download link when it is ready.
const root = document.getElementById("export");

function show(state) {
  document.getElementById("export-bar").value = state.percent;
  document.getElementById("export-count").textContent = `${state.done}/${state.total}`;
  const status = document.getElementById("export-status");
  status.textContent = state.label;
  status.className = `badge status-${state.status}`;
  const error = document.getElementById("export-error");
  error.textContent = state.error;
  error.hidden = !state.error;
  const warnings = document.getElementById("export-warnings");
  warnings.replaceChildren(...state.warnings.map((text) => Object.assign(document.createElement("li"), {className: "notice warn", textContent: text})));
  if (state.download) {
    const link = document.getElementById("export-download");
    link.querySelector("a").href = state.download;
    link.hidden = false;
  }
}

async function poll(pause = 1000) {
  try {
    const response = await fetch(root.dataset.progressUrl, {headers: {Accept: "application/json"}});
    if (response.ok) {
      const state = await response.json();
      show(state);
      if (state.finished) return;
      pause = 1000;
    }
  } catch (error) {
    pause = Math.min(pause * 2, 15000);
  }
  setTimeout(() => poll(pause), pause);
}

if (root.dataset.finished !== "1") poll();
