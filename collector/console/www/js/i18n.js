// SPDX-License-Identifier: MIT
// Japanese by default; English by the switch in the header, kept in
// localStorage. Times in the console's zone (from /me), always with it.

const JA = {
  "nav.overview": "概要", "nav.events": "違反", "nav.findings": "検知事項", "nav.hosts": "端末",
  "nav.devices": "機器", "nav.report": "月次報告", "nav.audit": "監査ログ", "nav.logout": "ログアウト",
  "nav.menu": "メニュー", "skip": "本文へ移動", "lang.switch": "English", "title": "mamori コンソール",
  "login.title": "ログイン", "login.user": "ユーザー名", "login.password": "パスワード", "login.submit": "ログイン",
  "login.bad": "ユーザー名またはパスワードが違います。", "login.throttled": "試行が多すぎます。しばらく待ってから再度お試しください。",
  "who": "{user}({role})", "role.viewer": "閲覧者", "role.reviewer": "確認者", "role.admin": "管理者",
  "err.no_session": "セッションが切れました。ログインし直してください。", "err.forbidden": "この操作の権限がありません。",
  "err.csrf": "要求を確認できませんでした(CSRF)。再読み込みしてください。", "err.not_found": "見つかりません。",
  "err.busy": "サーバーが混雑しています。しばらく待ってから再度お試しください。", "err.other": "エラー: {msg}",
  "err.network": "サーバーに接続できません。",
  "ov.title": "概要", "ov.today": "今日", "ov.7d": "7日間", "ov.30d": "30日間", "ov.by_kind": "種類別",
  "ov.by_severity": "重大度別", "ov.by_clause": "条項別", "ov.total": "合計", "ov.findings": "未解決の検知事項",
  "ov.stale_av": "パターンファイルが古い端末", "ov.pattern_age": "パターンファイルの経過日数", "ov.hosts": "端末",
  "ov.hosts_total": "端末数", "ov.silent": "無通信", "ov.stopped": "停止", "ov.chart": "遮断した機器数（日別、30日間）",
  "ov.chart_label": "{day}: {n} 件", "ov.count": "件数", "ov.host_count": "端末数", "ov.now": "時点",
  "ev.title": "違反一覧", "ev.filter": "絞り込み", "ev.from": "開始日", "ev.to": "終了日", "ev.kind": "種類",
  "ev.severity": "重大度", "ev.clause": "条項", "ev.department": "部署", "ev.host": "端末",
  "ev.user": "職員", "ev.device": "機器(vendor:product[:serial])", "ev.triage": "対応状況",
  "ev.limit": "件数", "ev.apply": "絞り込む", "ev.reset": "条件を消す", "ev.next": "次のページ", "ev.first": "最初のページ",
  "ev.csv": "CSV で書き出す", "ev.time": "発生時刻", "ev.received": "受信時刻", "ev.summary": "概要",
  "ev.open": "開く", "ev.any": "（すべて）", "ev.none": "該当する違反はありません。", "ev.count": "{n} 件を表示",
  "ev.detail": "違反の詳細", "ev.fields": "項目", "ev.stored": "受信したイベント（全項目）", "ev.key": "項目名", "ev.value": "値",
  "ev.product": "製品名", "ev.manufacturer": "製造元", "ev.serial": "シリアル", "ev.vendor_product": "vendor:product",
  "tri.title": "対応", "tri.state": "状態", "tri.action": "操作", "tri.assignee": "担当者", "tri.comment": "コメント",
  "tri.submit": "記録する", "tri.log": "対応履歴", "tri.done": "記録しました。", "tri.viewer": "閲覧者は対応を記録できません。",
  "tri.acknowledge": "確認済みにする", "tri.assign": "担当者を割り当てる", "tri.comment_action": "コメントする",
  "tri.resolve": "解決済みにする", "tri.reopen": "再開する", "tri.by": "実施者", "tri.at": "日時",
  "state.new": "未対応", "state.acknowledged": "確認済み", "state.assigned": "割当済み", "state.resolved": "解決済み",
  "sev.info": "情報", "sev.low": "低", "sev.medium": "中", "sev.high": "高", "sev.critical": "重大",
  "fi.title": "検知事項", "fi.open_only": "未解決のみ", "fi.detail": "検知事項の詳細", "fi.opened": "発生", "fi.closed": "解消",
  "fi.none": "該当する検知事項はありません。",
  "ho.title": "端末", "ho.q": "端末名または machine_id", "ho.stale_av": "パターンファイルが古い端末のみ", "ho.silent_only": "無通信の端末のみ",
  "ho.name": "端末名", "ho.last_seen": "最終受信", "ho.last_heartbeat": "最終死活通知", "ho.version": "エージェント版",
  "ho.policy_hash": "ポリシーハッシュ", "ho.policy_current": "現行ポリシー", "ho.yes": "はい", "ho.no": "いいえ",
  "ho.unknown": "不明", "ho.posture": "条項ごとの状態", "ho.gaps": "欠番(seq)", "ho.timeline": "タイムライン（新しい順）",
  "ho.findings": "検知事項", "ho.host": "端末の詳細", "ho.none": "該当する端末はありません。", "ho.search": "検索",
  "dv.title": "遮断した機器", "dv.q": "機器(vendor[:product[:serial]])", "dv.count": "回数", "dv.hosts": "端末数",
  "dv.users": "職員数", "dv.first": "初回", "dv.last": "最終", "dv.approved": "承認済み", "dv.approve": "承認する",
  "dv.category": "分類", "dv.form": "機器の承認", "dv.label": "ラベル", "dv.approved_by": "承認者",
  "dv.approved_on": "承認日", "dv.expires": "有効期限", "dv.ticket": "申請番号", "dv.access": "アクセス",
  "dv.rw": "読み書き", "dv.ro": "読み取り専用（エージェントが対応してから）", "dv.any_serial": "シリアルを問わない", "dv.submit": "許可エントリを作成",
  "dv.cancel": "取り消す", "dv.allow_text": "許可エントリ（配布用）", "dv.allow_hint": "この行を各端末の /etc/mamori/allow.d/ のファイルに追加してください（mamorictl allow と同じ形式）。",
  "dv.copy": "コピー", "dv.approvals": "承認の記録", "dv.approvals_csv": "承認の記録を CSV で書き出す",
  "dv.none": "該当する機器はありません。", "dv.admin_only": "承認は管理者のみ行えます。",
  "au.title": "監査ログ", "au.user": "ユーザー", "au.action": "操作", "au.target": "対象", "au.peer": "接続元", "au.detail": "内容",
  "au.at": "日時", "au.none": "記録はありません。",
  "rp.title": "月次報告", "rp.month": "対象月", "rp.show": "表示", "rp.print": "印刷", "rp.csv": "CSV で書き出す",
  "rp.clauses": "条項ごとの件数", "rp.top_hosts": "件数の多い端末", "rp.top_users": "件数の多い職員",
  "rp.findings": "検知事項（発生・解消）", "rp.ooc": "基準を満たしていない端末", "rp.reasons": "理由",
  "rp.granted": "今月承認した機器", "rp.expiring": "期限が近い承認", "rp.heading": "{month} 月次報告（対策基準 第8-3・第9）",
  "rp.generated": "作成: {time}",
  "act.acknowledge": "確認", "act.assign": "割当", "act.comment": "コメント", "act.resolve": "解決", "act.reopen": "再開",
  "verdict.ok": "適合", "verdict.ng": "不適合", "verdict.check": "要確認", "ho.verdict": "判定", "ho.check": "確認項目",
  "ho.state": "状態", "ho.normal": "正常", "ho.silent": "無通信", "ho.stopped": "停止", "ho.fail_closed": "フェイルクローズ",
  "ho.first_seen": "初回受信", "ho.last_event": "最新イベントの時刻", "ho.max_seq": "最大 seq", "ho.pattern_age": "パターンファイルの経過日数",
  "reason.policy_drift": "ポリシーが現行でない", "reason.fail_closed": "フェイルクローズ中", "reason.silent": "無通信",
  "reason.stopped": "停止", "reason.posture_ng": "状態確認で不適合", "reason.stale_av": "パターンファイルが古い",
  "nav.settings": "設定", "st.title": "設定", "st.hashes": "現行のポリシーハッシュ",
  "st.hashes_hint": "端末の「現行ポリシー」は、端末がこのどれかのポリシーで動いているかを示します。",
  "st.set": "現行のポリシーハッシュを変更", "st.hashes_field": "ハッシュとラベル（1行に1つ）",
  "st.format": "1行に「64桁の16進 ラベル」。端末のハッシュは端末の詳細か mamorictl status で確認できます。空にすると判定しません。",
  "st.save": "保存", "st.bad": "ハッシュの行が正しくありません: {line}", "st.users": "利用者",
  "st.users_hint": "利用者の追加・変更は mamori-collectorctl user で行います。", "st.role": "役割",
  "st.enabled": "有効", "st.disabled": "無効", "st.last_login": "最終ログイン",
  "misc.loading": "読み込み中…", "misc.zone": "時刻は {zone} で表示", "misc.none": "なし",
};

