// SPDX-License-Identifier: MIT
// The pages. Each takes the route's path parts and arguments and returns
// an element. Data goes into the DOM as text only (dom.js); strings from
// the agents (device strings, host and user names, comments) are wrapped
// in <bdi dir="auto"> so that bidi controls cannot reorder what surrounds
// them.

import { get, post, url } from "./api.js";
import { go, loggedIn, may, render, session, showError, showOk } from "./app.js";
import { bdi, field, h, svg, table, tr } from "./dom.js";
import { fmtTime, getZone, label, num, t, today } from "./i18n.js";
import { loginPage } from "./login.js";

const SEVERITIES = ["info", "low", "medium", "high", "critical"];
const TRIAGE_STATES = ["new", "acknowledged", "assigned", "resolved"];

function title(text) {
  return h("h1", {}, text);
}

function zoneNote() {
  return h("p", { class: "zone" }, t("misc.zone", { zone: getZone() }));
}

function csvLink(path, params, text, testid = "csv") {
  return h("a", { class: "button", href: url(path, { ...params, format: "csv" }), download: true, "data-testid": testid },
    text);
}

function hostLink(machineId, name) {
  return h("a", { href: "#/host/" + encodeURIComponent(machineId || "") }, bdi(name || machineId || "—"));
}

// A device outside USB (SD card, optical drive, Thunderbolt, FireWire): its
// bus and identity; a USB one: vendor:product:serial.
function otherBus(d) {
  return d && d.bus && d.bus !== "usb";
}

function deviceId(d) {
  if (otherBus(d)) return d.bus + (d.identity ? " " + d.identity : "");
  return [d.vendor, d.product, d.serial].filter((x) => x !== null && x !== undefined && x !== "").join(":");
}

function deviceText(d) {
  if (!d) return "—";
  const id = deviceId(d);
  return h("span", { class: "device" },
    h("code", {}, bdi(id)), " ", bdi(d.product_name || d.product || "", "product"),
    d.manufacturer ? [" / ", bdi(d.manufacturer, "manufacturer")] : null);
}

function sevBadge(s) {
  return h("span", { class: "sev sev-" + (SEVERITIES.includes(s) ? s : "other") }, label("sev", s));
}

function stateBadge(s) {
  return h("span", { class: "state state-" + (TRIAGE_STATES.includes(s) ? s : "other") }, label("state", s || "new"));
}

function select(name, options, value, anyText) {
  const el = h("select", { name },
    anyText !== undefined ? h("option", { value: "" }, anyText) : null,
    options.map(([v, text]) => h("option", { value: v, selected: v === value }, text)));
  return el;
}

function input(name, value, attrs = {}) {
  return h("input", { type: "text", name, value: value || "", ...attrs });
}

// A filter form whose fields are the route's arguments: submitting it
// changes the hash (bookmarkable), which renders the page again.
function filterForm(route, fields, args) {
  const form = h("form", { class: "filters", role: "search", "aria-label": t("ev.filter") },
    fields, h("div", { class: "actions" },
      h("button", { type: "submit" }, t("ev.apply")),
      h("button", { type: "button", class: "secondary", on: { click: () => go(route, {}) } }, t("ev.reset"))));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const out = {};
    for (const el of form.elements) {
      if (!el.name) continue;
      if (el.type === "checkbox") out[el.name] = el.checked ? "1" : "";
      else out[el.name] = el.value.trim();
    }
    void args;
    go(route, out);
  });
  return form;
}

function argsObj(args, names) {
  const o = {};
  for (const n of names) if (args.get(n)) o[n] = args.get(n);
  return o;
}

// "next" keyset paging: the cursor rides in the route as "after".
function pager(route, params, next) {
  return h("nav", { class: "pager", "aria-label": "pages" },
    params.after ? h("a", { class: "button secondary", href: "#/" + route + routeQuery({ ...params, after: "" }) }, t("ev.first")) : null,
    next ? h("a", { class: "button", rel: undefined, href: "#/" + route + routeQuery({ ...params, after: next }), "data-testid": "next" }, t("ev.next")) : null);
}

function routeQuery(o) {
  const q = new URLSearchParams(Object.entries(o).filter(([, v]) => v !== "" && v != null)).toString();
  return q ? "?" + q : "";
}

