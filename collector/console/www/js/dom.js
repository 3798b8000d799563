// SPDX-License-Identifier: MIT
// Building the DOM without ever parsing data as HTML: every string becomes a
// text node (textContent), every attribute goes through setAttribute with a
// name from a fixed list. Device strings, user names, comments come from
// the agents and the users: they are hostile. Nothing here uses innerHTML.

const ATTRS = new Set([
  "id", "class", "href", "type", "name", "value", "for", "title", "role", "lang", "dir",
  "colspan", "scope", "min", "max", "maxlength", "rows", "placeholder", "autocomplete",
  "required", "disabled", "readonly", "checked", "selected", "hidden", "tabindex", "download",
  "aria-label", "aria-live", "aria-current", "aria-describedby", "aria-sort", "data-id", "data-testid",
  "datetime", "pattern", "inputmode", "spellcheck", "multiple", "size",
  "viewBox", "width", "height", "x", "y", "x1", "x2", "y1", "y2", "role", "focusable",
  "text-anchor", "font-size", "d", "fill", "stroke", "stroke-width", "xmlns",
]);
const BOOL = new Set(["required", "disabled", "readonly", "checked", "selected", "hidden", "download", "multiple"]);
const SVG_NS = "http://www.w3.org/2000/svg";

function fill(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "on") {
      for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
      continue;
    }
    if (!ATTRS.has(k)) throw new Error("attribute not allowed: " + k);
    if (k === "href" && !/^(#|\/|\?)/.test(String(v))) throw new Error("foreign href");
    el.setAttribute(k, BOOL.has(k) && v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// h("a", {href: "#/x"}, "text", child...)
export function h(tag, attrs, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

export function svg(tag, attrs, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

// The code points that would not show as themselves (docs/events.md 3.1,
// the same list mamorid escapes device strings by): controls, bidi marks,
// embeddings, overrides and isolates, line and paragraph separators, the
// invisible ones. A newline and a tab stay (comments keep their lines).
const HIDDEN = new RegExp("[\\u0000-\\u0008\\u000b-\\u001f\\u007f-\\u009f\\u00ad\\u034f\\u061c\\u115f\\u1160\\u17b4\\u17b5" +
  "\\u180b-\\u180f\\u200b-\\u200f\\u2028-\\u202e\\u2060-\\u206f\\u3164\\ufe00-\\ufe0f\\ufeff\\uffa0\\ufff0-\\ufffb" +
  "\\u{1bca0}-\\u{1bca3}\\u{1d173}-\\u{1d17a}\\u{e0000}-\\u{e0fff}]", "gu");

// Such code points written as \uXXXX (\UXXXXXXXX past U+FFFF), as mamorid
// writes them: "Photo\u202egpj.exe" reads as what it is, not "Photoexe.jpg".
export function visible(s) {
  return String(s).replace(HIDDEN, (c) => {
    const n = c.codePointAt(0);
    return n > 0xffff ? "\\U" + n.toString(16).padStart(8, "0") : "\\u" + n.toString(16).padStart(4, "0");
  });
}

// A string from outside: hidden code points made visible, isolated for
// bidi (nothing in it can reorder the text around it), inserted as text.
export function bdi(s, cls) {
  const el = document.createElement("bdi");
  el.setAttribute("dir", "auto");
  if (cls) el.setAttribute("class", cls);
  el.textContent = s === null || s === undefined ? "" : visible(s);
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// A labelled input: <label for=id>text</label><input id=id ...>
let seq = 0;
export function field(label, input) {
  if (!input.id) input.id = "f" + ++seq;
  return h("div", { class: "field" }, h("label", { for: input.id }, label), input);
}

export function table(caption, heads, rows, opts = {}) {
  const t = h("table", { class: opts.cls || "list" },
    caption ? h("caption", {}, caption) : null,
    h("thead", {}, h("tr", {}, heads.map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: heads.length, class: "empty" }, opts.empty || "—"))));
  return h("div", { class: "table-wrap" }, t);
}

export function tr(...cells) {
  return h("tr", {}, cells.map((c) => (c instanceof Node && c.tagName === "TH" ? c : h("td", {}, c))));
}
