// Alert console: lists alerts, acknowledges/resolves them with a note, follows the live
// stream. Alert titles, summaries, labels and notes can carry text from hostile log
// lines, so every piece of data reaches the page through textContent or an attribute
// setter, never as markup (tests/unit/test_console_escaping.py holds this line).
"use strict";

(() => {
  const TEXT = {
    vi: {
      title: "Bảng điều khiển cảnh báo",
      live_on: "Trực tiếp",
      live_off: "Chưa kết nối",
      token_label: "Mã truy cập (token)",
      token_hint: "Mã do quản trị viên cấp (ioc users add). Chỉ lưu trong phiên trình duyệt này.",
      sign_in: "Đăng nhập",
      sign_out: "Đăng xuất",
      bad_token: "Mã truy cập không hợp lệ hoặc đã bị thu hồi.",
      f_status: "Trạng thái",
      f_domain: "Lĩnh vực",
      f_severity: "Mức độ tối thiểu",
      s_open: "Chưa xử lý",
      s_firing: "Đang cảnh báo",
      s_acknowledged: "Đã xác nhận",
      s_resolved: "Đã xử lý",
      s_all: "Tất cả",
      d_all: "Tất cả",
      d_environment: "Môi trường",
      d_camera: "Camera",
      d_health: "Thiết bị",
      d_security: "An toàn thông tin",
      d_plates: "Biển số theo dõi",
      d_pests: "Sâu bệnh hại lúa",
      d_epidemics: "Dịch bệnh",
      sev_any: "Bất kỳ",
      sev_info: "Thông tin",
      sev_low: "Thấp",
      sev_medium: "Trung bình",
      sev_high: "Cao",
      sev_critical: "Nghiêm trọng",
      reload: "Tải lại",
      empty: "Không có cảnh báo.",
      ack: "Xác nhận",
      resolve: "Xử lý xong",
      add_note: "Thêm ghi chú",
      history: "Lịch sử",
      note_placeholder: "Ghi chú (không bắt buộc khi xác nhận/xử lý)",
      note_needed: "Hãy nhập nội dung ghi chú.",
      done_ack: "Đã xác nhận cảnh báo.",
      done_resolve: "Đã đánh dấu xử lý xong.",
      done_notes: "Đã thêm ghi chú.",
      by: "bởi",
      acknowledged_by: "Xác nhận bởi",
      resolved_by: "Xử lý bởi",
      started: "Bắt đầu",
      h_fired: "bắt đầu cảnh báo",
      h_escalated: "tăng mức độ",
      h_deescalated: "giảm mức độ",
      h_updated: "cập nhật",
      h_acknowledged: "xác nhận",
      h_resolved: "đã xử lý",
      h_note: "ghi chú",
      h_renotified: "nhắc lại",
      role: "Vai trò",
      tab_overview: "Tổng quan",
      tab_alerts: "Danh sách cảnh báo",
      more: "Tải thêm",
      count: "Đang hiện {shown} trên tổng số {total} cảnh báo",
      count_all: "{total} cảnh báo",
      close: "Đóng",
    },
    en: {
      title: "Alert console",
      live_on: "Live",
      live_off: "Not connected",
      token_label: "Access token",
      token_hint: "Issued by an administrator (ioc users add). Kept only in this browser session.",
      sign_in: "Sign in",
      sign_out: "Sign out",
      bad_token: "Invalid or revoked token.",
      f_status: "Status",
      f_domain: "Domain",
      f_severity: "Minimum severity",
      s_open: "Open",
      s_firing: "Firing",
      s_acknowledged: "Acknowledged",
      s_resolved: "Resolved",
      s_all: "All",
      d_all: "All",
      d_environment: "Environment",
      d_camera: "Camera",
      d_health: "Device health",
      d_security: "Security",
      d_plates: "Watch-listed plates",
      d_pests: "Crop pests",
      d_epidemics: "Epidemics",
      sev_any: "Any",
      sev_info: "Info",
      sev_low: "Low",
      sev_medium: "Medium",
      sev_high: "High",
      sev_critical: "Critical",
      reload: "Reload",
      empty: "No alerts.",
      ack: "Acknowledge",
      resolve: "Resolve",
      add_note: "Add note",
      history: "History",
      note_placeholder: "Note (optional for acknowledge/resolve)",
      note_needed: "Please type a note.",
      done_ack: "Alert acknowledged.",
      done_resolve: "Alert resolved.",
      done_notes: "Note added.",
      by: "by",
      acknowledged_by: "Acknowledged by",
      resolved_by: "Resolved by",
      started: "Started",
      h_fired: "fired",
      h_escalated: "escalated",
      h_deescalated: "de-escalated",
      h_updated: "updated",
      h_acknowledged: "acknowledged",
      h_resolved: "resolved",
      h_note: "note",
      h_renotified: "reminded",
      role: "Role",
      tab_overview: "Overview",
      tab_alerts: "Alert list",
      more: "Load more",
      count: "Showing {shown} of {total} alerts",
      count_all: "{total} alerts",
      close: "Close",
    },
  };
  const SEVERITIES = ["info", "low", "medium", "high", "critical"];
  const STATUSES = ["firing", "acknowledged", "resolved"];
  const TOKEN_KEY = "ioc.console.token";
  const LANG_KEY = "ioc.console.lang";
  const PAGE_SIZE = 100;
  // Wall mode: a screen across the room reads the overview; nobody acts from it.
  const WALL = new URLSearchParams(location.search).get("wall") === "1";

  const $ = (id) => document.getElementById(id);
  let lang = localStorage.getItem(LANG_KEY) === "en" ? "en" : "vi";
  let me = null;
  let source = null;
  let live = false;
  const alerts = new Map();
  const openHistory = new Set();
  let nextPage = null; // the list's Link rel="next", while more pages follow
  let total = null; // X-Total-Count of the list's filters, as the server said it
  let totalTimer = null;

  const t = (key) => TEXT[lang][key] ?? TEXT.vi[key] ?? key;
  const token = () => sessionStorage.getItem(TOKEN_KEY) || "";

  // Errors are RFC 9457 problems, in the language asked for with Accept-Language;
  // invalid input lists its fields in `errors`.
  function detailOf(body, status) {
    if (!body || typeof body.detail !== "string") return `HTTP ${status}`;
    if (!Array.isArray(body.errors) || body.errors.length === 0) return body.detail;
    return body.errors.map((d) => `${(d.loc || []).join(".")}: ${d.msg}`).join("; ");
  }

  function say(text, ok = false) {
    const el = $("message");
    el.textContent = text;
    el.classList.toggle("ok", ok);
  }

  async function api(path, options = {}) {
    return (await apiResponse(path, options)).body;
  }

  // The whole answer: lists page with a Link header and count with X-Total-Count.
  async function apiResponse(path, options = {}) {
    const headers = {
      Accept: "application/json",
      "Accept-Language": lang,
      Authorization: `Bearer ${token()}`,
    };
    if (options.body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, { ...options, headers });
    const body = await response.json().catch(() => null);
    if (response.status === 401) {
      signOut(t("bad_token"));
      throw new Error(t("bad_token"));
    }
    if (!response.ok) throw new Error(detailOf(body, response.status));
    return { body, headers: response.headers };
  }

  // The URL of rel="next" in a Link header (RFC 8288), same origin only.
  function nextLink(headers) {
    const link = headers.get("Link") || "";
    const match = /<([^>]*)>\s*;\s*rel="next"/.exec(link);
    if (!match || !match[1].startsWith("/api/v1/")) return null;
    return match[1];
  }

  function numberFormat(options = {}) {
    return new Intl.NumberFormat(lang === "vi" ? "vi-VN" : "en-GB", options);
  }

  function formatNumber(value, digits = 2) {
    if (typeof value !== "number" || !Number.isFinite(value)) return "";
    return numberFormat({ maximumFractionDigits: digits }).format(value);
  }

  // "10000+" when the server stopped counting.
  function formatTotal(text) {
    const plus = String(text).endsWith("+");
    const n = Number.parseInt(text, 10);
    return Number.isFinite(n) ? `${formatNumber(n, 0)}${plus ? "+" : ""}` : "";
  }

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, (_, name) => values[name] ?? "");
  }

  function formatTime(iso) {
    if (!iso) return "";
    return new Date(iso).toLocaleString(lang === "vi" ? "vi-VN" : "en-GB", {
      timeZone: "Asia/Ho_Chi_Minh",
      dateStyle: "short",
      timeStyle: "medium",
    });
  }

  function filters() {
    return {
      status: $("f-status").value,
      domain: $("f-domain").value,
      severity: $("f-severity").value,
    };
  }

  function matchesFilters(alert) {
    const f = filters();
    if (f.status === "open" && alert.status === "resolved") return false;
    if (f.status && f.status !== "open" && alert.status !== f.status) return false;
    if (f.domain && alert.domain !== f.domain) return false;
    if (f.severity && alert.severity < SEVERITIES.indexOf(f.severity)) return false;
    return true;
  }

  function mayAct(alert) {
    return !WALL && Boolean(me) && me.acting_domains.includes(alert.domain);
  }

  function byNewest(a, b) {
    return new Date(b.updated_at) - new Date(a.updated_at);
  }

  function renderAlert(alert) {
    const node = $("alert-template").content.firstElementChild.cloneNode(true);
    const q = (selector) => node.querySelector(selector);
    const severity = SEVERITIES.includes(alert.severity_label) ? alert.severity_label : "info";
    const status = STATUSES.includes(alert.status) ? alert.status : "firing";
    node.dataset.id = alert.id;
    node.classList.add(`sev-${severity}`, `st-${status}`);

    q(".sev").textContent = t(`sev_${severity}`);
    q(".domain").textContent = TEXT[lang][`d_${alert.domain}`] ?? alert.domain;
    q(".status").textContent = t(`s_${status}`);
    q(".time").textContent = formatTime(alert.updated_at);
    const title = lang === "en" ? alert.title_en || alert.title_vi : alert.title_vi || alert.title_en;
    const summary =
      lang === "en" ? alert.summary_en || alert.summary_vi : alert.summary_vi || alert.summary_en;
    q(".title").textContent = title;
    q(".summary").textContent = summary;
    q(".summary").hidden = !summary;

    const meta = [`${t("started")}: ${formatTime(alert.started_at)}`];
    const labels = Object.entries(alert.labels || {}).map(([k, v]) => `${k}=${v}`);
    if (labels.length) meta.push(labels.join(", "));
    if (alert.acknowledged_by) meta.push(`${t("acknowledged_by")} ${alert.acknowledged_by}`);
    if (alert.resolved_by) meta.push(`${t("resolved_by")} ${alert.resolved_by}`);
    q(".meta").textContent = meta.join(" · ");

    const note = q(".note");
    note.setAttribute("placeholder", t("note_placeholder"));
    const ack = q(".ack");
    const resolve = q(".resolve");
    const addNote = q(".add-note");
    const toggle = q(".toggle-history");
    ack.textContent = t("ack");
    resolve.textContent = t("resolve");
    addNote.textContent = t("add_note");
    toggle.textContent = t("history");

    const acting = mayAct(alert);
    for (const el of [note, ack, resolve, addNote]) el.hidden = !acting;
    ack.disabled = status !== "firing";
    resolve.disabled = status === "resolved";
    ack.addEventListener("click", () => act(alert.id, "ack", note, node));
    resolve.addEventListener("click", () => act(alert.id, "resolve", note, node));
    addNote.addEventListener("click", () => act(alert.id, "notes", note, node));
    toggle.addEventListener("click", () => toggleHistory(alert.id, q(".history")));
    if (openHistory.has(alert.id)) showHistory(alert.id, q(".history"));
    return node;
  }

  function renderList() {
    const sorted = [...alerts.values()].sort(byNewest);
    $("alerts").replaceChildren(...sorted.map(renderAlert));
    $("empty").hidden = alerts.size > 0;
    renderCount();
  }

  function renderCount() {
    const el = $("count");
    $("more").hidden = !nextPage;
    if (total === null || alerts.size === 0) {
      el.textContent = "";
      return;
    }
    const shown = formatNumber(alerts.size, 0);
    const all = formatTotal(total);
    el.textContent =
      nextPage || String(total) !== String(alerts.size)
        ? fill(t("count"), { shown, total: all })
        : fill(t("count_all"), { total: all });
    el.dataset.total = String(total);
    el.dataset.shown = String(alerts.size);
  }

  // After a live change the total may have moved: ask for it again (one row), at most
  // once a second however many changes arrive.
  function refreshTotal() {
    if (totalTimer) return;
    totalTimer = setTimeout(async () => {
      totalTimer = null;
      try {
        const { headers } = await apiResponse(`/api/v1/alerts?${listQuery(1)}`);
        total = headers.get("X-Total-Count");
        renderCount();
      } catch {
        // the next change or reload tries again
      }
    }, 1000);
  }

  function nodeFor(id) {
    return [...$("alerts").children].find((li) => li.dataset.id === id) || null;
  }

  // One alert changed: replace its row in place, so notes being typed elsewhere survive.
  function upsert(alert, fresh) {
    const old = nodeFor(alert.id);
    if (!matchesFilters(alert)) {
      alerts.delete(alert.id);
      if (old) old.remove();
    } else {
      alerts.set(alert.id, alert);
      const node = renderAlert(alert);
      if (old) {
        node.querySelector(".note").value = old.querySelector(".note").value;
        old.replaceWith(node);
      } else {
        $("alerts").prepend(node);
      }
      if (fresh) node.classList.add("fresh");
    }
    $("empty").hidden = alerts.size > 0;
    refreshTotal();
  }

  function listQuery(limit) {
    const f = filters();
    const query = new URLSearchParams({ limit: String(limit) });
    if (f.status) query.set("status", f.status);
    if (f.domain) query.set("domain", f.domain);
    if (f.severity) query.set("severity", f.severity);
    return query;
  }

  // The first page; the rest come one page at a time by cursor ("Load more").
  async function loadAlerts() {
    try {
      const { body, headers } = await apiResponse(`/api/v1/alerts?${listQuery(PAGE_SIZE)}`);
      alerts.clear();
      for (const alert of body) alerts.set(alert.id, alert);
      nextPage = nextLink(headers);
      total = headers.get("X-Total-Count");
      renderList();
    } catch (error) {
      say(error.message);
    }
  }

  async function loadMore() {
    if (!nextPage) return;
    const button = $("more");
    button.disabled = true;
    try {
      const { body, headers } = await apiResponse(nextPage);
      for (const alert of body) {
        if (!alerts.has(alert.id)) {
          alerts.set(alert.id, alert);
          $("alerts").append(renderAlert(alert));
        }
      }
      nextPage = nextLink(headers);
      total = headers.get("X-Total-Count");
      renderCount();
    } catch (error) {
      say(error.message);
    } finally {
      button.disabled = false;
    }
  }

  async function refreshOne(id) {
    try {
      upsert(await api(`/api/v1/alerts/${encodeURIComponent(id)}`), true);
    } catch {
      const old = nodeFor(id);
      if (old) old.remove();
      alerts.delete(id);
    }
  }

  async function act(id, action, noteInput, node) {
    const note = noteInput.value.trim();
    if (action === "notes" && !note) {
      say(t("note_needed"));
      return;
    }
    const buttons = node.querySelectorAll("button");
    for (const b of buttons) b.disabled = true;
    try {
      const updated = await api(`/api/v1/alerts/${encodeURIComponent(id)}/${action}`, {
        method: "POST",
        body: JSON.stringify({ note }),
      });
      noteInput.value = "";
      upsert(updated, false);
      say(t(`done_${action}`), true);
    } catch (error) {
      say(error.message);
      for (const b of buttons) b.disabled = false;
    }
  }

  async function showHistory(id, list) {
    list.hidden = false;
    try {
      const detail = await api(`/api/v1/alerts/${encodeURIComponent(id)}`);
      list.replaceChildren(
        ...detail.history.map((h) => {
          const li = document.createElement("li");
          const action = TEXT[lang][`h_${h.action}`] ?? h.action;
          // System notes come in both languages (note_en); a person's note as typed.
          const note = lang === "en" && h.note_en ? h.note_en : h.note;
          li.textContent = `${formatTime(h.at)} · ${action} · ${t("by")} ${h.actor}${
            note ? ` — ${note}` : ""
          }`;
          return li;
        }),
      );
    } catch (error) {
      say(error.message);
    }
  }

  function toggleHistory(id, list) {
    if (openHistory.has(id)) {
      openHistory.delete(id);
      list.hidden = true;
    } else {
      openHistory.add(id);
      showHistory(id, list);
    }
  }

  function setLive(on) {
    live = on;
    const el = $("live");
    el.textContent = t(on ? "live_on" : "live_off");
    el.classList.toggle("on", on);
    el.classList.toggle("off", !on);
  }

  function stopStream() {
    if (source) source.close();
    source = null;
    setLive(false);
  }

  function startStream() {
    stopStream();
    // EventSource cannot send an Authorization header; the stream alone takes the token
    // in the query (the server keeps it out of its logs).
    source = new EventSource(`/api/v1/alerts/stream?access_token=${encodeURIComponent(token())}`);
    source.addEventListener("ready", () => {
      setLive(true);
      loadAlerts();
      overview()?.reload();
    });
    source.addEventListener("resync", () => {
      loadAlerts();
      overview()?.reload();
    });
    // The server ends the stream when this token is revoked: sign out instead of
    // letting the browser reconnect with it.
    source.addEventListener("revoked", () => signOut(t("bad_token")));
    source.addEventListener("alert", (event) => {
      let change;
      try {
        change = JSON.parse(event.data);
      } catch {
        return;
      }
      if (change && typeof change.id === "string") {
        refreshOne(change.id);
        overview()?.changed(change);
      }
    });
    source.addEventListener("error", () => {
      setLive(false);
      // CLOSED means the server refused the stream (a revoked token, for one); the
      // browser retries by itself only while CONNECTING.
      if (source && source.readyState === EventSource.CLOSED) {
        api("/api/v1/me")
          .then(() => setTimeout(() => me && startStream(), 5000))
          .catch(() => {});
      }
    });
  }

  // The domain filter offers only what the role may see: a viewer is not shown that
  // security or watch-listed plate alerts exist as a choice.
  function offerDomains() {
    const visible = new Set(me.visible_domains);
    for (const option of $("f-domain").options) {
      option.hidden = option.value !== "" && !visible.has(option.value);
    }
    if ($("f-domain").selectedOptions[0]?.hidden) $("f-domain").value = "";
  }

  function showWho() {
    $("who").textContent = me ? `${me.name} · ${t("role")}: ${me.role}` : "";
  }

  async function signIn(value) {
    sessionStorage.setItem(TOKEN_KEY, value);
    try {
      me = await api("/api/v1/me");
    } catch (error) {
      say(error.message);
      return;
    }
    $("login").hidden = true;
    $("tabs").hidden = WALL;
    say("");
    showWho();
    offerDomains();
    showView();
    startStream();
  }

  const overview = () => window.IOC.overview;

  // #alerts is the list; anything else (and always the wall) is the overview.
  function showView() {
    if (!me) return;
    const list = !WALL && location.hash === "#alerts";
    $("main").hidden = !list;
    $("overview").hidden = list;
    $("updated").hidden = list;
    $("tab-alerts").classList.toggle("current", list);
    $("tab-overview").classList.toggle("current", !list);
    $("tab-alerts").toggleAttribute("aria-current", list);
    $("tab-overview").toggleAttribute("aria-current", !list);
    if (!list) overview()?.show();
  }

  function signOut(text) {
    sessionStorage.removeItem(TOKEN_KEY);
    me = null;
    stopStream();
    alerts.clear();
    nextPage = null;
    total = null;
    $("alerts").replaceChildren();
    $("main").hidden = true;
    $("overview").hidden = true;
    $("tabs").hidden = true;
    $("login").hidden = false;
    overview()?.clear();
    showWho();
    say(text || "");
  }

  function applyLanguage() {
    document.documentElement.lang = lang;
    document.title = `${t("title")} — IOC`;
    for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
    for (const el of document.querySelectorAll("[data-i18n-label]")) {
      el.setAttribute("aria-label", t(el.dataset.i18nLabel));
    }
    $("lang").textContent = lang === "vi" ? "EN" : "VI";
    setLive(live);
    showWho();
    renderList();
    overview()?.render();
  }

  // What overview.js uses; it adds its own texts and registers itself as IOC.overview.
  window.IOC = {
    WALL,
    SEVERITIES,
    TEXT,
    api,
    t,
    lang: () => lang,
    me: () => me,
    formatTime,
    formatNumber,
    say,
    overview: null,
  };

  document.addEventListener("DOMContentLoaded", () => {
    $("lang").addEventListener("click", () => {
      lang = lang === "vi" ? "en" : "vi";
      localStorage.setItem(LANG_KEY, lang);
      applyLanguage();
    });
    $("token-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const value = $("token").value.trim();
      $("token").value = "";
      if (value) signIn(value);
    });
    $("sign-out").addEventListener("click", () => signOut(""));
    $("reload").addEventListener("click", () => loadAlerts());
    $("more").addEventListener("click", () => loadMore());
    window.addEventListener("hashchange", showView);
    document.documentElement.classList.toggle("wall", WALL);
    for (const id of ["f-status", "f-domain", "f-severity"]) {
      $(id).addEventListener("change", () => loadAlerts());
    }
    applyLanguage();
    if (token()) signIn(token());
  });
})();