function kv(pairs) {
  return h("dl", { class: "kv" }, pairs.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

// ---------------------------------------------------------------- overview

function countTable(caption, obj, labelFn, head) {
  const rows = Object.entries(obj || {}).sort((a, b) => b[1] - a[1])
    .map(([k, n]) => tr(labelFn ? labelFn(k) : bdi(k), h("span", { class: "num" }, num(n))));
  return table(caption, [head || t("ev.kind"), t("ov.count")], rows, { cls: "list compact", empty: t("misc.none") });
}

export function chart(days) {
  const W = 720, H = 220, L = 40, B = 30, T = 10;
  const max = Math.max(1, ...days.map((d) => Number(d.count) || 0));
  const step = (W - L - 10) / Math.max(1, days.length);
  const bw = Math.max(2, step * 0.7);
  const total = days.reduce((s, d) => s + (Number(d.count) || 0), 0);
  const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", class: "chart", "aria-label": t("ov.chart") + ": " + num(total) });
  s.appendChild(svg("title", {}, t("ov.chart")));
  // the axis and three grid lines with their values
  for (const f of [0, 0.5, 1]) {
    const y = T + (H - T - B) * (1 - f);
    s.appendChild(svg("line", { x1: L, x2: W - 5, y1: y, y2: y, class: "grid" }));
    s.appendChild(svg("text", { x: L - 6, y: y + 4, "text-anchor": "end", class: "axis" }, num(Math.round(max * f))));
  }
  days.forEach((d, i) => {
    const n = Number(d.count) || 0;
    const bh = ((H - T - B) * n) / max;
    const x = L + i * step + (step - bw) / 2;
    const r = svg("rect", { x: x.toFixed(1), y: (H - B - bh).toFixed(1), width: bw.toFixed(1), height: bh.toFixed(1), class: "bar" });
    r.appendChild(svg("title", {}, t("ov.chart_label", { day: d.day, n: num(n) })));
    s.appendChild(r);
    if ((days.length - 1 - i) % 7 === 0) {
      s.appendChild(svg("text", { x: (x + bw / 2).toFixed(1), y: H - B + 16, "text-anchor": "middle", class: "axis" },
        String(d.day || "").slice(5)));
    }
  });
  return s;
}

async function overview() {
  const o = await get("/overview");
  const win = (key) => {
    const w = (o.windows && o.windows[key]) || {};
    return h("section", { class: "window card" },
      h("h2", {}, t("ov." + key), " ", h("span", { class: "big", "data-testid": "total-" + key }, num(w.total))),
      countTable(t("ov.by_kind"), w.by_kind),
      countTable(t("ov.by_severity"), w.by_severity, (k) => sevBadge(k), t("ev.severity")),
      countTable(t("ov.by_clause"), w.by_clause, null, t("ev.clause")));
  };
  const hosts = o.hosts || {};
  const findings = (o.findings_open || []).map((f) =>
    tr(h("a", { href: "#/findings" + routeQuery({ open: "1", kind: f.kind }) }, bdi(f.kind)), sevBadge(f.severity),
      h("span", { class: "num" }, num(f.count)), h("span", { class: "num" }, num(f.hosts))));
  const stale = ((o.stale_av && o.stale_av.hosts) || []).map((x) =>
    tr(hostLink(x.machine_id, x.host_name), h("span", { class: "num" }, num(x.pattern_age_days))));
  return h("div", {},
    title(t("ov.title")),
    h("p", { class: "zone" }, t("ov.now"), " ", fmtTime(o.now)),
    h("section", { class: "cards" },
      h("div", { class: "card stat" }, h("span", {}, t("ov.hosts_total")), h("strong", {}, num(hosts.total))),
      h("div", { class: "card stat" }, h("span", {}, t("ov.silent")), h("strong", {}, num(hosts.silent))),
      h("div", { class: "card stat" }, h("span", {}, t("ov.stopped")), h("strong", {}, num(hosts.stopped))),
      h("div", { class: "card stat" }, h("span", {}, t("ov.stale_av")), h("strong", {}, num(o.stale_av && o.stale_av.count)))),
    h("section", { class: "card" }, h("h2", {}, t("ov.chart")), chart(o.blocked_per_day || [])),
    h("div", { class: "windows" }, win("today"), win("7d"), win("30d")),
    h("section", { class: "card" }, h("h2", {}, t("ov.findings")),
      table(null, [t("ev.kind"), t("ev.severity"), t("ov.count"), t("ov.host_count")], findings, { empty: t("misc.none") })),
    h("section", { class: "card" }, h("h2", {}, t("ov.stale_av")),
      table(null, [t("ho.name"), t("ov.pattern_age")], stale, { empty: t("misc.none") })));
}

// ---------------------------------------------------------------- events

const EVENT_ARGS = ["from", "to", "kind", "severity", "clause", "department", "host", "user", "device", "triage", "limit", "after"];

async function events(parts, args) {
  if (parts.length) return eventDetail(parts[0]);
  const p = argsObj(args, EVENT_ARGS);
  const data = await get("/events", p);
  const rows = (data.rows || []).map((e) =>
    h("tr", { "data-id": e.id },
      h("td", { class: "nowrap" }, h("a", { href: "#/events/" + encodeURIComponent(e.id), class: "rowlink" }, fmtTime(e.time || e.received_at))),
      h("td", {}, bdi(e.kind)), h("td", {}, sevBadge(e.severity)), h("td", {}, bdi(e.policy_ref || "")),
      h("td", {}, hostLink(e.machine_id, e.host_name)), h("td", {}, bdi(e.user || "")),
      h("td", {}, bdi(e.department || "")), h("td", {}, deviceText(e.device)), h("td", {}, stateBadge(e.triage))));
  const f = [
    field(t("ev.from"), h("input", { type: "date", name: "from", value: p.from || "" })),
    field(t("ev.to"), h("input", { type: "date", name: "to", value: p.to || "" })),
    field(t("ev.kind"), input("kind", p.kind, { placeholder: "usb.blocked" })),
    field(t("ev.severity"), select("severity", SEVERITIES.map((s) => [s, label("sev", s)]), p.severity, t("ev.any"))),
    field(t("ev.clause"), input("clause", p.clause, { placeholder: "第3-6" })),
    field(t("ev.department"), input("department", p.department)),
    field(t("ev.host"), input("host", p.host)),
    field(t("ev.user"), input("user", p.user)),
    field(t("ev.device"), input("device", p.device, { placeholder: "0781:5581", spellcheck: "false" })),
    field(t("ev.triage"), select("triage", TRIAGE_STATES.map((s) => [s, label("state", s)]), p.triage, t("ev.any"))),
    field(t("ev.limit"), select("limit", [["50", "50"], ["100", "100"], ["500", "500"]], p.limit || "50")),
  ];
  const params = { ...p };
  delete params.after;
  return h("div", {},
    title(t("ev.title")), zoneNote(),
    filterForm("events", f, args),
    h("div", { class: "toolbar" }, h("span", { "data-testid": "count" }, t("ev.count", { n: num(rows.length) })),
      csvLink("/events", params, t("ev.csv"))),
    table(null, [t("ev.time"), t("ev.kind"), t("ev.severity"), t("ev.clause"), t("ev.host"), t("ev.user"),
      t("ev.department"), t("ev.device"), t("ev.triage")], rows, { empty: t("ev.none"), cls: "list events" }),
    pager("events", p, data.next));
}

// Every field of a JSON object as rows "a.b.c" -> value (text only).
function flatten(obj, prefix, out) {
  if (obj !== null && typeof obj === "object") {
    const entries = Array.isArray(obj) ? obj.map((v, i) => [String(i), v]) : Object.entries(obj);
    if (!entries.length) out.push([prefix, Array.isArray(obj) ? "[]" : "{}"]);
    for (const [k, v] of entries) flatten(v, prefix ? prefix + "." + k : k, out);
  } else {
    out.push([prefix, obj === null ? "null" : String(obj)]);
  }
  return out;
}

function triagePanel(kindPath, id, triage, log) {
  const state = (triage && triage.state) || "new";
  const logRows = (log || []).map((l) =>
    tr(fmtTime(l.at || l.time), bdi(l.user || l.by || ""), label("act", l.action),
      bdi(l.assignee || ""), h("span", { class: "comment" }, bdi(l.comment || ""))));
  const box = h("section", { class: "card triage", "aria-labelledby": undefined },
    h("h2", {}, t("tri.title")),
    kv([[t("tri.state"), stateBadge(state)], [t("tri.assignee"), bdi((triage && triage.assignee) || "—")]]));
  if (may("reviewer")) {
    const action = select("action", [["acknowledge", t("tri.acknowledge")], ["assign", t("tri.assign")],
      ["comment", t("tri.comment_action")], ["resolve", t("tri.resolve")], ["reopen", t("tri.reopen")]], "comment");
    const assignee = input("assignee", "", { maxlength: "64", autocomplete: "off" });
    const comment = h("textarea", { name: "comment", rows: "3", maxlength: "2000" });
    const form = h("form", { class: "triage-form" },
      field(t("tri.action"), action), field(t("tri.assignee"), assignee), field(t("tri.comment"), comment),
      h("div", { class: "actions" }, h("button", { type: "submit" }, t("tri.submit"))));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const body = { action: action.value };
      if (assignee.value.trim()) body.assignee = assignee.value.trim();
      if (comment.value.trim()) body.comment = comment.value;
      try {
        await post(kindPath + "/" + encodeURIComponent(id) + "/triage", body);
        await render();
        showOk(t("tri.done"));
      } catch (e) {
        showError(e);
      }
    });
    box.appendChild(form);
  } else {
    box.appendChild(h("p", { class: "note" }, t("tri.viewer")));
  }
  box.appendChild(h("h3", {}, t("tri.log")));
  box.appendChild(table(null, [t("tri.at"), t("tri.by"), t("tri.action"), t("tri.assignee"), t("tri.comment")], logRows,
    { empty: t("misc.none"), cls: "list log" }));
  return box;
}

