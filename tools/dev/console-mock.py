#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A stand-in for the review console's API (docs/console-api.md) with
made-up Japanese data, to work on the pages (collector/console/www/)
without a collector: static files, /api/v1 with sessions, the CSRF header,
the Origin check, roles, keyset paging and CSV (BOM, formula cells
neutralised), under the same security headers as the real server.

  tools/dev/console-mock.py [--port 8443] [--cert server.pem --key server.key]
  users: admin, reviewer, viewer; password: mamori-dev (--password)

For development only: everything lives in memory and is lost on exit."""

import argparse
import csv
import datetime as dt
import hashlib
import http.server
import io
import json
import os
import random
import secrets
import ssl
import threading
import urllib.parse
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
WWW = os.path.join(HERE, "..", "..", "collector", "console", "www")
ZONE = "Asia/Tokyo"
JST = dt.timezone(dt.timedelta(hours=9))
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png"}
ROLES = {"viewer": 1, "reviewer": 2, "admin": 3}


def iso(t):
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def make_data(seed=13):
    rnd = random.Random(seed)
    now = dt.datetime.now(dt.timezone.utc)
    depts = ["総務課", "税務課", "住民課", "福祉課", "教育委員会"]
    users = ["yamada.taro", "suzuki.hanako", "sato.ichiro", "tanaka.yuki", "takahashi.ken", "ito.mai"]
    hosts = []
    for i in range(12):
        d = depts[i % len(depts)]
        hosts.append({"machine_id": hashlib.md5(str(i).encode()).hexdigest(), "host_name": f"{d}-PC{i + 1:02d}",
                      "department": d, "agent_version": "0.1.0" if i % 5 else "0.0.9",
                      "policy_hash": ("ab" if i % 4 else "cd") * 32, "last_seen": iso(now - dt.timedelta(minutes=i * 7)),
                      "last_heartbeat": iso(now - dt.timedelta(minutes=i * 7 + 3)), "av_pattern_age_days": i % 6})
    devices = [("0781", "5581", "4C530001230411115551", "Ultra USB 3.0", "SanDisk", "storage"),
               ("054c", "0994", "5B8C30A1", "USBメモリ 32GB", "ソニー", "storage"),
               ("04e8", "6860", "R58M12ABCDE", "Galaxy (MTP)", "Samsung", "mtp"),
               ("1234", "abcd", "=HYPERLINK(\"http://x\")", "<img src=x onerror=alert(1)>", "Evil\u202eoc.exe", "storage"),
               ("0bda", "8153", None, "USB 10/100/1000 LAN", "Realtek", "tethering")]
    events = []
    for n in range(400):
        h = hosts[rnd.randrange(len(hosts))]
        dv = devices[rnd.randrange(len(devices))]
        t = now - dt.timedelta(seconds=rnd.randrange(30 * 86400))
        blocked = rnd.random() < 0.8
        kind = "usb.blocked" if blocked else rnd.choice(["agent.config_changed", "usb.allowed", "lock.disabled"])
        sev = "high" if blocked else rnd.choice(["info", "medium", "low"])
        ref = "第3-6" if kind.startswith("usb") else rnd.choice(["第8-3", "第4-2"])
        user = rnd.choice(users)
        dev = {"vendor": dv[0], "product": dv[1], "serial": dv[2], "product_name": dv[3], "manufacturer": dv[4]} \
            if kind.startswith("usb") else None
        summary = (f"{dv[4]} {dv[3]} をブロックしました" if blocked else f"{kind} を受信しました")
        ev = {"id": str(uuid.UUID(int=rnd.getrandbits(128))), "machine_id": h["machine_id"], "host_name": h["host_name"],
              "seq": n + 1, "time": iso(t - dt.timedelta(seconds=2)), "received_at": iso(t), "kind": kind,
              "severity": sev, "policy_ref": ref, "user": user, "department": h["department"], "device": dev,
              "summary": summary, "triage": "new"}
        ev["_json"] = {"id": ev["id"], "seq": ev["seq"], "time": ev["time"], "kind": kind, "severity": sev,
                       "policy_ref": ref, "host": {"name": h["host_name"], "machine_id": h["machine_id"]},
                       "user": {"name": user}, "site": {"department": h["department"]},
                       "device": {"vendor_id": dv[0], "product_id": dv[1], "serial": dv[2], "product": dv[3],
                                  "manufacturer": dv[4], "category": dv[5]} if dev else None,
                       "agent": {"name": "mamori", "version": h["agent_version"], "policy_hash": h["policy_hash"]}}
        ev["_cat"] = dv[5]
        events.append(ev)
    events.sort(key=lambda e: e["received_at"], reverse=True)
    findings = []
    for i, k in enumerate(["collector.host.silent", "collector.host.policy_drift", "collector.host.gap",
                           "collector.host.outdated", "collector.host.stopped"]):
        h = hosts[i * 2]
        first = now - dt.timedelta(days=i + 1)
        findings.append({"id": str(i + 1), "kind": k, "severity": "high" if i % 2 else "medium",
                         "machine_id": h["machine_id"], "host_name": h["host_name"], "first": iso(first),
                         "last": iso(first + dt.timedelta(hours=3)), "open": i != 4,
                         "closed_at": iso(now) if i == 4 else None, "summary": f"{h['host_name']} の検知事項",
                         "state": "closed" if i == 4 else "open", "triage": "new"})
    return {"now": now, "hosts": hosts, "events": events, "findings": findings, "approvals": [], "audit": [],
            "triage": {}, "log": {}, "hashes": [{"hash": "ab" * 32, "label": "2026年度 基準", "set_at": iso(now), "set_by": "admin"}]}


def csv_cell(v):
    s = "" if v is None else str(v)
    if s[:1] in ("=", "+", "-", "@", "\t", "\r"):
        s = "'" + s
    return s


def to_csv(heads, rows):
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(heads)
    for r in rows:
        w.writerow([csv_cell(x) for x in r])
    return b"\xef\xbb\xbf" + out.getvalue().encode()


class State:
    def __init__(self, password):
        self.lock = threading.Lock()
        self.data = make_data()
        self.users = {u: (password, u) for u in ("admin", "reviewer", "viewer")}
        self.sessions = {}


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "mamori-console-mock"
    st: State = None

    def log_message(self, fmt, *args):
        if os.environ.get("MOCK_VERBOSE"):
            super().log_message(fmt, *args)

    def headers_out(self, code, ctype, body, extra=None):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Cache-Control", "no-store")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def json(self, code, obj, extra=None):
        self.headers_out(code, "application/json; charset=utf-8", json.dumps(obj, ensure_ascii=False).encode(), extra)

    def err(self, code, name, msg=""):
        self.json(code, {"error": {"code": name, "message": msg or name}})

    def session(self):
        for part in (self.headers.get("Cookie") or "").split(";"):
            k, _, v = part.strip().partition("=")
            if k == "mamori_session" and v in self.st.sessions:
                s = self.st.sessions[v]
                if s["expires"] > dt.datetime.now(dt.timezone.utc):
                    return v, s
        return None, None

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def route(self, method):
        u = urllib.parse.urlsplit(self.path)
        if not u.path.startswith("/api/"):
            return self.static(u.path) if method == "GET" else self.err(405, "bad_request")
        origin = self.headers.get("Origin")
        host = self.headers.get("Host")
        if (origin and urllib.parse.urlsplit(origin).netloc != host) or \
                (not origin and self.headers.get("Sec-Fetch-Site") == "cross-site"):
            return self.err(403, "origin")
        path = u.path[len("/api/v1"):]
        q = {k: v[-1] for k, v in urllib.parse.parse_qs(u.query).items()}
        body = {}
        if method == "POST":
            if (self.headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
                return self.err(400, "bad_request", "Content-Type")
            n = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(n) or b"{}")
            except ValueError:
                return self.err(400, "bad_request", "json")
        if path == "/login" and method == "POST":
            return self.login(body)
        sid, s = self.session()
        if not s:
            return self.err(401, "no_session")
        if method == "POST" and self.headers.get("X-CSRF-Token") != s["csrf"]:
            return self.err(403, "csrf")
        with self.st.lock:
            return self.api(method, path, q, body, sid, s)

    def login(self, body):
        u, p = body.get("user"), body.get("password")
        if u not in self.st.users or self.st.users[u][0] != p:
            return self.err(401, "bad_login")
        sid = secrets.token_hex(32)
        s = {"user": u, "role": u if u in ROLES else "viewer", "csrf": secrets.token_hex(32),
             "expires": dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=8)}
        self.st.sessions[sid] = s
        self.st.data["audit"].insert(0, {"at": iso(dt.datetime.now(dt.timezone.utc)), "user": u, "action": "login",
                                         "target": "", "peer": self.client_address[0], "detail": ""})
        self.json(200, {"user": u, "role": s["role"], "csrf": s["csrf"], "zone": ZONE},
                  {"Set-Cookie": f"mamori_session={sid}; Secure; HttpOnly; SameSite=Strict; Path=/"})

    def need(self, s, role):
        if ROLES[s["role"]] < ROLES[role]:
            self.err(403, "forbidden")
            return False
        return True

    def page(self, rows, q, csv_cols=None, name="list"):
        if q.get("format") == "csv" and csv_cols:
            self.audit_add(self._s, "export", name)
            body = to_csv(csv_cols, [[r.get(c) if not isinstance(r.get(c), dict) else json.dumps(r.get(c), ensure_ascii=False)
                                      for c in csv_cols] for r in rows[:100000]])
            return self.headers_out(200, "text/csv; charset=utf-8", body,
                                    {"Content-Disposition": f'attachment; filename="{name}.csv"'})
        limit = min(500, max(1, int(q.get("limit") or 50))) if (q.get("limit") or "50").isdigit() else 50
        start = int(q.get("after") or 0) if (q.get("after") or "0").isdigit() else 0
        chunk = rows[start:start + limit]
        nxt = str(start + limit) if start + limit < len(rows) else None
        return self.json(200, {"rows": [{k: v for k, v in r.items() if not k.startswith("_")} for r in chunk], "next": nxt})

    def audit_add(self, s, action, target, detail=""):
        self.st.data["audit"].insert(0, {"at": iso(dt.datetime.now(dt.timezone.utc)), "user": s["user"], "action": action,
                                         "target": target, "peer": self.client_address[0], "detail": detail})

    def day_bounds(self, q, default_days):
        def parse(v, end):
            if not v:
                return None
            if len(v) == 10:
                d = dt.datetime.strptime(v, "%Y-%m-%d").replace(tzinfo=JST)
                return d
            return dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
        now = dt.datetime.now(dt.timezone.utc)
        return parse(q.get("from"), False) or now - dt.timedelta(days=default_days), parse(q.get("to"), True) or now

    def api(self, method, path, q, body, sid, s):
        self._s = s
        D = self.st.data
        parts = path.strip("/").split("/")
        if path == "/logout" and method == "POST":
            del self.st.sessions[sid]
            return self.json(200, {}, {"Set-Cookie": "mamori_session=; Max-Age=0; Secure; HttpOnly; SameSite=Strict; Path=/"})
        if path == "/me":
            return self.json(200, {"user": s["user"], "role": s["role"], "csrf": s["csrf"], "zone": ZONE, "version": "mock"})
        if parts[0] in ("events", "findings") and len(parts) == 3 and parts[2] == "triage" and method == "POST":
            if not self.need(s, "reviewer"):
                return
            return self.triage(parts[0], parts[1], body, s)
        if parts[0] == "events" and method == "GET":
            if len(parts) == 2:
                e = next((x for x in D["events"] if x["id"] == parts[1]), None)
                if not e:
                    return self.err(404, "not_found")
                key = ("events", e["id"])
                return self.json(200, {"event": {k: v for k, v in e.items() if not k.startswith("_")}, "json": e["_json"],
                                       "triage": D["triage"].get(key, {"state": "new"}), "log": D["log"].get(key, [])})
            lo, hi = self.day_bounds(q, 30 if "from" not in q else 1)
            rows = []
            for e in D["events"]:
                t = dt.datetime.fromisoformat(e["received_at"].replace("Z", "+00:00"))
                if not (lo <= t < hi + (dt.timedelta(days=1) if len(q.get("to", "")) == 10 else dt.timedelta(0))):
                    continue
                if q.get("kind") and e["kind"] != q["kind"] or q.get("severity") and e["severity"] not in q["severity"].split(","):
                    continue
                if q.get("clause") and not (e["policy_ref"] or "").startswith(q["clause"]):
                    continue
                if q.get("department") and e["department"] != q["department"] or q.get("user") and e["user"] != q["user"]:
                    continue
                if q.get("host") and q["host"] not in (e["machine_id"], e["host_name"]):
                    continue
                if q.get("triage") and e["triage"] != q["triage"]:
                    continue
                if q.get("device"):
                    dv = e["device"]
                    if not dv or ":".join(x for x in (dv["vendor"], dv["product"], dv["serial"]) if x).find(q["device"]) != 0:
                        continue
                rows.append(e)
            flat = [dict(r, **({f"device_{k}": v for k, v in (r["device"] or {}).items()})) for r in rows]
            return self.page(flat, q, ["id", "received_at", "time", "kind", "severity", "policy_ref", "host_name", "machine_id",
                                       "user", "department", "device_vendor", "device_product", "device_serial",
                                       "device_product_name", "device_manufacturer", "summary", "triage"], "events")
        if parts[0] == "findings" and method == "GET":
            if len(parts) == 2:
                f = next((x for x in D["findings"] if x["id"] == parts[1]), None)
                if not f:
                    return self.err(404, "not_found")
                key = ("findings", f["id"])
                return self.json(200, {"finding": f, "triage": D["triage"].get(key, {"state": "new"}), "log": D["log"].get(key, [])})
            rows = [f for f in D["findings"] if (not q.get("open") or f["open"]) and (not q.get("kind") or f["kind"] == q["kind"])]
            return self.page(rows, q, ["id", "kind", "severity", "host_name", "machine_id", "first", "last", "open", "detail", "triage"],
                             "findings")
        if path == "/overview":
            return self.overview()
        if parts[0] == "hosts":
            if len(parts) == 2:
                h = next((x for x in D["hosts"] if x["machine_id"] == parts[1]), None)
                if not h:
                    return self.err(404, "not_found")
                tl = [{k: v for k, v in e.items() if not k.startswith("_")} for e in D["events"] if e["machine_id"] == h["machine_id"]][:100]
                age = h["av_pattern_age_days"]
                posture = {"verdict": "ok" if age < 3 else "ng", "time": h["last_seen"], "checks": [
                    {"id": "usb.blocked_categories", "clause": "対策基準 第3-6", "value": "storage, mtp", "verdict": "ok"},
                    {"id": "av.pattern_age", "clause": "対策基準 第7-2イ", "value": f"{age * 24} h",
                     "verdict": "ok" if age < 3 else "ng"},
                    {"id": "lock.idle_timeout", "clause": "対策基準 第3-2エ", "value": "600 s", "verdict": "ok"}]}
                return self.json(200, {"host": h, "posture": posture, "policy_current": h["policy_hash"] == "ab" * 32,
                                       "gaps": [{"from": 41, "to": 43, "at": iso(D["now"])}] if h["host_name"].endswith("01") else [],
                                       "findings": [f for f in D["findings"] if f["machine_id"] == h["machine_id"]], "timeline": tl})
            rows = [dict(h, policy_current=h["policy_hash"] == "ab" * 32) for h in D["hosts"]
                    if (not q.get("q") or q["q"] in h["host_name"] or h["machine_id"].startswith(q["q"]))
                    and (not q.get("stale_av") or h["av_pattern_age_days"] >= 3)]
            return self.page(rows, q)
        if path == "/devices":
            g = {}
            for e in D["events"]:
                if e["kind"] != "usb.blocked":
                    continue
                dv = e["device"]
                k = (dv["vendor"], dv["product"], dv["serial"])
                r = g.setdefault(k, {"vendor": k[0], "product": k[1], "serial": k[2], "product_name": dv["product_name"],
                                     "manufacturer": dv["manufacturer"], "category": e["_cat"], "count": 0, "_h": set(),
                                     "_u": set(), "first": e["received_at"], "last": e["received_at"],
                                     "approved": any((a["vendor"], a["product"]) == k[:2] for a in D["approvals"])})
                r["count"] += 1
                r["_h"].add(e["machine_id"])
                r["_u"].add(e["user"])
                r["first"] = e["received_at"]
            rows = sorted(g.values(), key=lambda r: -r["count"])
            for r in rows:
                r["hosts"], r["users"] = len(r.pop("_h")), len(r.pop("_u"))
            return self.page(rows, q)
        if path == "/approvals":
            if method == "GET":
                return self.page(D["approvals"], q)
            if not self.need(s, "admin"):
                return
            return self.approve(body, s)
        if path == "/audit":
            if not self.need(s, "admin"):
                return
            return self.page(D["audit"], q, ["at", "user", "action", "target", "peer", "detail"], "audit")
        if path == "/reports/monthly":
            return self.report(q)
        if path == "/users":
            if not self.need(s, "admin"):
                return
            return self.json(200, [{"name": u, "role": u, "disabled": False, "last_login": None} for u in self.st.users])
        if path == "/settings/policy-hashes":
            if method == "POST":
                if not self.need(s, "admin"):
                    return
                hs = body.get("hashes")
                if not isinstance(hs, list):
                    return self.err(400, "bad_request", "hashes")
                D["hashes"] = [{"hash": x.get("hash"), "label": x.get("label"), "set_at": iso(dt.datetime.now(dt.timezone.utc)),
                                "set_by": s["user"]} for x in hs if isinstance(x, dict)]
                self.audit_add(s, "settings", "policy_hashes")
            return self.json(200, {"hashes": D["hashes"]})
        return self.err(404, "not_found")

    def triage(self, what, id_, body, s):
        D = self.st.data
        rows = D["events"] if what == "events" else D["findings"]
        row = next((x for x in rows if x["id"] == id_), None)
        if not row:
            return self.err(404, "not_found")
        a = body.get("action")
        key = (what, id_)
        tri = dict(D["triage"].get(key, {"state": "new"}))
        if a == "acknowledge":
            tri["state"] = "acknowledged"
        elif a == "assign":
            if not body.get("assignee"):
                return self.err(400, "bad_request", "assignee")
            tri.update(state="assigned", assignee=body["assignee"])
        elif a == "comment":
            c = body.get("comment")
            if not isinstance(c, str) or not c or len(c.encode()) > 2000:
                return self.err(400, "bad_request", "comment")
        elif a == "resolve":
            tri["state"] = "resolved"
        elif a == "reopen":
            tri["state"] = "acknowledged"
        else:
            return self.err(400, "bad_request", "action")
        D["triage"][key] = tri
        row["triage"] = tri["state"]
        D["log"].setdefault(key, []).append({"at": iso(dt.datetime.now(dt.timezone.utc)), "user": s["user"], "action": a,
                                             "assignee": body.get("assignee"), "comment": body.get("comment")})
        self.audit_add(s, "triage." + a, f"{what}/{id_}", body.get("comment") or "")
        return self.json(200, {"triage": tri})

    def approve(self, b, s):
        import re
        for k in ("vendor", "product"):
            if not re.fullmatch(r"[0-9a-f]{4}", str(b.get(k, ""))):
                return self.err(400, "bad_request", k)
        for k in ("label", "approved_by"):
            v = b.get(k)
            if not isinstance(v, str) or not v or any(ord(c) < 32 or c in '"\\' for c in v):
                return self.err(400, "bad_request", k)
        # The shape of common/allow-entry's text (the real one is built and
        # checked by mamorid's parser in the collector; this is a stand-in).
        lines = [f'# {b["vendor"]}:{b["product"]}, approved in the mamori console mock by {s["user"]}', "allow = (", "  {",
                 f'    vendor      = "{b["vendor"]}";', f'    product     = "{b["product"]}";']
        if b.get("serial") and not b.get("any_serial"):
            lines.append(f'    serial      = "{b["serial"]}";')
        else:
            lines.append("    any_serial  = true;")
        lines += [f'    label       = "{b["label"]}";', f'    approved_by = "{b["approved_by"]}";',
                  f'    approved_on = "{b["approved_on"]}";']
        if b.get("expires"):
            lines.append(f'    expires     = "{b["expires"]}";')
        if b.get("ticket"):
            lines.append(f'    ticket      = "{b["ticket"]}";')
        lines += ["  }", ");"]
        b = dict(b, allow_text="\n".join(lines) + "\n")
        a = dict(b, created_at=iso(dt.datetime.now(dt.timezone.utc)))
        self.st.data["approvals"].insert(0, a)
        self.audit_add(s, "approval", f'{b["vendor"]}:{b["product"]}')
        return self.json(201, {"approval": a})

    def overview(self):
        D = self.st.data
        now = dt.datetime.now(dt.timezone.utc)
        today0 = now.astimezone(JST).replace(hour=0, minute=0, second=0, microsecond=0)

        def window(since):
            w = {"by_kind": {}, "by_severity": {}, "by_clause": {}, "total": 0}
            for e in D["events"]:
                if dt.datetime.fromisoformat(e["received_at"].replace("Z", "+00:00")) >= since:
                    w["total"] += 1
                    for k, f in (("by_kind", "kind"), ("by_severity", "severity"), ("by_clause", "policy_ref")):
                        w[k][e[f]] = w[k].get(e[f], 0) + 1
            return w
        per = {}
        for e in D["events"]:
            if e["kind"] == "usb.blocked":
                d = dt.datetime.fromisoformat(e["received_at"].replace("Z", "+00:00")).astimezone(JST).date().isoformat()
                per[d] = per.get(d, 0) + 1
        days = [(today0 - dt.timedelta(days=29 - i)).date().isoformat() for i in range(30)]
        fo = {}
        for f in D["findings"]:
            if f["open"]:
                r = fo.setdefault(f["kind"], {"kind": f["kind"], "severity": f["severity"], "count": 0, "hosts": 0})
                r["count"] += 1
                r["hosts"] += 1
        stale = [{"machine_id": h["machine_id"], "host_name": h["host_name"], "pattern_age_days": h["av_pattern_age_days"]}
                 for h in D["hosts"] if h["av_pattern_age_days"] >= 3]
        self.json(200, {"now": iso(now), "zone": ZONE,
                        "windows": {"today": window(today0), "7d": window(today0 - dt.timedelta(days=6)),
                                    "30d": window(today0 - dt.timedelta(days=29))},
                        "findings_open": list(fo.values()), "stale_av": {"count": len(stale), "hosts": stale[:20]},
                        "blocked_per_day": [{"day": d, "count": per.get(d, 0)} for d in days],
                        "hosts": {"total": len(D["hosts"]), "silent": 1, "stopped": 1}})

    def report(self, q):
        D = self.st.data
        month = q.get("month") or ""
        rows = [e for e in D["events"] if e["received_at"][:7] <= month or True]
        cl = {}
        for e in rows:
            c = cl.setdefault(e["policy_ref"], {"policy_ref": e["policy_ref"], "count": 0, "by_kind": {}, "_h": {}, "_u": {}})
            c["count"] += 1
            c["by_kind"][e["kind"]] = c["by_kind"].get(e["kind"], 0) + 1
            c["_h"][(e["machine_id"], e["host_name"])] = c["_h"].get((e["machine_id"], e["host_name"]), 0) + 1
            c["_u"][e["user"]] = c["_u"].get(e["user"], 0) + 1
        clauses = []
        for c in sorted(cl.values(), key=lambda c: c["policy_ref"]):
            c["top_hosts"] = [{"machine_id": k[0], "host_name": k[1], "count": n} for k, n in
                              sorted(c.pop("_h").items(), key=lambda x: -x[1])[:5]]
            c["top_users"] = [{"user": k, "count": n} for k, n in sorted(c.pop("_u").items(), key=lambda x: -x[1])[:5]]
            clauses.append(c)
        r = {"month": month, "zone": ZONE, "clauses": clauses,
             "findings": {"opened": len(D["findings"]), "closed": 1, "by_kind": {f["kind"]: 1 for f in D["findings"]}},
             "out_of_compliance": [{"machine_id": h["machine_id"], "host_name": h["host_name"],
                                    "reasons": ["ウイルス定義が古い", "ポリシーが現行でない"]} for h in D["hosts"][:2]],
             "approvals": {"granted": D["approvals"], "expiring": []}}
        if q.get("format") == "csv":
            self.audit_add(self._s, "export", "report")
            body = to_csv(["policy_ref", "count", "kind", "kind_count"],
                          [[c["policy_ref"], c["count"], k, n] for c in clauses for k, n in c["by_kind"].items()])
            return self.headers_out(200, "text/csv; charset=utf-8", body,
                                    {"Content-Disposition": f'attachment; filename="report-{month}.csv"'})
        return self.json(200, r)

    def static(self, path):
        if path == "/":
            path = "/index.html"
        full = os.path.realpath(os.path.join(self.server.www, path.lstrip("/")))
        if not full.startswith(os.path.realpath(self.server.www) + os.sep) or not os.path.isfile(full):
            return self.headers_out(404, "text/plain; charset=utf-8", b"not found\n")
        with open(full, "rb") as f:
            self.headers_out(200, TYPES.get(os.path.splitext(full)[1], "application/octet-stream"), f.read())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--listen", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8443)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--www", default=WWW)
    ap.add_argument("--password", default="mamori-dev")
    a = ap.parse_args()
    Handler.st = State(a.password)
    srv = http.server.ThreadingHTTPServer((a.listen, a.port), Handler)
    srv.www = a.www
    if a.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.cert, a.key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print(f"console mock on {'https' if a.cert else 'http'}://{a.listen}:{srv.server_address[1]}/", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
