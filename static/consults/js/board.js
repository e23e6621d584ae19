// The coordinator's board: when a consult changes, fetch the rows again (one small request,
// debounced) instead of patching the table, so the page always shows what the server knows.
const board = document.getElementById("board");
const state = document.getElementById("livestate");
let timer;

async function refresh() {
  const response = await fetch(board.dataset.rowsUrl, {headers: {"X-Requested-With": "fetch"}});
  if (response.ok) board.innerHTML = await response.text();
}

document.addEventListener("live:board", () => {
  clearTimeout(timer);
  timer = setTimeout(refresh, 300);
});
document.addEventListener("live:state", (event) => {
  state.classList.toggle("offline", event.detail === "offline");
  state.textContent = event.detail === "offline" ? state.dataset.offline || "…" : state.dataset.online || state.textContent;
  if (event.detail === "online") refresh();  // catch up on what happened while disconnected
});