async function eventDetail(id) {
  const d = await get("/events/" + encodeURIComponent(id));
  const e = d.event || {};
  const dev = e.device || null;
  const fields = [
    ["id", h("code", {}, bdi(e.id))], [t("ev.time"), fmtTime(e.time)], [t("ev.received"), fmtTime(e.received_at)],
    [t("ev.kind"), bdi(e.kind)], [t("ev.severity"), sevBadge(e.severity)], [t("ev.clause"), bdi(e.policy_ref || "—")],
    [t("ev.host"), hostLink(e.machine_id, e.host_name)], ["machine_id", h("code", {}, bdi(e.machine_id))],
    ["seq", String(e.seq ?? "")], [t("ev.user"), bdi(e.user || "—")], [t("ev.department"), bdi(e.department || "—")],
    [t("ev.summary"), bdi(e.summary || "—")],
  ];
  if (otherBus(dev)) {
    fields.push([t("dv.bus"), h("code", {}, bdi(dev.bus))]);
    fields.push([t("dv.identity"), h("code", {}, bdi(dev.identity ?? "—"))]);
  } else if (dev) {
    fields.push([t("ev.vendor_product"), h("code", {}, bdi(dev.vendor), ":", bdi(dev.product))]);
    fields.push([t("ev.serial"), h("code", {}, bdi(dev.serial ?? "—"))]);
  }
  if (dev) {
    fields.push([t("ev.product"), bdi(dev.product_name || "—", "product")]);
    fields.push([t("ev.manufacturer"), bdi(dev.manufacturer || "—", "manufacturer")]);
  }
  const raw = flatten(d.json || {}, "", []).map(([k, v]) => tr(h("code", {}, bdi(k)), h("span", { class: "val" }, bdi(v))));
  return h("div", { class: "detail" },
    title(t("ev.detail")), zoneNote(),
    h("section", { class: "card" }, h("h2", {}, t("ev.fields")), kv(fields)),
    triagePanel("/events", id, d.triage, d.log),
    h("section", { class: "card" }, h("h2", {}, t("ev.stored")),
      table(null, [t("ev.key"), t("ev.value")], raw, { cls: "list raw" })));
}