const EN = {
  "nav.overview": "Overview", "nav.events": "Violations", "nav.findings": "Findings", "nav.hosts": "Hosts",
  "nav.devices": "Devices", "nav.report": "Monthly report", "nav.audit": "Audit log", "nav.logout": "Log out",
  "nav.menu": "Menu", "skip": "Skip to content", "lang.switch": "日本語", "title": "mamori console",
  "login.title": "Log in", "login.user": "User name", "login.password": "Password", "login.submit": "Log in",
  "login.bad": "Wrong user name or password.", "login.throttled": "Too many attempts. Wait a moment and try again.",
  "who": "{user} ({role})", "role.viewer": "viewer", "role.reviewer": "reviewer", "role.admin": "admin",
  "err.no_session": "Your session has ended. Please log in again.", "err.forbidden": "You may not do this.",
  "err.csrf": "The request could not be verified (CSRF). Reload the page.", "err.not_found": "Not found.",
  "err.busy": "The server is busy. Try again in a moment.", "err.other": "Error: {msg}",
  "err.network": "Cannot reach the server.",
  "ov.title": "Overview", "ov.today": "Today", "ov.7d": "7 days", "ov.30d": "30 days", "ov.by_kind": "By kind",
  "ov.by_severity": "By severity", "ov.by_clause": "By clause", "ov.total": "Total", "ov.findings": "Open findings",
  "ov.stale_av": "PCs with a stale antivirus pattern", "ov.pattern_age": "Pattern age (days)", "ov.hosts": "Hosts",
  "ov.hosts_total": "PCs", "ov.silent": "Silent", "ov.stopped": "Stopped", "ov.chart": "Blocked devices per day (30 days)",
  "ov.chart_label": "{day}: {n}", "ov.count": "Count", "ov.host_count": "PCs", "ov.now": "as of",
  "ev.title": "Violations", "ev.filter": "Filter", "ev.from": "From", "ev.to": "To", "ev.kind": "Kind",
  "ev.severity": "Severity", "ev.clause": "Clause", "ev.department": "Department", "ev.host": "Host",
  "ev.user": "User", "ev.device": "Device (vendor:product[:serial])", "ev.triage": "Triage",
  "ev.limit": "Rows", "ev.apply": "Apply", "ev.reset": "Clear", "ev.next": "Next page", "ev.first": "First page",
  "ev.csv": "Export CSV", "ev.time": "Time", "ev.received": "Received", "ev.summary": "Summary",
  "ev.open": "Open", "ev.any": "(any)", "ev.none": "No violations match.", "ev.count": "{n} shown",
  "ev.detail": "Violation", "ev.fields": "Fields", "ev.stored": "The event as received (every field)", "ev.key": "Field", "ev.value": "Value",
  "ev.product": "Product", "ev.manufacturer": "Manufacturer", "ev.serial": "Serial", "ev.vendor_product": "vendor:product",
  "tri.title": "Triage", "tri.state": "State", "tri.action": "Action", "tri.assignee": "Assignee", "tri.comment": "Comment",
  "tri.submit": "Record", "tri.log": "Triage log", "tri.done": "Recorded.", "tri.viewer": "Viewers cannot triage.",
  "tri.acknowledge": "Acknowledge", "tri.assign": "Assign", "tri.comment_action": "Comment",
  "tri.resolve": "Resolve", "tri.reopen": "Reopen", "tri.by": "By", "tri.at": "At",
  "state.new": "new", "state.acknowledged": "acknowledged", "state.assigned": "assigned", "state.resolved": "resolved",
  "sev.info": "info", "sev.low": "low", "sev.medium": "medium", "sev.high": "high", "sev.critical": "critical",
  "fi.title": "Findings", "fi.open_only": "Open only", "fi.detail": "Finding", "fi.opened": "Opened", "fi.closed": "Closed",
  "fi.none": "No findings match.",
  "ho.title": "Hosts", "ho.q": "Host name or machine_id", "ho.stale_av": "Stale antivirus only", "ho.silent_only": "Silent only",
  "ho.name": "Host", "ho.last_seen": "Last received", "ho.last_heartbeat": "Last heartbeat", "ho.version": "Agent version",
  "ho.policy_hash": "Policy hash", "ho.policy_current": "Current policy", "ho.yes": "yes", "ho.no": "no",
  "ho.unknown": "unknown", "ho.posture": "Posture per clause", "ho.gaps": "Seq gaps", "ho.timeline": "Timeline (newest first)",
  "ho.findings": "Findings", "ho.host": "Host", "ho.none": "No hosts match.", "ho.search": "Search",
  "dv.title": "Blocked devices", "dv.q": "Device (vendor[:product[:serial]])", "dv.count": "Count", "dv.hosts": "PCs",
  "dv.users": "Users", "dv.first": "First", "dv.last": "Last", "dv.approved": "Approved", "dv.approve": "Approve",
  "dv.category": "Category", "dv.form": "Approve a device", "dv.label": "Label", "dv.approved_by": "Approved by",
  "dv.approved_on": "Approved on", "dv.expires": "Expires", "dv.ticket": "Ticket", "dv.access": "Access",
  "dv.rw": "read-write", "dv.ro": "read-only (once the agent supports it)", "dv.any_serial": "Any serial", "dv.submit": "Make the allow entry",
  "dv.cancel": "Cancel", "dv.allow_text": "Allow entry (to distribute)", "dv.allow_hint": "Add this line to a file in /etc/mamori/allow.d/ on each PC (the format mamorictl allow writes).",
  "dv.copy": "Copy", "dv.approvals": "Approvals", "dv.approvals_csv": "Export approvals as CSV",
  "dv.none": "No devices match.", "dv.admin_only": "Only admins approve devices.",
  "au.title": "Audit log", "au.user": "User", "au.action": "Action", "au.target": "Target", "au.peer": "From", "au.detail": "Detail",
  "au.at": "At", "au.none": "Nothing recorded.",
  "rp.title": "Monthly report", "rp.month": "Month", "rp.show": "Show", "rp.print": "Print", "rp.csv": "Export CSV",
  "rp.clauses": "Counts per clause", "rp.top_hosts": "Top PCs", "rp.top_users": "Top users",
  "rp.findings": "Findings (opened, closed)", "rp.ooc": "PCs out of compliance", "rp.reasons": "Reasons",
  "rp.granted": "Approvals granted this month", "rp.expiring": "Approvals expiring soon", "rp.heading": "Monthly report {month} (clauses 8-3, 9)",
  "rp.generated": "Made: {time}",
  "act.acknowledge": "acknowledge", "act.assign": "assign", "act.comment": "comment", "act.resolve": "resolve", "act.reopen": "reopen",
  "verdict.ok": "ok", "verdict.ng": "not met", "verdict.check": "to check", "ho.verdict": "Verdict", "ho.check": "Check",
  "ho.state": "State", "ho.normal": "normal", "ho.silent": "silent", "ho.stopped": "stopped", "ho.fail_closed": "fail-closed",
  "ho.first_seen": "First received", "ho.last_event": "Time of the newest event", "ho.max_seq": "Highest seq", "ho.pattern_age": "Antivirus pattern age (days)",
  "reason.policy_drift": "policy not current", "reason.fail_closed": "fail-closed", "reason.silent": "silent",
  "reason.stopped": "stopped", "reason.posture_ng": "posture not met", "reason.stale_av": "stale antivirus pattern",
  "nav.settings": "Settings", "st.title": "Settings", "st.hashes": "Current policy hashes",
  "st.hashes_hint": "A PC's \"Current policy\" says whether it runs one of these policies.",
  "st.set": "Change the current policy hashes", "st.hashes_field": "Hashes and labels (one a line)",
  "st.format": "One a line: \"64 hex digits, a label\". A PC's hash is on its host page and in mamorictl status. Empty: no such check.",
  "st.save": "Save", "st.bad": "Not a hash line: {line}", "st.users": "Users",
  "st.users_hint": "Users are added and changed with mamori-collectorctl user.", "st.role": "Role",
  "st.enabled": "enabled", "st.disabled": "disabled", "st.last_login": "Last login",
  "misc.loading": "Loading…", "misc.zone": "Times in {zone}", "misc.none": "none",
};

