// SPDX-License-Identifier: MIT
// The JSON API under /api/v1 (docs/console-api.md). Same origin only; the
// session is an HttpOnly cookie the page never sees; every POST carries the
// session's CSRF token in X-CSRF-Token and a JSON body.

const BASE = "/api/v1";
let csrf = null;

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code);
    this.status = status;
    this.code = code;
  }
}

export function setCsrf(token) {
  csrf = typeof token === "string" ? token : null;
}

// The query string of a filter object: empty values left out.
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null || v === "" || v === false) continue;
    q.set(k, v === true ? "1" : String(v));
  }
  const s = q.toString();
  return s ? "?" + s : "";
}

export function url(path, params) {
  return BASE + path + query(params);
}

async function call(method, path, params, body) {
  const opts = { method, credentials: "same-origin", headers: { Accept: "application/json" }, cache: "no-store" };
  if (method !== "GET") {
    opts.headers["Content-Type"] = "application/json";
    if (csrf) opts.headers["X-CSRF-Token"] = csrf;
    opts.body = JSON.stringify(body || {});
  }
  let r;
  try {
    r = await fetch(url(path, params), opts);
  } catch (e) {
    throw new ApiError(0, "network", String(e));
  }
  let data = null;
  try {
    data = await r.json();
  } catch (e) {
    data = null;
  }
  if (!r.ok) {
    const err = (data && data.error) || {};
    throw new ApiError(r.status, err.code || "http_" + r.status, err.message || r.statusText);
  }
  return data;
}

export const get = (path, params) => call("GET", path, params);
export const post = (path, body) => call("POST", path, null, body);
