// The critical-finding banner of a clinic doctor's pages: when a notification arrives over the
// live connection (live.js), fetch the banner again, so a new critical finding shows at once
// without a reload. Without JavaScript the banner is still there at the next page load.
const holder = () => document.getElementById("critical-banner");

async function refresh() {
  const current = holder();
  if (!current) return;
  try {
    const response = await fetch(current.dataset.url, {headers: {"X-Requested-With": "fetch"}, credentials: "same-origin"});
    if (!response.ok) return;
    const fresh = document.createElement("div");
    fresh.innerHTML = await response.text();
    const banner = fresh.querySelector("#critical-banner");
    if (banner) current.replaceWith(banner);
  } catch (error) {
    // A weak link: the next notification, or the next page, tries again.
  }
}

document.addEventListener("live:notify", refresh);