// ---------------------------------------------------------------- findings

async function findings(parts, args) {
  if (parts.length) return findingDetail(parts[0]);
  const p = argsObj(args, ["open", "kind", "host", "state", "from", "to", "limit", "after"]);
  const data = await get("/findings", p);
  const rows = (data.rows || []).map((f) =>
    h("tr", {},
      h("td", { class: "nowrap" }, h("a", { href: "#/findings/" + encodeURIComponent(f.id), class: "rowlink" }, fmtTime(f.first || f.first_at))),
      h("td", {}, bdi(f.kind)), h("td", {}, sevBadge(f.severity)), h("td", {}, hostLink(f.machine_id, f.host_name)),
      h("td", { class: "nowrap" }, fmtTime(f.last || f.last_at)), h("td", { class: "nowrap" }, f.closed_at ? fmtTime(f.closed_at) : "—"),
      h("td", {}, stateBadge(f.triage)), h("td", {}, bdi(f.summary || f.message || ""))));
  const f = [
    h("div", { class: "field check" }, h("input", { type: "checkbox", name: "open", id: "fi-open", checked: p.open === "1" }),
      h("label", { for: "fi-open" }, t("fi.open_only"))),
    field(t("ev.kind"), input("kind", p.kind, { placeholder: "host.silent" })),
    field(t("ev.host"), input("host", p.host)),
    field(t("ev.triage"), select("state", TRIAGE_STATES.map((s) => [s, label("state", s)]), p.state, t("ev.any"))),
    field(t("ev.from"), h("input", { type: "date", name: "from", value: p.from || "" })),
    field(t("ev.to"), h("input", { type: "date", name: "to", value: p.to || "" })),
  ];
  const params = { ...p };
  delete params.after;
  return h("div", {},
    title(t("fi.title")), zoneNote(), filterForm("findings", f, args),
    h("div", { class: "toolbar" }, csvLink("/findings", params, t("ev.csv"))),
    table(null, [t("fi.opened"), t("ev.kind"), t("ev.severity"), t("ev.host"), t("dv.last"), t("fi.closed"),
      t("ev.triage"), t("ev.summary")], rows, { empty: t("fi.none"), cls: "list findings" }),
    pager("findings", p, data.next));
}

async function findingDetail(id) {
  const d = await get("/findings/" + encodeURIComponent(id));
  const f = d.finding || {};
  const fields = Object.entries(f).map(([k, v]) => [k, v !== null && typeof v === "object" ? h("code", {}, bdi(JSON.stringify(v)))
    : /(^|_)(at|first|last|time)$/.test(k) && typeof v === "string" ? fmtTime(v) : bdi(v ?? "—")]);
  return h("div", { class: "detail" },
    title(t("fi.detail")), zoneNote(),
    h("section", { class: "card" }, h("p", {}, hostLink(f.machine_id, f.host_name)), kv(fields)),
    triagePanel("/findings", id, d.triage, d.log));
}

// ---------------------------------------------------------------- hosts

async function hosts(parts, args) {
  if (parts.length) return hostDetail(parts[0]);
  const p = argsObj(args, ["q", "department", "stale_av", "silent", "limit", "after"]);
  const data = await get("/hosts", p);
  const rows = (data.rows || []).map((x) =>
    tr(hostLink(x.machine_id, x.host_name), h("code", {}, bdi(x.machine_id)), bdi(x.department || ""),
      bdi(x.agent_version || ""), fmtTime(x.last_seen || x.last_received_at), hostState(x), policyState(x.policy_current)));
  const f = [
    field(t("ho.q"), input("q", p.q)),
    field(t("ev.department"), input("department", p.department)),
    h("div", { class: "field check" }, h("input", { type: "checkbox", name: "stale_av", id: "ho-stale", checked: p.stale_av === "1" }),
      h("label", { for: "ho-stale" }, t("ho.stale_av"))),
    h("div", { class: "field check" }, h("input", { type: "checkbox", name: "silent", id: "ho-silent", checked: p.silent === "1" }),
      h("label", { for: "ho-silent" }, t("ho.silent_only"))),
  ];
  // the export: every page of the filter
  const params = { ...p };
  delete params.after;
  delete params.limit;
  return h("div", {},
    title(t("ho.title")), zoneNote(), filterForm("hosts", f, args),
    h("div", { class: "toolbar" }, csvLink("/hosts", params, t("ev.csv"))),
    table(null, [t("ho.name"), "machine_id", t("ev.department"), t("ho.version"), t("ho.last_seen"), t("ho.state"), t("ho.policy_current")],
      rows, { empty: t("ho.none") }),
    pager("hosts", p, data.next));
}

