// CSIRT cases view: the list, one case's facts, tasks, alerts, observables and timeline,
// and the changes the CSIRT makes (status, take, share, note, close, reopen). Titles,
// notes, observables and events can carry text from hostile log lines, so every piece
// of data reaches the page through textContent or an attribute setter, never as markup
// (tests/unit/test_cases_console.py holds this line, as test_console_escaping.py does
// for the alert console).
"use strict";

(() => {
  const TEXT = {
    vi: {
      title: "Vụ việc an ninh (CSIRT)", back: "Bảng điều khiển cảnh báo",
      token_label: "Mã truy cập (token)",
      token_hint: "Dành cho vai trò csirt và admin. Mã chỉ lưu trong phiên trình duyệt này.",
      sign_in: "Đăng nhập", sign_out: "Đăng xuất", bad_token: "Mã truy cập không hợp lệ hoặc đã bị thu hồi.",
      forbidden: "Vai trò này không xem được vụ việc an ninh (cần csirt hoặc admin).",
      f_status: "Trạng thái", s_open: "Chưa đóng", s_all: "Tất cả", reload: "Tải lại",
      empty: "Không có vụ việc.", more: "Tải thêm",
      st_new: "Mới", st_investigating: "Đang điều tra", st_contained: "Đã khoanh vùng", st_closed: "Đã đóng",
      sev_low: "Thấp", sev_medium: "Trung bình", sev_high: "Cao", sev_critical: "Nghiêm trọng",
      c_true_positive: "Sự cố thật", c_false_positive: "Cảnh báo nhầm", c_benign: "Hoạt động hợp lệ",
      move: "Chuyển trạng thái", take: "Nhận xử lý", share: "Đánh dấu chia sẻ (TAXII)",
      unshare: "Bỏ chia sẻ", close_case: "Đóng vụ việc", reopen: "Mở lại", add_note: "Thêm ghi chú",
      note_placeholder: "Ghi chú (cũng dùng làm ghi chú khi đóng vụ việc)",
      tasks: "Công việc", alerts: "Cảnh báo", observables: "Dấu hiệu (IOC)", timeline: "Diễn biến",
      o_type: "Loại", o_value: "Giá trị", o_count: "Lần thấy", o_elsewhere: "Nơi khác",
      status: "Trạng thái", assignee: "Người xử lý", nobody: "chưa có", created: "Tạo lúc",
      tlp_pap: "TLP / PAP", ack: "Thời gian tiếp nhận", to_close: "Thời gian xử lý",
      classification: "Phân loại", shared: "Chia sẻ", yes: "có", no: "không", grouped: "Gom theo",
      alerts_n: "{n} cảnh báo", events_from: "{n} sự kiện từ địa chỉ này (30 ngày)",
      other_cases: "{n} vụ việc khác", done: "Đã lưu.",
      a_created: "tạo vụ việc", a_alerts_added: "thêm cảnh báo", a_alert_removed: "bỏ cảnh báo",
      a_changed: "thay đổi", a_note: "ghi chú", a_task_done: "xong việc", a_task_undone: "bỏ đánh dấu việc",
      a_task_added: "thêm việc", a_closed: "đóng vụ việc", a_reopened: "mở lại",
      k_alert: "cảnh báo", k_event: "sự kiện",
      cf_status: "trạng thái", cf_assignee: "người xử lý", cf_severity: "mức độ", cf_tlp: "TLP",
      cf_pap: "PAP", cf_shared: "chia sẻ", cf_title: "tiêu đề", cf_description: "mô tả",
      cf_classification: "phân loại",
    },
    en: {
      title: "Security cases (CSIRT)", back: "Alert console",
      token_label: "Access token",
      token_hint: "For the csirt and admin roles. Kept only in this browser session.",
      sign_in: "Sign in", sign_out: "Sign out", bad_token: "Invalid or revoked token.",
      forbidden: "This role cannot see security cases (csirt or admin needed).",
      f_status: "Status", s_open: "Open", s_all: "All", reload: "Reload",
      empty: "No cases.", more: "Load more",
      st_new: "New", st_investigating: "Investigating", st_contained: "Contained", st_closed: "Closed",
      sev_low: "Low", sev_medium: "Medium", sev_high: "High", sev_critical: "Critical",
      c_true_positive: "True positive", c_false_positive: "False positive", c_benign: "Benign",
      move: "Move", take: "Take it", share: "Mark shared (TAXII)", unshare: "Unshare",
      close_case: "Close case", reopen: "Reopen", add_note: "Add note",
      note_placeholder: "Note (also the closure note when closing)",
      tasks: "Tasks", alerts: "Alerts", observables: "Observables (IOCs)", timeline: "Timeline",
      o_type: "Type", o_value: "Value", o_count: "Seen", o_elsewhere: "Elsewhere",
      status: "Status", assignee: "Assignee", nobody: "nobody", created: "Created",
      tlp_pap: "TLP / PAP", ack: "Time to acknowledge", to_close: "Time to close",
      classification: "Classification", shared: "Shared", yes: "yes", no: "no", grouped: "Grouped by",
      alerts_n: "{n} alerts", events_from: "{n} events from this address (30 days)",
      other_cases: "{n} other cases", done: "Saved.",
      a_created: "case created", a_alerts_added: "alerts added", a_alert_removed: "alert removed",
      a_changed: "changed", a_note: "note", a_task_done: "task done", a_task_undone: "task reopened",
      a_task_added: "task added", a_closed: "case closed", a_reopened: "reopened",
      k_alert: "alert", k_event: "event",
      cf_status: "status", cf_assignee: "assignee", cf_severity: "severity", cf_tlp: "TLP",
      cf_pap: "PAP", cf_shared: "shared", cf_title: "title", cf_description: "description",
      cf_classification: "classification",
    },
  };
  // The alert console's keys: one sign-in and one language for both pages.
  const TOKEN_KEY = "ioc.console.token";
  const LANG_KEY = "ioc.console.lang";
  const PAGE = 50;

  let lang = localStorage.getItem(LANG_KEY) === "en" ? "en" : "vi";
  let me = null;
  let next = null;
  let selected = null;

  const $ = (id) => document.getElementById(id);
  const t = (key, params = {}) =>
    (TEXT[lang][key] || key).replace(/\{(\w+)\}/g, (_, name) => String(params[name] ?? ""));
  const token = () => sessionStorage.getItem(TOKEN_KEY) || "";

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function when(iso) {
    if (!iso) return "—";
    return new Date(iso).toLocaleString(lang === "vi" ? "vi-VN" : "en-GB", { hour12: false });
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    const s = Math.round(seconds);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    return h ? `${h} h ${m} min` : m ? `${m} min ${s % 60} s` : `${s} s`;
  }

  function say(text, ok = false) {
    const box = $("message");
    box.textContent = text || "";
    box.className = ok ? "message ok" : "message";
  }

  async function api(path, options = {}) {
    const headers = { Authorization: `Bearer ${token()}`, "Accept-Language": lang };
    if (options.body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, {
      method: options.method || "GET", headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    if (response.status === 401) {
      signOut();
      throw new Error(t("bad_token"));
    }
    if (!response.ok) {
      let detail = response.statusText;
      try { detail = (await response.json()).detail || detail; } catch (_) { /* not JSON */ }
      throw new Error(response.status === 403 ? t("forbidden") : detail);
    }
    return { body: await response.json(), link: response.headers.get("Link") };
  }

  function applyText() {
    document.documentElement.lang = lang;
    document.querySelectorAll("[data-i18n]").forEach((node) => { node.textContent = t(node.dataset.i18n); });
    $("lang").textContent = lang === "vi" ? "EN" : "VI";
    $("d-note").placeholder = t("note_placeholder");
  }

  // ---- the list -----------------------------------------------------------------------

  function caseItem(item) {
    const li = el("li", null, `case sev-${item.severity}`);
    li.dataset.id = item.id;
    if (item.id === selected) li.classList.add("selected");
    const head = el("div", null, "head");
    head.append(el("span", t(`sev_${item.severity}`), "sev"), el("span", t(`st_${item.status}`)));
    head.append(el("span", `TLP:${item.tlp.toUpperCase()}`, `tlp tlp-${item.tlp}`));
    head.append(el("span", t("alerts_n", { n: item.alert_count })), el("span", when(item.updated)));
    li.append(head, el("p", lang === "en" && item.title_en ? item.title_en : item.title, "title"));
    li.addEventListener("click", () => openCase(item.id));
    return li;
  }

  async function loadCases(more = false) {
    say("");
    const status = $("f-status").value;
    let path = `/api/v1/cases?limit=${PAGE}` + (status ? `&status=${encodeURIComponent(status)}` : "");
    if (more && next) path = next;
    try {
      const { body, link } = await api(path);
      const list = $("cases");
      if (!more) list.replaceChildren();
      body.forEach((item) => list.append(caseItem(item)));
      const found = link && link.match(/<([^>]+)>;\s*rel="next"/);
      next = found ? found[1] : null;
      $("more").hidden = !next;
      $("empty").hidden = list.children.length > 0;
    } catch (error) {
      say(error.message);
    }
  }

  // ---- one case -----------------------------------------------------------------------

  function fact(list, label, value) {
    list.append(el("dt", label), el("dd", value));
  }

  function showFacts(c) {
    const head = $("d-head");
    head.className = `d-head sev-${c.severity}`;
    head.querySelector(".sev").textContent = t(`sev_${c.severity}`);
    $("d-title").textContent = lang === "en" && c.title_en ? c.title_en : c.title;
    const facts = $("d-facts");
    facts.replaceChildren();
    fact(facts, t("status"), t(`st_${c.status}`));
    fact(facts, t("assignee"), c.assignee || t("nobody"));
    fact(facts, t("created"), `${when(c.created)} (${c.created_by})`);
    fact(facts, t("tlp_pap"), `${c.tlp.toUpperCase()} / ${c.pap.toUpperCase()}`);
    fact(facts, t("ack"), duration(c.time_to_acknowledge_seconds));
    fact(facts, t("to_close"), duration(c.time_to_close_seconds));
    fact(facts, t("classification"), c.classification ? t(`c_${c.classification}`) : "—");
    fact(facts, t("shared"), c.shared ? t("yes") : t("no"));
    if (c.grouping_rule) fact(facts, t("grouped"), `${c.grouping_rule}: ${c.grouping_key}`);
    const closed = c.status === "closed";
    // Sharing still changes after closure (a case is shared once understood).
    ["d-status", "d-move", "d-take", "d-class", "d-close"].forEach((id) => { $(id).disabled = closed; });
    $("d-reopen").hidden = !closed;
    $("d-status").value = c.status === "closed" ? "contained" : c.status;
    $("d-share").textContent = c.shared ? t("unshare") : t("share");
    $("d-share").dataset.shared = c.shared ? "1" : "";
  }

  function showTasks(c) {
    const list = $("d-tasks");
    list.replaceChildren();
    c.tasks.forEach((task) => {
      const li = el("li", null, task.done_at ? "done" : "");
      const box = el("input");
      box.type = "checkbox";
      box.checked = Boolean(task.done_at);
      box.disabled = c.status === "closed";
      box.addEventListener("change", () => change(`/api/v1/cases/${c.id}/tasks/${task.id}`, "PATCH", { done: box.checked }));
      li.append(box, el("span", lang === "en" ? task.title_en : task.title_vi), el("span", task.playbook, "book"));
      list.append(li);
    });
    const alerts = $("d-alerts");
    alerts.replaceChildren();
    c.alerts.forEach((a) => {
      alerts.append(el("li", `${when(a.started_at)} · ${lang === "en" ? a.title_en : a.title_vi} · ${a.rule}`));
    });
  }

  async function showObservables(id) {
    const { body } = await api(`/api/v1/cases/${id}/observables?limit=100`);
    const rows = $("d-observables").querySelector("tbody");
    rows.replaceChildren();
    body.forEach((o) => {
      const tr = el("tr");
      const elsewhere = [];
      if (o.other_cases.length) elsewhere.push(t("other_cases", { n: o.other_cases.length }));
      if (o.events_from_address) elsewhere.push(t("events_from", { n: o.events_from_address }));
      tr.append(el("td", o.type), el("td", o.value), el("td", o.sightings), el("td", elsewhere.join("; ") || "—"));
      tr.title = o.other_cases.map((x) => x.title).join("\n");
      rows.append(tr);
    });
  }

  // A changed field's new value in the reader's words where the console has them.
  function changedValue(field, value) {
    if (value === null || value === undefined) return "—";
    if (field === "shared") return t(value ? "yes" : "no");
    const prefix = { status: "st_", severity: "sev_", classification: "c_" }[field];
    return (prefix && TEXT[lang][`${prefix}${value}`]) || String(value);
  }

  function timelineText(item) {
    if (item.kind === "alert") return `${t("k_alert")}: ${lang === "en" ? item.title_en : item.title_vi}`;
    if (item.kind === "event") {
      const who = [item.source_ip, item.user_name, item.host_name].filter(Boolean).join(" · ");
      return `${t("k_event")} ${item.dataset || ""}: ${item.message || item.action || ""}${who ? ` (${who})` : ""}`;
    }
    const action = t(`a_${item.action}`);
    const to = item.action === "changed" && item.detail && item.detail.to ? item.detail.to : null;
    const what = to
      ? Object.entries(to).map(([k, v]) => `${TEXT[lang][`cf_${k}`] || k} → ${changedValue(k, v)}`).join(", ")
      : "";
    const text = [what, item.note].filter(Boolean).join("; ");
    return `${item.actor} — ${action}${text ? `: ${text}` : ""}`;
  }

  async function showTimeline(id) {
    const { body } = await api(`/api/v1/cases/${id}/timeline?limit=300`);
    const list = $("d-timeline");
    list.replaceChildren();
    body.forEach((item) => {
      const li = el("li", null, `k-${item.kind}`);
      li.append(el("span", when(item.at), "at"), el("span", timelineText(item)));
      list.append(li);
    });
  }

  async function openCase(id) {
    selected = id;
    document.querySelectorAll(".case").forEach((node) => node.classList.toggle("selected", node.dataset.id === id));
    try {
      const { body } = await api(`/api/v1/cases/${id}`);
      $("detail").hidden = false;
      showFacts(body);
      showTasks(body);
      await Promise.all([showObservables(id), showTimeline(id)]);
    } catch (error) {
      say(error.message);
    }
  }

  async function change(path, method, body) {
    try {
      await api(path, { method, body });
      say(t("done"), true);
    } catch (error) {
      say(error.message);
    }
    await openCase(selected);
    await loadCases();
  }

  const casePath = (suffix = "") => `/api/v1/cases/${selected}${suffix}`;

  function wire() {
    $("d-move").addEventListener("click", () => change(casePath(), "PATCH", { status: $("d-status").value }));
    $("d-take").addEventListener("click", () => change(casePath(), "PATCH", { assignee: me.name }));
    $("d-share").addEventListener("click", () =>
      change(casePath(), "PATCH", { shared: !$("d-share").dataset.shared }));
    $("d-close").addEventListener("click", () =>
      change(casePath("/close"), "POST", { classification: $("d-class").value, note: $("d-note").value }));
    $("d-reopen").addEventListener("click", () => change(casePath("/reopen"), "POST", { note: $("d-note").value }));
    $("d-add-note").addEventListener("click", () => {
      const note = $("d-note").value.trim();
      if (note) change(casePath("/notes"), "POST", { note }).then(() => { $("d-note").value = ""; });
    });
    $("reload").addEventListener("click", () => loadCases());
    $("more").addEventListener("click", () => loadCases(true));
    $("f-status").addEventListener("change", () => loadCases());
    $("sign-out").addEventListener("click", signOut);
    $("lang").addEventListener("click", () => {
      lang = lang === "vi" ? "en" : "vi";
      localStorage.setItem(LANG_KEY, lang);
      applyText();
      loadCases();
      if (selected) openCase(selected);
    });
    $("token-form").addEventListener("submit", (event) => {
      event.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
      $("token").value = "";
      start();
    });
  }

  function signOut() {
    sessionStorage.removeItem(TOKEN_KEY);
    $("work").hidden = true;
    $("login").hidden = false;
    $("who").textContent = "";
  }

  async function start() {
    if (!token()) return;
    try {
      me = (await api("/api/v1/me")).body;
    } catch (error) {
      say(error.message);
      return;
    }
    $("who").textContent = `${me.name} (${me.role})`;
    $("login").hidden = true;
    $("work").hidden = false;
    await loadCases();
    const first = document.querySelector(".case");
    if (first) await openCase(first.dataset.id);
  }

  applyText();
  wire();
  start();
})();
