// A DICOM person name (PN: "Zhang^Wei=张^伟") as the pages write it: the rule of
// imaging/dicom/names.py (the `person_name` filter), step for step, so that a label the page
// writes before the server has answered is the one the server's answer writes.

// Han, kana and Hangul: a group written in them is ideographic whichever group the sender used.
const IDEOGRAPHIC = /[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff]/;
// What Python's str.strip() takes away (String.prototype.trim keeps \x1c-\x1f and \x85, and takes \ufeff).
const SPACE = "\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const ENDS = new RegExp(`^[${SPACE}]+|[${SPACE}]+$`, "g");
const strip = (text) => text.replace(ENDS, "");

const isIdeographic = (text) => IDEOGRAPHIC.test(text);

function written(group) {
  // One component group: prefix, family, given, middle, suffix (components beyond the fifth are not read).
  const components = group.split("^");
  const parts = [3, 0, 1, 2, 4].map((i) => strip(components[i] || "")).filter(Boolean);
  return parts.join(isIdeographic(group) ? "" : " ");
}

export function personName(value, language) {
  // `value` as the reader of `language` ("zh-hans", "en") writes it; the phonetic group only
  // when the name has no other.
  if (!value) return "";
  const [alphabetic = "", ideographic = "", phonetic = ""] = value.split("=");
  let groups = [...new Set([written(alphabetic), written(ideographic)])].filter(Boolean);
  if (!groups.length) groups = [written(phonetic)].filter(Boolean);
  if (!groups.length) return "";
  const chineseFirst = language.toLowerCase().startsWith("zh");
  groups.sort((a, b) => (isIdeographic(a) !== chineseFirst) - (isIdeographic(b) !== chineseFirst));
  const [first, ...others] = groups;
  return others.length ? `${first} (${others.join("; ")})` : first;
}
