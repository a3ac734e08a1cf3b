/* Consultation (会商) drawer and login of the wall dashboard (dashboard/consult_panel.py lays it out).
 *
 * Everything here talks to the HTTP API with fetch and the user's bearer token, kept in
 * sessionStorage["floodctl.token"] (never a cookie, never a URL). Roles are the API's to enforce: the
 * body flags `logged-in`, `can-act` (duty officer or commander) and `can-decide` (commander) only shape
 * the drawer, and whatever the API refuses is shown as its `message` in the drawer; a 401 drops the
 * token and shows the login again.
 *
 *   drawer open ─every POLL_MS─▶ GET /consultations?drill=N&state=open&limit=1
 *        ├─ one open ─▶ GET /consultations/{id} + GET /orders?drill=N&status=draft ─▶ render
 *        └─ none     ─▶ GET /consultations?drill=N&state=closed&limit=1 (its briefing stays at hand)
 *
 * Dash re-renders its own nodes, so clicks and keys are handled by delegation on `document`, lists are
 * built with DOM calls and textContent (API text is never parsed as HTML), and the 确认 buttons on the
 * warning rows are re-synchronised after every render of #wall-warnings (MutationObserver).
 * window.dash_clientside.floodConsult.context receives the language, the drill shown and the texts.
 */
