// The report editor's template picker: fill technique, findings and impression from the chosen
// template without leaving the page (the draft typed so far stays unless the doctor agrees to
// replace it). Without JavaScript the picker reloads the page with the template filled in.
const picker = document.getElementById("template-picker");
const choice = document.getElementById("template-choice");
const templates = JSON.parse(document.getElementById("template-data").textContent);
const field = (name) => document.getElementById(`id_${name}`);

picker?.addEventListener("submit", (event) => {
  event.preventDefault();
  const template = templates.find((t) => t.id === choice.value);
  if (!template) return;
  const names = ["technique", "findings", "impression"];
  const typed = names.some((name) => field(name) && field(name).value.trim());
  const button = document.getElementById("use-template");
  if (typed && !window.confirm(button.dataset.confirm)) return;
  for (const name of names) {
    if (field(name)) field(name).value = template[name];
  }
  if (field("template")) field("template").value = template.id;
  field("findings")?.focus();
});
