// The alerts panel: the tenant's Alert entities, the most urgent first, with their severity,
// what happened, when, and who acknowledged or resolved them. Operators acknowledge and
// resolve (with an optional note); the server records who and when from the account signed
// in. Viewers see the same list without the buttons (and the API refuses their writes).
"use strict";

(function () {
  const REFRESH_MS = 10000;
  const FILTERS = {
    active: "open,acknowledged",
    open: "open",
    acknowledged: "acknowledged",
    resolved: "resolved",
    all: "",
  };
  const SEVERITIES = ["informational", "low", "medium", "high", "critical"];
  const cetate = window.cetate;
  let root = null;
  let filter = "active";
  let timer = null;
  let visible = false;

  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (name === "text") node.textContent = value;
      else node.setAttribute(name, value);
    }
    node.append(...children.filter((child) => child !== null && child !== undefined));
    return node;
  }

  function when(iso) {
    if (!iso) return "";
    return new Date(iso).toLocaleString(cetate.lang, {
      day: "numeric", month: "short", hour: "2-digit", minute: "2-digit",
    });
  }

  function timeEl(iso) {
    return el("time", { datetime: iso || "", text: when(iso) });
  }

  async function refresh() {
    const list = root.querySelector(".alert-list");
    const problem = root.querySelector(".alert-problem");
    const statuses = FILTERS[filter];
    let found;
    try {
      found = await cetate.api(`/alerts${statuses ? `?status=${statuses}` : ""}`);
    } catch (error) {
      // Said beside the list, which stays as it was (with any note being typed).
      problem.textContent = cetate.t("loadFailed", { what: error.message });
      problem.hidden = false;
      return;
    }
    problem.hidden = true;
    const counts = root.querySelector(".alert-counts");
    counts.replaceChildren(...["open", "acknowledged", "resolved"].map((status) =>
      el("span", { class: `count-${status}`, "data-status": status },
        `${cetate.t(`alert.${status}`)}: `,
        el("strong", { text: found.counts[status].toLocaleString(cetate.lang) }))));
    if (found.alerts.length === 0) {
      list.replaceChildren(el("p", { class: "none", text: cetate.t("noAlerts") }));
    } else {
      render(list, found.alerts);
    }
    cetate.refreshBadge("alerts");
  }

  // The list is redrawn every REFRESH_MS and after each action. A row whose alert has not
  // changed is kept as it is, so a note being typed and the keyboard focus survive; a changed
  // row takes over the note typed in it and, when it had the focus, gives it to the same
  // control (or the nearest one left: "resolve" after "acknowledge").
  const signatureOf = new WeakMap();

  function render(list, alerts) {
    let table = list.querySelector("table.alerts");
    if (!table) {
      table = el("table", { class: "grid alerts" }, el("caption"));
      const head = table.createTHead().insertRow();
      for (const key of ["severity", "alertWhat", "issued", "status", "actions"]) {
        head.append(el("th", { scope: "col", text: cetate.t(key) }));
      }
      table.createTBody();
      list.replaceChildren(table);
    }
    table.caption.textContent = cetate.t("alertsCaption", { count: alerts.length });
    const body = table.tBodies[0];
    const before = [...body.rows];
    const old = new Map(before.map((tr) => [tr.dataset.id, tr]));
    const focused = document.activeElement;
    const focusedRow = body.contains(focused) ? focused.closest("tr[data-id]") : null;
    const rows = alerts.map((alert) => {
      const signature = JSON.stringify(alert);
      const kept = old.get(alert.id);
      if (kept && signatureOf.get(kept) === signature) return kept;
      const fresh = row(alert);
      signatureOf.set(fresh, signature);
      const typed = kept?.querySelector(".note-input")?.value;
      const note = fresh.querySelector(".note-input");
      if (typed && note) note.value = typed;
      return fresh;
    });
    if (rows.length !== before.length || rows.some((tr, i) => tr !== before[i])) {
      body.replaceChildren(...rows);
    }
    if (focusedRow && document.activeElement !== focused) {
      refocus(body, focusedRow, focused, before.indexOf(focusedRow));
    }
  }

  function refocus(body, oldRow, oldControl, oldIndex) {
    if (body.contains(oldControl)) {
      oldControl.focus(); // the row was kept but moved: moving a node drops its focus
      return;
    }
    const same = [...body.rows].find((tr) => tr.dataset.id === oldRow.dataset.id);
    const action = oldControl.dataset?.action;
    const near = body.rows[Math.min(oldIndex, body.rows.length - 1)];
    const target = same
      ? (action && same.querySelector(`[data-action="${action}"]`))
        || (oldControl.classList.contains("note-input") && same.querySelector(".note-input"))
        || firstControl(same)
      : near && firstControl(near);
    (target || root.querySelector("#alert-filter")).focus();
  }

  // The next thing to do in a row: an action, else its note, else "show on the map".
  function firstControl(tr) {
    return tr.querySelector("button.act") || tr.querySelector("input") || tr.querySelector("button");
  }

  function row(alert) {
    const status = alert.status || "open";
    const severity = SEVERITIES.includes(alert.severity) ? alert.severity : "medium";
    const tr = el("tr", { "data-id": alert.id, "data-status": status });
    tr.append(el("td", {}, el("span", {
      class: `severity severity-${severity}`, text: cetate.t(`severity.${severity}`) })));
    const what = el("td", {},
      el("div", { class: "what", text: alert.description || alert.name || alert.id }),
      el("div", { class: "detail", text: [alert.category, alert.subCategory, alert.alertSource]
        .filter(Boolean).join(" · ") }));
    tr.append(what);
    tr.append(el("td", {}, timeEl(alert.dateIssued)));
    const handled = el("td", { class: "handled" }, el("div", { text: cetate.t(`alert.${status}`) }));
    if (alert.acknowledgedBy) {
      handled.append(el("div", { class: "who" }, cetate.t("ackBy", { who: alert.acknowledgedBy }),
        " ", timeEl(alert.acknowledgedAt)));
    }
    if (alert.resolvedBy) {
      handled.append(el("div", { class: "who" }, cetate.t("resolvedBy", { who: alert.resolvedBy }),
        " ", timeEl(alert.resolvedAt)));
    }
    for (const note of [alert.acknowledgementNote, alert.resolutionNote]) {
      if (note) handled.append(el("div", { class: "note", text: `“${note}”` }));
    }
    tr.append(handled);
    tr.append(actions(alert, status));
    return tr;
  }

  function actions(alert, status) {
    const cell = el("td", { class: "actions" });
    if (alert.location) {
      const show = el("button", { type: "button", class: "link" }, cetate.t("showOnMap"));
      show.addEventListener("click", async () => {
        location.hash = "#/map";
        await cetate.open("map");
        await cetate.map.focus(alert.id, { layer: "alerts", lon: null });
      });
      cell.append(show);
    }
    if (status === "resolved" || !cetate.canWrite()) return cell;
    const note = el("input", {
      type: "text", class: "note-input write-control", maxlength: "2000",
      "aria-label": cetate.t("noteLabel"), placeholder: cetate.t("notePlaceholder"),
    });
    cell.append(note);
    const wanted = status === "open" ? ["acknowledge", "resolve"] : ["resolve"];
    for (const action of wanted) {
      const button = el("button", {
        type: "button", class: `act write-control act-${action}`, "data-action": action,
      }, cetate.t(`action.${action}`));
      button.addEventListener("click", () => act(alert.id, action, note, button));
      cell.append(button);
    }
    return cell;
  }

  async function act(id, action, noteInput, button) {
    const tr = button.closest("tr");
    const index = [...tr.parentNode.rows].indexOf(tr);
    button.disabled = true; // which takes the focus off it
    const note = noteInput.value.trim();
    const body = note ? { note } : {};
    try {
      await cetate.postJson(`/alerts/${encodeURIComponent(id)}/${action}`, body);
      noteInput.value = ""; // recorded with the action: not to be carried to the next one
      cetate.announce(cetate.t(`done.${action}`));
    } catch (error) {
      cetate.announce(cetate.t("actionFailed", { what: error.message }));
    }
    button.disabled = false; // a row that did not change is kept, with this button
    await refresh();
    const rows = root.querySelector(".alert-list tbody");
    if (!root.contains(document.activeElement) || document.activeElement === button) {
      if (rows) refocus(rows, tr, button, index);
      else root.querySelector("#alert-filter").focus();
    }
  }

  function build() {
    root.replaceChildren();
    const heading = el("h2", { text: cetate.t("alertsTitle") });
    const select = el("select", { id: "alert-filter" });
    for (const key of Object.keys(FILTERS)) {
      select.append(el("option", { value: key, text: cetate.t(`filter.${key}`) }));
    }
    select.value = filter;
    select.addEventListener("change", () => {
      filter = select.value;
      refresh();
    });
    const bar = el("div", { class: "alert-bar" },
      el("label", { for: "alert-filter", text: cetate.t("showAlerts") }), select,
      el("div", { class: "alert-counts", "aria-live": "polite" }));
    const problem = el("p", { class: "error alert-problem", role: "alert" });
    problem.hidden = true;
    root.append(heading, bar, problem, el("div", { class: "alert-list" }));
  }

  function schedule() {
    clearInterval(timer);
    timer = setInterval(() => { if (visible) refresh(); }, REFRESH_MS);
  }

  cetate.pages.register("alerts", {
    async mount(section) {
      root = section;
      visible = true;
      build();
      schedule();
      await refresh();
      document.body.dataset.alertsReady = "true";
    },
    show() {
      visible = true;
      refresh();
    },
    hide() { visible = false; },
    relabel() {
      if (!root) return;
      build();
      refresh();
    },
  });
})();