(function () {
  "use strict";
  var TOKEN_KEY = "floodctl.token";
  var API = "/api/v1";
  var POLL_MS = 3000;
  var WATCH_MS = 1000;                 // looks for (a new) #wall-warnings to observe
  var BLOB_TTL_MS = 120000;            // a briefing's Blob URL outlives the tab's load by far
  var ACT_ROLES = ["duty_officer", "commander", "admin"];
  var DECIDE_ROLES = ["commander", "admin"];
  var ROLE_ORDER = ["admin", "commander", "duty_officer", "inspector", "town_officer", "viewer"];

  var state = {
    lang: "zh", drill: 0, tz: undefined, texts: {},
    user: null,                        // {name, display_name, roles} from /auth/me
    loginError: "",                    // the last login refusal, shown until the next login
    open: false,                       // the drawer
    consultation: null,                // the open consultation of the drill shown (GET /consultations/{id})
    last: null,                        // none open: the last closed one (list row)
    drafts: [],
    loaded: false,                     // the first load for this drill has answered
    generation: 0,                     // a newer load supersedes older answers
    timer: null,
    needLogin: false,                  // the last load was refused (401): wait for a login
    memoryToken: null,                 // the token when sessionStorage is unavailable
    messageFrom: null,                 // "poll" | "action": a poll's success clears only its own error
    rendered: {},                      // list id -> key of what it shows (re-render only on change)
  };

  // --- small helpers ----------------------------------------------------------------------------

  function byId(id) { return document.getElementById(id); }

  function t(key, values) {
    var entry = state.texts[key];
    var text = entry ? (entry[state.lang] || entry.zh || key) : key;
    if (values) {
      text = text.replace(/\{(\w+)\}/g, function (all, name) {
        return values[name] === undefined || values[name] === null ? "" : String(values[name]);
      });
    }
    return text;
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function setText(id, text) {
    var node = byId(id);
    if (node && node.textContent !== text) { node.textContent = text; }
  }

  function flag(name, on) { document.body.classList.toggle(name, !!on); }

  function hasAny(roles, wanted) {
    return (roles || []).some(function (role) { return wanted.indexOf(role) >= 0; });
  }

  /* "HH:MM", or "MM-DD HH:MM" as the wall writes times, in the county's time zone. */
  function when(iso, withDate) {
    if (!iso) { return ""; }
    try {
      var parts = {};
      new Intl.DateTimeFormat("en-GB", {month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
        hourCycle: "h23", timeZone: state.tz}).formatToParts(new Date(iso)).forEach(function (part) {
        parts[part.type] = part.value;
      });
      var time = parts.hour + ":" + parts.minute;
      return withDate ? parts.month + "-" + parts.day + " " + time : time;
    } catch (e) {
      return String(iso);
    }
  }

  function token() {
    try { return window.sessionStorage.getItem(TOKEN_KEY); } catch (e) { return null; }
  }

  function storeToken(value) {
    try {
      if (value) { window.sessionStorage.setItem(TOKEN_KEY, value); } else { window.sessionStorage.removeItem(TOKEN_KEY); }
    } catch (e) { /* storage disabled: the token lives as long as this page */ }
    state.memoryToken = value || null;
  }

  function inputValue(id) {
    var node = byId(id);
    return node ? String(node.value || "") : "";
  }

  function clearInput(id) {
    var node = byId(id);
    if (node) { node.value = ""; }
  }

  // --- the API --------------------------------------------------------------------------------------

  function ApiError(status, message) {
    this.status = status;
    this.message = message;
  }

  /* fetch API + path; options: json (body), form (urlencoded body), as ("json" | "blob"), anonymous. */
  function api(method, path, options) {
    options = options || {};
    var headers = {"Accept": options.as === "blob" ? "*/*" : "application/json"};
    var bearer = token() || state.memoryToken;
    if (bearer && !options.anonymous) { headers.Authorization = "Bearer " + bearer; }
    var init = {method: method, headers: headers, credentials: "omit", cache: "no-store", redirect: "error"};
    if (options.json !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(options.json);
    } else if (options.form) {
      init.body = new URLSearchParams(options.form);
    }
    return fetch(API + path, init).then(function (response) {
      if (response.ok) { return options.as === "blob" ? response.blob() : response.json(); }
      return response.text().then(function (text) {
        var message = null;
        try {
          var body = JSON.parse(text);
          message = body && (body.message || (typeof body.detail === "string" ? body.detail : null));
        } catch (e) { /* not JSON: a proxy's page */ }
        throw new ApiError(response.status, message || t("http_error", {status: response.status}));
      });
    }, function (error) {
      throw new ApiError(0, t("network", {why: (error && error.message) || String(error)}));
    });
  }

  // --- messages -----------------------------------------------------------------------------------

  function showMessage(text, from, ok) {
    var node = byId("wall-consult-message");
    state.messageFrom = text ? from : null;
    if (!node) { return; }
    node.textContent = text || "";
    node.classList.toggle("ok", !!ok);
  }

  // Kept, not only shown: a refusal can come before Dash has drawn the drawer (the stored token is checked
  // as the page loads), and every render() shows it again.
  function showLoginError(text) {
    state.loginError = text || "";
    setText("wall-login-error", state.loginError);
  }

  /* Every failure ends here: 401 drops the login, anything else shows the API's message. */
  function failed(error, from) {
    var message = (error && error.message) || String(error);
    if (error && error.status === 401) {
      dropLogin();
      showMessage("", from);
      showLoginError(message);
      return;
    }
    showMessage(message, from);
  }

  // --- login ----------------------------------------------------------------------------------------

  function roleNames(roles) {
    var sorted = (roles || []).slice().sort(function (a, b) { return ROLE_ORDER.indexOf(a) - ROLE_ORDER.indexOf(b); });
    if (!sorted.length) { return t("no_role"); }
    return sorted.map(function (role) { return state.texts["role_" + role] ? t("role_" + role) : role; })
      .join(t("roles_sep"));
  }

  function renderUser() {
    var user = state.user;
    var roles = user ? user.roles : [];
    flag("logged-in", user);
    flag("can-act", user && hasAny(roles, ACT_ROLES));
    flag("can-decide", user && hasAny(roles, DECIDE_ROLES));
    setText("wall-login-user", user ? t("who", {name: user.display_name || user.name, roles: roleNames(roles)}) : "");
    decorateWarnings();
  }

  function dropLogin() {
    storeToken(null);
    state.user = null;
    renderUser();
  }

  function loadMe() {
    return api("GET", "/auth/me").then(function (me) {
      state.user = {name: me.name, display_name: me.display_name, roles: me.roles || []};
      renderUser();
    });
  }

  function login(button) {
    var name = inputValue("wall-login-name").trim();
    var password = inputValue("wall-login-password");
    if (!name || !password) { showLoginError(t("login_missing")); return; }
    busy(button, true);
    api("POST", "/auth/token", {form: {username: name, password: password}, anonymous: true})
      .then(function (body) {
        clearInput("wall-login-password");
        storeToken(body.access_token);
        state.needLogin = false;
        showLoginError("");
        return loadMe();
      })
      .then(function () { showMessage("", "action"); reload(); })
      .catch(function (error) {
        clearInput("wall-login-password");
        if (error.status === 401) { dropLogin(); }
        showLoginError(error.message);
      })
      .then(function () { busy(button, false); });
  }

  function logout() {
    dropLogin();
    showLoginError("");
    showMessage("", "action");
    // The wall's own session cookie too (HttpOnly: only the server can drop it).
    window.fetch(API + "/auth/session", {method: "DELETE", credentials: "same-origin"})
      .catch(function () { return null; })
      .then(function () { reload(); });
  }

  // --- the drawer ---------------------------------------------------------------------------------

  function place() {
    // Over the right-hand column of the wall; the stylesheet's fixed box when there is none.
    var drawer = byId("wall-consult");
    var column = document.querySelector("#wall-root .col-right");
    if (!drawer) { return; }
    if (!column) {
      ["top", "left", "width", "height"].forEach(function (key) { drawer.style.removeProperty(key); });
      return;
    }
    var box = column.getBoundingClientRect();
    var minWidth = 22 * (parseFloat(window.getComputedStyle(document.documentElement).fontSize) || 16);
    var width = Math.max(box.width, Math.min(minWidth, window.innerWidth));
    drawer.style.top = box.top + "px";
    drawer.style.height = box.height + "px";
    drawer.style.left = Math.max(0, box.right - width) + "px";
    drawer.style.width = width + "px";
  }

  function openDrawer() {
    if (state.open) { return; }
    state.open = true;
    flag("consult-drawer-open", true);
    var button = byId("wall-consult-button");
    if (button) { button.setAttribute("aria-expanded", "true"); }
    place();
    reload();
  }

  function closeDrawer() {
    state.open = false;
    flag("consult-drawer-open", false);
    var button = byId("wall-consult-button");
    if (button) { button.setAttribute("aria-expanded", "false"); }
    window.clearTimeout(state.timer);
  }

  function schedule() {
    window.clearTimeout(state.timer);
    // Not logged in where reads need a login: polling would only repeat the 401 until someone logs in.
    if (state.open && !state.needLogin) { state.timer = window.setTimeout(reload, POLL_MS); }
  }

  /* Load what the drawer shows for the drill shown; answers to a superseded load are dropped. */
  function reload() {
    var generation = ++state.generation;
    var drill = state.drill;
    var query = "/consultations?drill=" + drill + "&limit=1&state=";
    return api("GET", query + "open").then(function (body) {
      var open = (body.consultations || [])[0];
      if (!open) {
        return api("GET", query + "closed").then(function (closed) {
          return {consultation: null, last: (closed.consultations || [])[0] || null, drafts: []};
        });
      }
      return Promise.all([
        api("GET", "/consultations/" + encodeURIComponent(open.id)),
        api("GET", "/orders?drill=" + drill + "&status=draft&limit=100"),
      ]).then(function (both) { return {consultation: both[0], last: null, drafts: both[1].orders || []}; });
    }).then(function (data) {
      if (generation !== state.generation) { return; }
      state.consultation = data.consultation;
      state.last = data.last;
      state.drafts = data.drafts;
      state.loaded = true;
      if (state.messageFrom === "poll") { showMessage("", "poll"); }
      render();
    }, function (error) {
      if (generation !== state.generation) { return; }
      state.needLogin = error.status === 401;
      failed(error, "poll");
    }).then(function () {
      if (generation === state.generation) { schedule(); }
    });
  }

  function renderList(id, key, build) {
    var list = byId(id);
    if (!list) { return; }
    var stamp = state.lang + "|" + key;
    if (state.rendered[id] === stamp && list.childNodes.length) { return; }   // unchanged: keep focus, scroll
    state.rendered[id] = stamp;
    list.replaceChildren.apply(list, build());
  }

  function decisionLine(d) {
    var li = el("li", "wc-decision");
    li.dataset.kind = d.kind;
    li.dataset.id = d.id;
    var head = el("div", "wc-decision-head");
    head.appendChild(el("span", "wc-kind", t("kind_" + d.kind)));
    head.appendChild(el("span", "wc-who", d.decided_by));
    head.appendChild(el("span", "wc-when", when(d.decided_at)));
    li.appendChild(head);
    var text;
    if (d.kind === "response_level") {
      text = t("level_" + d.level) + (d.reason ? " — " + d.reason : "");
    } else if (d.kind === "approve_order") {
      var title = state.lang === "en" && d.order_title_en ? d.order_title_en : d.order_title_zh;
      text = [d.order_no, title].filter(Boolean).join(" ");
    } else {
      text = d.text;
    }
    if (d.text && d.kind !== "note" && d.text !== d.reason) { text += " — " + d.text; }
    li.appendChild(el("div", "wc-text", text));
    return li;
  }

  function orderRow(o) {
    var row = el("div", "wc-order");
    row.dataset.id = o.id;
    var info = el("div", "wc-order-info");
    info.appendChild(el("span", "wc-order-no", o.order_no));
    info.appendChild(el("span", "wc-order-title", state.lang === "en" && o.title_en ? o.title_en : o.title_zh));
    row.appendChild(info);
    var button = el("button", "wc-button wc-primary wall-consult-approve", t("approve"));
    button.type = "button";
    button.dataset.id = o.id;
    row.appendChild(button);
    return row;
  }

  function render() {
    var c = state.consultation;
    setText("wall-login-error", state.loginError || "");
    var open = !!(c && c.state === "open");
    flag("consult-open", open);
    flag("consult-last", !open && state.last);
    flag("consult-loaded", state.loaded);
    setText("wall-consult-scope", state.drill ? t("scope_drill", {id: state.drill}) : t("scope_live"));
    if (open) {
      setText("wall-consult-title", c.title);
      setText("wall-consult-meta", t("started", {who: c.started_by, at: when(c.started_at, true)}));
      var attendees = c.attendees || [];
      renderList("wall-consult-attendees", JSON.stringify(attendees), function () {
        if (!attendees.length) { return [el("li", "wc-empty", t("no_attendees"))]; }
        return attendees.map(function (a) {
          var li = el("li", "wc-attendee", a.name);
          li.dataset.id = a.id;
          if (a.unit) { li.appendChild(el("span", "wc-unit", a.unit)); }
          return li;
        });
      });
      var snapshots = c.snapshots || [];
      var lastShot = snapshots[snapshots.length - 1];
      setText("wall-consult-snapshot-info", lastShot ?
        t("snapshots_info", {n: snapshots.length, at: when(lastShot.taken_at)}) : t("snapshots_none"));
      var decisions = c.decisions || [];
      renderList("wall-consult-decisions", JSON.stringify(decisions), function () {
        if (!decisions.length) { return [el("li", "wc-empty", t("no_decisions"))]; }
        return decisions.map(decisionLine);
      });
      var drafts = state.drafts;
      renderList("wall-consult-orders", JSON.stringify(drafts.map(function (o) {
        return [o.id, o.order_no, o.title_zh, o.title_en];
      })), function () {
        if (!drafts.length) { return [el("div", "wc-empty", t("no_orders"))]; }
        return drafts.map(orderRow);
      });
    }
    var last = state.last;
    if (!open && last) {
      setText("wall-consult-last-title", last.title);
      setText("wall-consult-last-meta", t("ended", {who: last.ended_by, at: when(last.ended_at, true)}));
    }
  }

  // --- actions --------------------------------------------------------------------------------------

  function busy(button, on) {
    if (!button) { return; }
    button.disabled = !!on;
    button.classList.toggle("busy", !!on);
  }

  /* One change through the API: the button is held while it runs, the drawer reloads after it. */
  function act(button, method, path, body, after) {
    busy(button, true);
    return api(method, path, {json: body}).then(function (result) {
      showMessage("", "action");
      if (after) { after(result); }
      return reload();
    }, function (error) {
      failed(error, "action");
    }).then(function () { busy(button, false); });
  }

  function consultationPath(suffix) {
    var c = state.consultation;
    return c ? "/consultations/" + encodeURIComponent(c.id) + (suffix || "") : null;
  }

  function required(value, key) {
    if (value) { return true; }
    showMessage(t(key), "action");
    return false;
  }

  function startConsultation(button) {
    var title = inputValue("wall-consult-start-title").trim();
    if (!required(title, "start_missing")) { return; }
    act(button, "POST", "/consultations", {title: title, drill_id: state.drill}, function () {
      clearInput("wall-consult-start-title");
    });
  }

  function addAttendee(button) {
    var name = inputValue("wall-consult-attendee-name").trim();
    var unit = inputValue("wall-consult-attendee-unit").trim();
    if (!required(name, "attendee_missing") || !consultationPath()) { return; }
    act(button, "POST", consultationPath("/attendees"), {name: name, unit: unit || null}, function () {
      clearInput("wall-consult-attendee-name");
      clearInput("wall-consult-attendee-unit");
    });
  }

  function takeSnapshot(button) {
    if (consultationPath()) { act(button, "POST", consultationPath("/snapshots"), undefined); }
  }

  function decide(button, body, after) {
    if (consultationPath()) { act(button, "POST", consultationPath("/decisions"), body, after); }
  }

  function setLevel(button) {
    var select = byId("wall-consult-level");
    var reason = inputValue("wall-consult-level-reason").trim();
    if (!select || !required(reason, "level_missing")) { return; }
    decide(button, {kind: "response_level", level: select.value, reason: reason}, function () {
      clearInput("wall-consult-level-reason");
    });
  }

  function addNote(button) {
    var text = inputValue("wall-consult-note").trim();
    if (!required(text, "note_missing")) { return; }
    decide(button, {kind: "note", text: text}, function () { clearInput("wall-consult-note"); });
  }

  function endConsultation(button) {
    var c = state.consultation;
    if (!c || !window.confirm(t("end_confirm", {title: c.title}))) { return; }
    act(button, "POST", consultationPath("/close"), {});
  }

  /* The briefing: HTML opens in a new tab from a Blob URL (the tab is opened at the click, so no pop-up
   * blocker stands in the way), Markdown is downloaded. The token never leaves this page's requests. */
  function briefing(button) {
    var target = button.id.indexOf("last") >= 0 ? state.last : state.consultation;
    if (!target) { return; }
    var format = button.getAttribute("data-format") === "md" ? "md" : "html";
    var tab = null;
    if (format === "html") {
      tab = window.open("", "_blank");
      if (!tab) { showMessage(t("popup_blocked"), "action"); return; }
      try { tab.opener = null; } catch (e) { /* a browser that refuses: harmless */ }
    }
    busy(button, true);
    var path = "/consultations/" + encodeURIComponent(target.id) + "/briefing?format=" + format + "&lang=" + state.lang;
    api("GET", path, {as: "blob"}).then(function (blob) {
      var url = URL.createObjectURL(new Blob([blob], {type: format === "md" ? "text/markdown;charset=utf-8" :
        "text/html;charset=utf-8"}));
      window.setTimeout(function () { URL.revokeObjectURL(url); }, BLOB_TTL_MS);
      showMessage("", "action");
      if (tab) {
        tab.location.replace(url);
        return;
      }
      var link = el("a");
      link.href = url;
      link.download = t("briefing_file") + "-" + target.id + ".md";
      link.rel = "noopener";
      link.style.display = "none";
      document.body.appendChild(link);
      link.click();
      link.remove();
    }, function (error) {
      if (tab) { tab.close(); }
      failed(error, "action");
    }).then(function () { busy(button, false); });
  }

  // --- warnings: 确认 on the rows of #wall-warnings ------------------------------------------------

  var observed = null;
  var observer = null;
  var decoratePending = false;

  function decorateWarnings() {
    decoratePending = false;
    var panel = byId("wall-warnings");
    if (!panel) { return; }
    var canAct = document.body.classList.contains("can-act");
    panel.querySelectorAll(".w-row").forEach(function (row) {
      var mark = row.querySelector(".w-ack");
      var button = row.querySelector(".wall-ack-button");
      var id = row.getAttribute("data-id");
      var wanted = canAct && id && mark && mark.classList.contains("unack");
      if (button && (!wanted || button.getAttribute("data-id") !== id)) {
        button.remove();
        button = null;
      }
      if (wanted && !button) {
        button = el("button", "wall-ack-button", t("ack"));
        button.type = "button";
        button.setAttribute("data-id", id);
        mark.appendChild(button);
      } else if (button && !button.disabled && button.textContent !== t("ack")) {
        button.textContent = t("ack");
      }
    });
  }

  function decorateSoon() {
    if (decoratePending) { return; }
    decoratePending = true;
    window.requestAnimationFrame(decorateWarnings);
  }

  function watchWarnings() {
    var panel = byId("wall-warnings");
    if (panel === observed) { return; }
    if (observer) { observer.disconnect(); }
    observed = panel;
    if (!panel) { return; }
    observer = observer || new MutationObserver(decorateSoon);
    observer.observe(panel, {childList: true, subtree: true, attributes: true,
      attributeFilter: ["class", "data-id"], characterData: true});
    decorateWarnings();
  }

  function acknowledge(button) {
    var id = button.getAttribute("data-id");
    busy(button, true);
    api("POST", "/warnings/" + encodeURIComponent(id) + "/ack", {json: {}}).then(function () {
      button.textContent = t("ack_done");          // the wall's next render (within ~1 s) replaces the row's mark
    }, function (error) {
      busy(button, false);
      failed(error, "action");
      openDrawer();
    });
  }

  // --- language and drill (from Dash) --------------------------------------------------------------

  function relabel() {
    document.querySelectorAll("[data-ct]").forEach(function (node) {
      var text = t(node.getAttribute("data-ct"));
      if (node.textContent !== text) { node.textContent = text; }
    });
    document.querySelectorAll("[data-cph]").forEach(function (node) {
      var key = node.getAttribute("data-cph");
      var input = node.tagName === "INPUT" ? node : node.querySelector("input");
      if (input && input.placeholder !== t(key)) { input.placeholder = t(key); }
    });
    document.querySelectorAll("[data-ctitle]").forEach(function (node) {
      var text = t(node.getAttribute("data-ctitle"));
      if (node.getAttribute("aria-label") !== text) { node.setAttribute("aria-label", text); }
      if (node.hasAttribute("title") && node.title !== text) { node.title = text; }
    });
  }

  function context(lang, drill, texts, config) {
    if (texts && typeof texts === "object") { state.texts = texts; }
    state.lang = lang === "en" ? "en" : "zh";
    state.tz = (config && config.tz) || undefined;
    document.documentElement.lang = state.lang === "en" ? "en" : "zh-CN";
    var number = parseInt(drill, 10);
    number = isFinite(number) && number >= 0 ? number : 0;
    var drillChanged = number !== state.drill;
    state.drill = number;
    if (drillChanged) {
      state.consultation = null;
      state.last = null;
      state.drafts = [];
      state.loaded = false;
      state.generation++;                          // answers for the previous drill are dropped
    }
    relabel();
    if (state.user) { renderUser(); } else { decorateWarnings(); }
    render();
    if (drillChanged && state.open) { reload(); }
    return {lang: state.lang, drill: state.drill};
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {floodConsult: {context: context}});

  // --- events (delegated: Dash re-renders its nodes) ----------------------------------------------

  var CLICKS = {
    "wall-consult-button": function () { if (state.open) { closeDrawer(); } else { openDrawer(); } },
    "wall-consult-hide": closeDrawer,
    "wall-login-submit": login,
    "wall-login-logout": logout,
    "wall-consult-start-submit": startConsultation,
    "wall-consult-attendee-add": addAttendee,
    "wall-consult-snapshot": takeSnapshot,
    "wall-consult-level-submit": setLevel,
    "wall-consult-note-submit": addNote,
    "wall-consult-end": endConsultation,
  };

  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    var button = target && target.closest("button");
    if (!button || button.disabled) { return; }
    if (CLICKS[button.id]) {
      CLICKS[button.id](button);
    } else if (button.classList.contains("wc-briefing")) {
      briefing(button);
    } else if (button.classList.contains("wall-consult-approve")) {
      decide(button, {kind: "approve_order", order_id: Number(button.getAttribute("data-id"))});
    } else if (button.classList.contains("wall-ack-button")) {
      acknowledge(button);
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && state.open) {
      closeDrawer();
      return;
    }
    var target = event.target;
    if (event.key !== "Enter" || !(target instanceof HTMLInputElement) || event.isComposing) { return; }
    var form = target.closest("#wall-consult .wc-form");
    var submit = form && form.querySelector(".wc-submit");
    if (submit && !submit.disabled) {
      event.preventDefault();
      submit.click();
    }
  });

  window.addEventListener("resize", function () { if (state.open) { place(); } });

  function start() {
    window.setInterval(watchWarnings, WATCH_MS);
    watchWarnings();
    if (token()) {
      loadMe().catch(function (error) { failed(error, "action"); });
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