function hostState(x) {
  const bad = ["silent", "stopped", "fail_closed"].filter((k) => x[k] === true);
  if (!bad.length) return h("span", { class: "ok" }, t("ho.normal"));
  return h("span", { class: "bad" }, bad.map((k) => t("ho." + k)).join("、"));
}

function policyState(v) {
  if (v === true) return h("span", { class: "ok" }, t("ho.yes"));
  if (v === false) return h("span", { class: "bad" }, t("ho.no"));
  return t("ho.unknown");
}

function verdict(v) {
  const cls = v === "ok" ? "ok" : v === "ng" ? "bad" : "chk";
  return h("span", { class: cls }, label("verdict", v));
}

function postureTable(posture) {
  if (!posture) return h("p", {}, t("misc.none"));
  if (Array.isArray(posture.checks)) {
    const rows = posture.checks.map((c) => tr(bdi(c.clause || ""), h("code", {}, bdi(c.id || "")), bdi(c.value ?? ""), verdict(c.verdict)));
    return h("div", {},
      h("p", {}, t("ho.verdict"), " ", verdict(posture.verdict), posture.time ? [" (", fmtTime(posture.time), ")"] : null),
      table(null, [t("ev.clause"), t("ho.check"), t("ev.value"), t("ho.verdict")], rows, { empty: t("misc.none") }));
  }
  // agent.posture: {"clauses": [{"ref","status","detail"...}]} or an object per clause
  const list = Array.isArray(posture.clauses) ? posture.clauses
    : Array.isArray(posture) ? posture
      : Object.entries(posture).filter(([, v]) => v && typeof v === "object").map(([k, v]) => ({ ref: k, ...v }));
  const rows = list.map((c) => tr(bdi(c.ref || c.policy_ref || c.clause || c.name || ""),
    h("span", { class: c.status === "ng" ? "bad" : "ok" }, bdi(c.status ?? c.state ?? "")),
    bdi(c.detail || c.summary || c.what || "")));
  return table(null, [t("ev.clause"), t("tri.state"), t("ev.summary")], rows, { empty: t("misc.none") });
}

async function hostDetail(mid) {
  const d = await get("/hosts/" + encodeURIComponent(mid));
  const x = d.host || {};
  const timeline = (d.timeline || []).map((e) =>
    tr(h("a", { href: "#/events/" + encodeURIComponent(e.id) }, fmtTime(e.received_at || e.time)), bdi(e.kind),
      sevBadge(e.severity), bdi(e.policy_ref || ""), deviceText(e.device), bdi(e.summary || "")));
  const gaps = (d.gaps || []).map((g) => tr(String(g.from ?? g.first ?? ""), String(g.to ?? g.last ?? ""), fmtTime(g.at || g.detected_at)));
  const fnd = (d.findings || []).map((f) =>
    tr(h("a", { href: "#/findings/" + encodeURIComponent(f.id) }, bdi(f.kind)), sevBadge(f.severity), fmtTime(f.first || f.first_at),
      f.closed_at ? fmtTime(f.closed_at) : "—", bdi(f.message || f.summary || "")));
  return h("div", { class: "detail" },
    title(t("ho.host")), zoneNote(),
    h("section", { class: "card" }, kv([
      [t("ho.name"), bdi(x.host_name || "—")], ["machine_id", h("code", {}, bdi(x.machine_id || mid))],
      [t("ev.department"), bdi(x.department || "—")], [t("ho.version"), bdi(x.agent_version || "—")],
      [t("ho.state"), hostState(x)],
      [t("ho.first_seen"), fmtTime(x.first_seen)],
      [t("ho.last_seen"), fmtTime(x.last_seen || x.last_received_at)],
      [t("ho.last_event"), fmtTime(x.last_event_time)],
      [t("ho.max_seq"), x.max_seq == null ? "—" : String(x.max_seq)],
      [t("ho.pattern_age"), x.pattern_age_days == null ? "—" : num(x.pattern_age_days)],
      [t("ho.policy_hash"), h("code", { class: "hash" }, bdi(x.policy_hash || "—"))],
      [t("ho.policy_current"), policyState(d.policy_current)]])),
    h("section", { class: "card" }, h("h2", {}, t("ho.posture")), postureTable(d.posture)),
    h("section", { class: "card" }, h("h2", {}, t("ho.gaps")), table(null, ["from", "to", t("tri.at")], gaps, { empty: t("misc.none") })),
    h("section", { class: "card" }, h("h2", {}, t("ho.findings")),
      table(null, [t("ev.kind"), t("ev.severity"), t("fi.opened"), t("fi.closed"), t("ev.summary")], fnd, { empty: t("misc.none") })),
    h("section", { class: "card" }, h("h2", {}, t("ho.timeline")),
      table(null, [t("ev.received"), t("ev.kind"), t("ev.severity"), t("ev.clause"), t("ev.device"), t("ev.summary")], timeline,
        { empty: t("misc.none") })));
}

