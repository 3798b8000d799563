// SPDX-License-Identifier: MIT
// The console's shell: who is logged in, the language switch, the menu and
// the router (#/page?args). Each page is a module that renders into <main>.

import { ApiError, get, post, setCsrf } from "./api.js";
import { clear, h } from "./dom.js";
import { lang, setLang, setZone, t } from "./i18n.js";
import * as pages from "./pages.js";

export const session = { user: null, role: null, zone: null, version: null };

const ROLES = { viewer: 1, reviewer: 2, admin: 3 };
export function may(role) {
  return (ROLES[session.role] || 0) >= ROLES[role];
}

const main = document.getElementById("main");
const status = document.getElementById("status");

// sticky: kept over the next change of page (the 401 that sends to login)
let sticky = false;
export function showError(e, keep = false) {
  sticky = keep;
  if (e instanceof ApiError && e.status === 401 && session.user && !keep) {
    // the session ended under a form: to the login, back here after it
    session.user = null;
    showError(e, true);
    go("login", { back: window.location.hash.slice(1) });
    return;
  }
  let msg;
  if (e instanceof ApiError) {
    const k = "err." + e.code;
    msg = t(k) !== k ? t(k) : e.status === 0 ? t("err.network") : t("err.other", { msg: e.message });
  } else {
    msg = t("err.other", { msg: String(e && e.message ? e.message : e) });
  }
  status.textContent = msg;
  status.hidden = false;
  status.setAttribute("class", "status error");
}

export function showOk(msg) {
  status.textContent = msg;
  status.hidden = false;
  status.setAttribute("class", "status ok");
}

function clearStatus() {
  if (sticky) {
    sticky = false;
    return;
  }
  status.hidden = true;
  status.textContent = "";
}

// The route: "#/events?kind=usb.blocked" -> ["events", URLSearchParams]
function parseRoute() {
  const hash = window.location.hash || "";
  if (!hash.startsWith("#/")) return { parts: [], args: new URLSearchParams() };
  const [p, q] = hash.slice(2).split("?", 2);
  return { parts: p.split("/").filter(Boolean).map(decodeURIComponent), args: new URLSearchParams(q || "") };
}

export function go(path, args) {
  const q = args ? new URLSearchParams(Object.entries(args).filter(([, v]) => v !== "" && v != null && v !== false)).toString() : "";
  const target = "#/" + path + (q ? "?" + q : "");
  if (window.location.hash === target) render();
  else window.location.hash = target;
}

function renderChrome() {
  document.title = t("title");
  document.documentElement.setAttribute("lang", lang);
  document.getElementById("lang").textContent = t("lang.switch");
  document.getElementById("lang").setAttribute("lang", lang === "ja" ? "en" : "ja");
  document.getElementById("skip-link").textContent = t("skip");
  const nav = document.getElementById("nav");
  nav.setAttribute("aria-label", t("nav.menu"));
  for (const a of nav.querySelectorAll("[data-i18n]")) a.textContent = t(a.getAttribute("data-i18n"));
  const logout = document.getElementById("logout");
  logout.textContent = t("nav.logout");
  const logged = !!session.user;
  nav.hidden = !logged;
  logout.hidden = !logged;
  for (const li of nav.querySelectorAll(".admin-only")) li.hidden = !may("admin");
  const who = document.getElementById("who");
  who.textContent = logged ? t("who", { user: session.user, role: t("role." + session.role) }) : "";
  const { parts } = parseRoute();
  for (const a of nav.querySelectorAll("a")) {
    if (a.getAttribute("href") === "#/" + (parts[0] || "")) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

let rendering = 0;
export async function render() {
  const my = ++rendering;
  const { parts, args } = parseRoute();
  renderChrome();
  if (!session.user && parts[0] !== "login") {
    go("login", { back: window.location.hash.slice(1) });
    return;
  }
  const page = pages.route(parts[0] || "overview");
  clear(main);
  main.appendChild(h("p", { class: "loading" }, t("misc.loading")));
  try {
    const el = await page(parts.slice(1), args);
    if (my !== rendering) return; // another route was asked meanwhile
    clear(main);
    main.appendChild(el);
    main.setAttribute("data-page", parts[0] || "overview");
    main.setAttribute("data-rendered", String(my)); // for the browser test: this render is done
  } catch (e) {
    if (my !== rendering) return;
    clear(main);
    if (e instanceof ApiError && e.status === 401) {
      session.user = null;
      showError(e, true);
      go("login", { back: window.location.hash.slice(1) });
      return;
    }
    showError(e);
    main.setAttribute("data-rendered", String(my));
  }
}

export async function loggedIn(me) {
  session.user = me.user;
  session.role = me.role;
  session.zone = me.zone;
  session.version = me.version || null;
  setCsrf(me.csrf);
  setZone(me.zone || "UTC");
}

async function start() {
  document.getElementById("lang").addEventListener("click", () => {
    setLang(lang === "ja" ? "en" : "ja");
    render();
  });
  document.getElementById("logout").addEventListener("click", async () => {
    try {
      await post("/logout", {});
    } catch (e) {
      /* gone already */
    }
    session.user = null;
    setCsrf(null);
    go("login");
  });
  document.getElementById("skip-link").addEventListener("click", (ev) => {
    ev.preventDefault();
    main.focus();
  });
  window.addEventListener("hashchange", () => {
    clearStatus();
    render();
  });
  setLang(lang);
  try {
    await loggedIn(await get("/me"));
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 401)) showError(e);
  }
  render();
}

start();
