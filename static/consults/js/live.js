// The live connection of every signed-in page: keeps the bell's count current and tells the
// page about board changes. On a weak link it reconnects with growing pauses and pings so that
// NAT mappings stay open; the page still works without it (the count is also server-rendered).
const bell = document.querySelector(".bell .count");
const scheme = location.protocol === "https:" ? "wss" : "ws";
let pause = 1000;

function connect() {
  const socket = new WebSocket(`${scheme}://${location.host}/ws/live/`);
  let ping;
  socket.addEventListener("open", () => {
    pause = 1000;
    document.dispatchEvent(new CustomEvent("live:state", {detail: "online"}));
    ping = setInterval(() => socket.send(JSON.stringify({type: "ping"})), 25000);
  });
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(event.data);
    if (message.kind === "notify") {
      if (bell) {
        bell.textContent = message.unread > 0 ? String(message.unread) : "";
        bell.dataset.n = String(message.unread);
      }
      document.dispatchEvent(new CustomEvent("live:notify", {detail: message}));
    } else if (message.kind === "board") {
      document.dispatchEvent(new CustomEvent("live:board", {detail: message}));
    }
  });
  socket.addEventListener("close", (event) => {
    clearInterval(ping);
    document.dispatchEvent(new CustomEvent("live:state", {detail: "offline"}));
    if (event.code === 4401) return;  // signed out: nothing to follow
    setTimeout(connect, pause);
    pause = Math.min(pause * 2, 30000);
  });
}

connect();