// ---------------------------------------------------------------- devices

function approveForm(d, onDone) {
  const today0 = today();
  const inp = {
    label: input("label", d.product_name || "", { required: true, maxlength: "200" }),
    approved_by: input("approved_by", session.user || "", { required: true, maxlength: "200" }),
    approved_on: h("input", { type: "date", name: "approved_on", value: today0, required: true }),
    expires: h("input", { type: "date", name: "expires", value: "" }),
    ticket: input("ticket", "", { maxlength: "200" }),
    access: select("access", [["read-write", t("dv.rw")], ["read-only", t("dv.ro")]], "read-write"),
    any_serial: h("input", { type: "checkbox", name: "any_serial", id: "dv-any" }),
  };
  const out = h("div", { class: "allow-out", "aria-live": "polite" });
  const form = h("form", { class: "approve card", "data-testid": "approve-form" },
    h("h2", {}, t("dv.form")),
    h("p", {}, h("code", {}, bdi([d.vendor, d.product, d.serial].filter(Boolean).join(":"))), " ", bdi(d.product_name || "")),
    field(t("dv.label"), inp.label), field(t("dv.approved_by"), inp.approved_by),
    field(t("dv.approved_on"), inp.approved_on), field(t("dv.expires"), inp.expires),
    field(t("dv.ticket"), inp.ticket), field(t("dv.access"), inp.access),
    h("div", { class: "field check" }, inp.any_serial, h("label", { for: "dv-any" }, t("dv.any_serial"))),
    h("div", { class: "actions" }, h("button", { type: "submit" }, t("dv.submit")),
      h("button", { type: "button", class: "secondary", on: { click: () => form.remove() } }, t("dv.cancel"))),
    out);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const any = inp.any_serial.checked;
    const body = {
      vendor: d.vendor, product: d.product, serial: any ? null : d.serial || null, any_serial: any,
      label: inp.label.value.trim(), approved_by: inp.approved_by.value.trim(), approved_on: inp.approved_on.value,
      expires: inp.expires.value || null, ticket: inp.ticket.value.trim() || null, access: inp.access.value,
    };
    try {
      const r = await post("/approvals", body);
      const a = r.approval || {};
      out.replaceChildren(h("h3", {}, t("dv.allow_text")), h("p", {}, t("dv.allow_hint")),
        h("pre", { class: "allow-text", "data-testid": "allow-text", dir: "ltr" }, a.allow_text || ""),
        h("button", { type: "button", class: "secondary", on: { click: () => navigator.clipboard && navigator.clipboard.writeText(a.allow_text || "") } }, t("dv.copy")));
      if (onDone) onDone();
    } catch (e) {
      showError(e);
    }
  });
  return form;
}

async function devices(parts, args) {
  const p = argsObj(args, ["from", "to", "q", "limit", "after"]);
  const [data, appr] = await Promise.all([get("/devices", p), get("/approvals", { limit: 20 })]);
  const slot = h("div", { class: "approve-slot" });
  const rows = (data.rows || []).map((d) => {
    // the console approves USB devices only; the others through allow.d
    const btn = may("admin") && !otherBus(d) ? h("button", { type: "button", class: "small", on: {
      click: () => {
        slot.replaceChildren(approveForm(d));
        slot.querySelector("input").focus();
      },
    } }, t("dv.approve")) : null;
    return h("tr", {},
      h("td", {}, bdi(d.bus || "usb")), h("td", {}, h("code", {}, bdi(deviceId(d)))),
      h("td", {}, bdi(d.product_name || "", "product")), h("td", {}, bdi(d.manufacturer || "", "manufacturer")),
      h("td", {}, bdi(d.category || "")), h("td", { class: "num" }, num(d.count)), h("td", { class: "num" }, num(d.hosts)),
      h("td", { class: "num" }, num(d.users)), h("td", {}, fmtTime(d.last)),
      h("td", {}, d.approved ? h("span", { class: "ok" }, t("dv.approved")) : otherBus(d) ? h("span", { class: "note" }, t("dv.allow_d")) : btn));
  });
  const approvals = (appr.rows || []).map((a) =>
    tr(fmtTime(a.created_at || a.at), h("code", {}, bdi([a.vendor, a.product, a.serial].filter(Boolean).join(":"))),
      bdi(a.label || ""), bdi(a.approved_by || ""), bdi(a.expires || "—"), bdi(a.ticket || "")));
  const f = [
    field(t("ev.from"), h("input", { type: "date", name: "from", value: p.from || "" })),
    field(t("ev.to"), h("input", { type: "date", name: "to", value: p.to || "" })),
    field(t("dv.q"), input("q", p.q, { placeholder: "0781:5581", spellcheck: "false" })),
  ];
  const params = { ...p };
  delete params.after;
  delete params.limit;
  return h("div", {},
    title(t("dv.title")), zoneNote(), filterForm("devices", f, args),
    h("div", { class: "toolbar" }, csvLink("/devices", params, t("ev.csv"))),
    may("admin") ? null : h("p", { class: "note" }, t("dv.admin_only")),
    table(null, [t("dv.bus"), t("dv.identity"), t("ev.product"), t("ev.manufacturer"), t("dv.category"), t("dv.count"), t("dv.hosts"),
      t("dv.users"), t("dv.last"), ""], rows, { empty: t("dv.none"), cls: "list devices" }),
    pager("devices", p, data.next),
    slot,
    h("section", { class: "card" }, h("h2", {}, t("dv.approvals")),
      h("div", { class: "toolbar" }, csvLink("/approvals", {}, t("dv.approvals_csv"), "csv-approvals")),
      table(null, [t("tri.at"), "vendor:product:serial", t("dv.label"), t("dv.approved_by"), t("dv.expires"), t("dv.ticket")],
        approvals, { empty: t("misc.none") })));
}

