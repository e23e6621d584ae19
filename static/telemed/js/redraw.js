// A part of the page drawn again by the server: the element's data-url answers the page with
// the fresh element (same id), which takes its place. On a weak link the old one stays until
// the next try or the next page.
export async function redrawn(current) {
  if (!current) return;
  try {
    const response = await fetch(current.dataset.url, {headers: {"X-Requested-With": "fetch"}, credentials: "same-origin"});
    if (!response.ok) return;
    const fresh = document.createElement("div");
    fresh.innerHTML = await response.text();
    const replacement = fresh.querySelector(`#${current.id}`);
    if (replacement) current.replaceWith(replacement);
  } catch (error) {
    // Nothing to do: what is shown stays.
  }
}
