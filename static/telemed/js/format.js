// A translated text with its %(name)s placeholders filled in, as Python's % does on the server,
// so a page's texts can come from Django's catalogue with their placeholders as written there.
export const format = (template, values) => template.replace(/%\((\w+)\)s/g, (_match, key) => String(values[key] ?? ""));