// ---------------------------------------------------------------- audit

// An audit row's detail in one line: "key: value, ..." (nested values as JSON)
function detailText(d) {
  if (d === null || d === undefined) return "";
  if (typeof d !== "object") return String(d);
  if (Array.isArray(d)) return JSON.stringify(d);
  return Object.entries(d).map(([k, v]) => k + ": " + (v !== null && typeof v === "object" ? JSON.stringify(v) : String(v))).join(", ");
}

async function audit(parts, args) {
  const p = argsObj(args, ["from", "to", "user", "action", "limit", "after"]);
  const data = await get("/audit", p);
  const rows = (data.rows || []).map((a) =>
    h("tr", {}, h("td", { class: "nowrap" }, fmtTime(a.at || a.time)), h("td", {}, bdi(a.user || "")),
      h("td", {}, bdi(a.action || "")), h("td", {}, h("span", { class: "target" }, bdi(a.target || ""))),
      h("td", {}, bdi(a.peer || "")), h("td", {}, h("span", { class: "comment" }, bdi(detailText(a.detail))))));
  const f = [
    field(t("ev.from"), h("input", { type: "date", name: "from", value: p.from || "" })),
    field(t("ev.to"), h("input", { type: "date", name: "to", value: p.to || "" })),
    field(t("au.user"), input("user", p.user)),
    field(t("au.action"), input("action", p.action)),
  ];
  const params = { ...p };
  delete params.after;
  return h("div", {},
    title(t("au.title")), zoneNote(), filterForm("audit", f, args),
    h("div", { class: "toolbar" }, csvLink("/audit", params, t("ev.csv"))),
    table(null, [t("au.at"), t("au.user"), t("au.action"), t("au.target"), t("au.peer"), t("au.detail")], rows, { empty: t("au.none") }),
    pager("audit", p, data.next));
}

// ---------------------------------------------------------------- report

function lastMonth() {
  const d = today();
  let [y, m] = d.split("-").map(Number);
  m -= 1;
  if (m === 0) {
    m = 12;
    y -= 1;
  }
  return `${y}-${String(m).padStart(2, "0")}`;
}