const DICTS = { ja: JA, en: EN };
const KEY = "mamori.console.lang";

export let lang = "ja";
try {
  const v = window.localStorage.getItem(KEY);
  if (v === "en" || v === "ja") lang = v;
} catch (e) {
  /* storage off: Japanese */
}

export function setLang(l) {
  lang = l === "en" ? "en" : "ja";
  try {
    window.localStorage.setItem(KEY, lang);
  } catch (e) {
    /* not kept */
  }
  document.documentElement.setAttribute("lang", lang);
}

export function t(key, vars) {
  let s = DICTS[lang][key] ?? JA[key] ?? key;
  if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
  return s;
}

// Labels of states and severities; anything unknown shown as it came.
export function label(prefix, v) {
  const k = prefix + "." + v;
  return DICTS[lang][k] ?? String(v ?? "");
}

let zone = "UTC";
export function setZone(z) {
  try {
    new Intl.DateTimeFormat("en", { timeZone: z });
    zone = z;
  } catch (e) {
    zone = "UTC";
  }
}
export function getZone() {
  return zone;
}

// "2026-12-04 14:06:07 JST" style: the date and time in the console's zone
// and the zone's short name (or its IANA name when there is none).
export function fmtTime(iso, withZone = true) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (isNaN(d)) return String(iso);
  const p = {};
  for (const x of new Intl.DateTimeFormat("en-CA", {
    timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
    second: "2-digit", hourCycle: "h23", timeZoneName: "short",
  }).formatToParts(d)) p[x.type] = x.value;
  let z = p.timeZoneName || zone;
  if (zone === "Asia/Tokyo") z = "JST";
  const s = `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}`;
  return withZone ? `${s} ${z}` : s;
}

// Today's date (YYYY-MM-DD) in the console's zone, days added.
export function today(addDays = 0) {
  const d = new Date(Date.now() + addDays * 86400000);
  const p = {};
  for (const x of new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" })
    .formatToParts(d)) p[x.type] = x.value;
  return `${p.year}-${p.month}-${p.day}`;
}

export function num(n) {
  return new Intl.NumberFormat(lang === "ja" ? "ja-JP" : "en-US").format(Number(n) || 0);
}
