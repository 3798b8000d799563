// SPDX-License-Identifier: MIT
// The login form: POST /login; the answer names the user, role, zone and
// the CSRF token; the session cookie is HttpOnly (the page never sees it).

import { ApiError, post } from "./api.js";
import { field, h } from "./dom.js";
import { t } from "./i18n.js";

export function loginPage(args, app) {
  const user = h("input", { type: "text", name: "user", autocomplete: "username", required: true, maxlength: "64", spellcheck: "false" });
  const pass = h("input", { type: "password", name: "password", autocomplete: "current-password", required: true, maxlength: "1024" });
  const msg = h("p", { class: "login-msg", role: "alert", "aria-live": "assertive" });
  const form = h("form", { class: "login card", "data-testid": "login" },
    h("h1", {}, t("login.title")), field(t("login.user"), user), field(t("login.password"), pass),
    h("div", { class: "actions" }, h("button", { type: "submit" }, t("login.submit"))), msg);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    msg.textContent = "";
    try {
      const me = await post("/login", { user: user.value.trim(), password: pass.value });
      pass.value = "";
      await app.loggedIn(me);
      // back to the page asked for, only a route of ours ("/events?..")
      const back = args.get("back") || "";
      if (/^\/[a-z]+(\/[^?]*)?(\?.*)?$/.test(back) && !back.startsWith("/login")) window.location.hash = "#" + back;
      else app.go("overview");
    } catch (e) {
      pass.value = "";
      if (e instanceof ApiError && e.status === 401) msg.textContent = t("login.bad");
      else if (e instanceof ApiError && e.status === 429) msg.textContent = t("login.throttled");
      else app.showError(e);
    }
  });
  setTimeout(() => user.focus(), 0);
  return form;
}
