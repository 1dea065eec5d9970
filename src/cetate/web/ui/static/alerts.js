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
    const statuses = FILTERS[filter];
    let found;
    try {
      found = await cetate.api(`/alerts${statuses ? `?status=${statuses}` : ""}`);
    } catch (error) {
      list.replaceChildren(el("p", { class: "error", text: cetate.t("loadFailed", {
        what: error.message }) }));
      return;
    }
    const counts = root.querySelector(".alert-counts");
    counts.replaceChildren(...["open", "acknowledged", "resolved"].map((status) =>
      el("span", { class: `count-${status}`, "data-status": status },
        `${cetate.t(`alert.${status}`)}: `,
        el("strong", { text: found.counts[status].toLocaleString(cetate.lang) }))));
    if (found.alerts.length === 0) {
      list.replaceChildren(el("p", { class: "none", text: cetate.t("noAlerts") }));
    } else {
      const table = el("table", { class: "grid alerts" },
        el("caption", { text: cetate.t("alertsCaption", { count: found.alerts.length }) }));
      const head = table.createTHead().insertRow();
      for (const key of ["severity", "alertWhat", "issued", "status", "actions"]) {
        head.append(el("th", { scope: "col", text: cetate.t(key) }));
      }
      const body = table.createTBody();
      for (const alert of found.alerts) body.append(row(alert));
      list.replaceChildren(table);
    }
    cetate.refreshBadge("alerts");
  }

  function row(alert) {
    const status = alert.status || "open";
    const severity = alert.severity || "medium";
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
      button.addEventListener("click", () => act(alert.id, action, note.value, button));
      cell.append(button);
    }
    return cell;
  }

  async function act(id, action, note, button) {
    button.disabled = true;
    const body = note.trim() ? { note: note.trim() } : {};
    try {
      await cetate.postJson(`/alerts/${encodeURIComponent(id)}/${action}`, body);
      cetate.announce(cetate.t(`done.${action}`));
    } catch (error) {
      cetate.announce(cetate.t("actionFailed", { what: error.message }));
    }
    await refresh();
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
    root.append(heading, bar, el("div", { class: "alert-list" }));
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