async function report(parts, args) {
  const month = /^\d{4}-\d{2}$/.test(args.get("month") || "") ? args.get("month") : lastMonth();
  const r = await get("/reports/monthly", { month });
  const monthIn = h("input", { type: "month", name: "month", value: month, pattern: "[0-9]{4}-[0-9]{2}", required: true });
  const form = h("form", { class: "filters noprint" }, field(t("rp.month"), monthIn),
    h("div", { class: "actions" }, h("button", { type: "submit" }, t("rp.show")),
      h("button", { type: "button", class: "secondary", "data-testid": "print", on: { click: () => window.print() } }, t("rp.print")),
      csvLink("/reports/monthly", { month }, t("rp.csv"))));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    go("report", { month: monthIn.value });
  });
  const clauses = (r.clauses || []).map((c) => h("section", { class: "clause" },
    h("h3", {}, bdi(c.policy_ref || "—"), " ", h("span", { class: "big" }, num(c.count))),
    h("div", { class: "cols" },
      countTable(t("ov.by_kind"), c.by_kind),
      table(t("rp.top_hosts"), [t("ho.name"), t("ov.count")], (c.top_hosts || []).map((x) =>
        tr(hostLink(x.machine_id, x.host_name), h("span", { class: "num" }, num(x.count)))), { cls: "list compact", empty: t("misc.none") }),
      table(t("rp.top_users"), [t("ev.user"), t("ov.count")], (c.top_users || []).map((x) =>
        tr(bdi(x.user), h("span", { class: "num" }, num(x.count)))), { cls: "list compact", empty: t("misc.none") }))));
  const fi = r.findings || {};
  const ooc = (r.out_of_compliance || []).map((x) => tr(hostLink(x.machine_id, x.host_name),
    h("span", {}, (x.reasons || []).map((s, i) => [i ? "、" : "", bdi(label("reason", s))]))));
  const apprRow = (a) => tr(h("code", {}, bdi([a.vendor, a.product, a.serial].filter(Boolean).join(":"))), bdi(a.label || ""),
    bdi(a.approved_by || ""), bdi(a.approved_on || ""), bdi(a.expires || "—"));
  const apprHeads = ["vendor:product:serial", t("dv.label"), t("dv.approved_by"), t("dv.approved_on"), t("dv.expires")];
  return h("div", { class: "report" },
    form,
    h("h1", {}, t("rp.heading", { month: r.month || month })),
    h("p", { class: "zone" }, t("misc.zone", { zone: r.zone || getZone() }), " — ", t("rp.generated", { time: fmtTime(new Date().toISOString()) })),
    h("section", { class: "card" }, h("h2", {}, t("rp.clauses")), clauses.length ? clauses : h("p", {}, t("misc.none"))),
    h("section", { class: "card" }, h("h2", {}, t("rp.findings")),
      kv([[t("fi.opened"), num(fi.opened)], [t("fi.closed"), num(fi.closed)]]), countTable(t("ov.by_kind"), fi.by_kind)),
    h("section", { class: "card" }, h("h2", {}, t("rp.ooc")),
      table(null, [t("ho.name"), t("rp.reasons")], ooc, { empty: t("misc.none") })),
    h("section", { class: "card" }, h("h2", {}, t("rp.granted")),
      table(null, apprHeads, ((r.approvals && r.approvals.granted) || []).map(apprRow), { empty: t("misc.none") })),
    h("section", { class: "card" }, h("h2", {}, t("rp.expiring")),
      table(null, apprHeads, ((r.approvals && r.approvals.expiring) || []).map(apprRow), { empty: t("misc.none") })));
}

// ---------------------------------------------------------------- settings

// "hash label" per line -> [{hash, label}]; null and the line when one is wrong
function parseHashes(text) {
  const out = [];
  for (const line of text.split("\n")) {
    const l = line.trim();
    if (!l) continue;
    const m = l.match(/^([0-9a-fA-F]{64})(?:\s+(.*))?$/);
    if (!m) return { bad: l };
    out.push({ hash: m[1].toLowerCase(), label: m[2] || null });
  }
  return { hashes: out };
}

async function settings() {
  const [hs, users] = await Promise.all([get("/settings/policy-hashes"),
    may("admin") ? get("/users") : Promise.resolve(null)]);
  const list = hs.hashes || [];
  const rows = list.map((x) => tr(h("code", { class: "hash" }, bdi(x.hash)), bdi(x.label || ""), fmtTime(x.set_at), bdi(x.set_by || "")));
  const parts = [title(t("st.title")), zoneNote(),
    h("section", { class: "card" }, h("h2", {}, t("st.hashes")), h("p", { class: "note" }, t("st.hashes_hint")),
      table(null, [t("ho.policy_hash"), t("dv.label"), t("tri.at"), t("tri.by")], rows, { empty: t("misc.none"), cls: "list hashes" }))];
  if (may("admin")) {
    const ta = h("textarea", { name: "hashes", rows: "5", spellcheck: "false", "aria-describedby": "st-hint" },
      list.map((x) => x.hash + (x.label ? " " + x.label : "")).join("\n"));
    const form = h("form", { class: "card settings-form" }, h("h2", {}, t("st.set")),
      field(t("st.hashes_field"), ta), h("p", { class: "note", id: "st-hint" }, t("st.format")),
      h("div", { class: "actions" }, h("button", { type: "submit" }, t("st.save"))));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const r = parseHashes(ta.value);
      if (r.bad !== undefined) {
        showError(new Error(t("st.bad", { line: r.bad.slice(0, 80) })));
        return;
      }
      try {
        await post("/settings/policy-hashes", { hashes: r.hashes });
        await render();
        showOk(t("tri.done"));
      } catch (e) {
        showError(e);
      }
    });
    parts.push(form);
  }
  if (users) {
    const urows = (Array.isArray(users) ? users : users.users || users.rows || []).map((u) =>
      tr(bdi(u.name), t("role." + u.role), u.disabled ? h("span", { class: "bad" }, t("st.disabled")) : t("st.enabled"), fmtTime(u.last_login)));
    parts.push(h("section", { class: "card" }, h("h2", {}, t("st.users")), h("p", { class: "note" }, t("st.users_hint")),
      table(null, [t("au.user"), t("st.role"), t("tri.state"), t("st.last_login")], urows, { empty: t("misc.none") })));
  }
  return h("div", {}, parts);
}

// ---------------------------------------------------------------- routes

const ROUTES = { login: (p, a) => loginPage(a, { loggedIn, go, showError }), overview, events, findings, hosts, host: (p) => hostDetail(p[0]), devices, audit, report, settings };

export function route(name) {
  return ROUTES[name] || overview;
}
