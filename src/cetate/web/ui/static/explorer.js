// The hub explorer: entity types with their counts, the entities of a type (paged) with each
// one's document, subscriptions with their delivery status, and the ingest workers.
// Everything comes from the public APIs (NGSI-LD and /ingest), so it shows what a client sees.
"use strict";

(function () {
  const PAGE = 50;
  const cetate = window.cetate;
  let root = null;
  let selectedType = null;
  let offset = 0;

  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (name === "text") node.textContent = value;
      else node.setAttribute(name, value);
    }
    node.append(...children);
    return node;
  }

  function table(caption, headers, rows) {
    const result = el("table", { class: "grid" }, el("caption", { text: caption }));
    const head = result.createTHead().insertRow();
    for (const header of headers) head.append(el("th", { scope: "col", text: header }));
    const body = result.createTBody();
    for (const cells of rows) {
      const row = body.insertRow();
      for (const cell of cells) row.append(el("td", {}, cell));
    }
    if (rows.length === 0) {
      body.insertRow().append(el("td", { colspan: String(headers.length), text: cetate.t("none") }));
    }
    return result;
  }

  function button(text, onClick, attributes) {
    const node = el("button", Object.assign({ type: "button" }, attributes || {}), text);
    node.addEventListener("click", onClick);
    return node;
  }

  async function section(id, titleKey, render) {
    const box = root.querySelector(`[data-part="${id}"]`);
    box.replaceChildren(el("h2", { text: cetate.t(titleKey) }));
    try {
      box.append(await render());
    } catch (error) {
      box.append(el("p", { class: "error", text: cetate.t("loadFailed", { what: error.message }) }));
    }
  }

  // A page of entities and the total the hub counted (NGSILD-Results-Count).
  async function entityPage(type, start, limit) {
    const query = `type=${encodeURIComponent(type)}&limit=${limit}&offset=${start}` +
      "&options=keyValues&count=true";
    const headers = { Accept: "application/json" };
    if (cetate.tenant) headers["NGSILD-Tenant"] = cetate.tenant;
    const response = await fetch(`/ngsi-ld/v1/entities?${query}`, { headers });
    if (!response.ok) throw new Error(`${response.status} /ngsi-ld/v1/entities`);
    return {
      total: Number(response.headers.get("NGSILD-Results-Count") || 0),
      entities: await response.json(),
    };
  }

  async function types() {
    const found = await cetate.api("/ngsi-ld/v1/types?details=true");
    const counts = await Promise.all(found.map((type) => entityPage(type.typeName, 0, 0)));
    const rows = found.map((type, i) => [
      button(type.typeName, () => showEntities(type.typeName, 0), { "data-type": type.typeName }),
      document.createTextNode(counts[i].total.toLocaleString(cetate.lang)),
      document.createTextNode(type.attributeNames.join(", ")),
    ]);
    return table(cetate.t("types"), [cetate.t("type"), cetate.t("count"),
      cetate.t("attributes")], rows);
  }

  async function showEntities(type, start) {
    selectedType = type;
    offset = start;
    await section("entities", "entities", async () => {
      const { total, entities } = await entityPage(type, start, PAGE);
      const rows = entities.map((entity) => [
        button(entity.id, () => showEntity(entity.id), { "data-entity": entity.id }),
        document.createTextNode(entity.name || ""),
      ]);
      const box = el("div");
      box.append(table(`${type} · ${cetate.t("ofTotal", {
        from: total ? start + 1 : 0, to: start + entities.length, total })}`,
      [cetate.t("id"), cetate.t("name")], rows));
      const pager = el("div", { class: "pager" });
      if (start > 0) pager.append(button(cetate.t("previous"), () => showEntities(type, start - PAGE)));
      if (start + PAGE < total) pager.append(button(cetate.t("next"), () => showEntities(type, start + PAGE)));
      box.append(pager, el("pre", { class: "document", "data-part": "document" }));
      return box;
    });
  }

  async function showEntity(id) {
    const target = root.querySelector('[data-part="document"]');
    const entity = await cetate.api(`/ngsi-ld/v1/entities/${encodeURIComponent(id)}`);
    target.textContent = JSON.stringify(entity, null, 2);
    target.tabIndex = 0;
    target.focus();
  }

  async function subscriptions() {
    const found = await cetate.api("/ngsi-ld/v1/subscriptions");
    const rows = found.map((s) => [
      document.createTextNode(s.id),
      document.createTextNode(s.status || (s.isActive === false ? "paused" : "active")),
      document.createTextNode((s.entities || []).map((e) => e.type || e.id).join(", ")),
      document.createTextNode(((s.notification || {}).endpoint || {}).uri || ""),
      document.createTextNode((s.notification || {}).lastNotification || ""),
    ]);
    return table(cetate.t("subscriptions"), [cetate.t("id"), cetate.t("status"),
      cetate.t("entities"), cetate.t("endpoint"), cetate.t("lastNotification")], rows);
  }

  async function ingest() {
    const status = await cetate.api("/ingest/status");
    const rows = (status.workers || []).map((w) => [
      document.createTextNode(w.id || w.name || ""),
      document.createTextNode(String(w.state ?? w.status ?? "")),
      document.createTextNode(JSON.stringify(Object.fromEntries(Object.entries(w)
        .filter(([k]) => !["id", "type", "name", "state", "status"].includes(k))))),
    ]);
    const box = el("div");
    box.append(table(cetate.t("workers"), [cetate.t("id"), cetate.t("status"),
      cetate.t("counters")], rows));
    box.append(el("p", { "data-dead-letters": String(status.deadLetters),
      text: cetate.t("deadLetters", { count: status.deadLetters }) }));
    return box;
  }

  async function render() {
    root.replaceChildren(
      el("div", { class: "part", "data-part": "types" }),
      el("div", { class: "part", "data-part": "entities" }),
      el("div", { class: "part", "data-part": "subscriptions" }),
      el("div", { class: "part", "data-part": "ingest" }),
    );
    await Promise.all([
      section("types", "types", types),
      section("subscriptions", "subscriptions", subscriptions),
      section("ingest", "ingest", ingest),
    ]);
    if (selectedType) await showEntities(selectedType, offset);
  }

  cetate.pages.register("hub", {
    async mount(section) {
      root = el("div", { class: "explorer" });
      const refresh = button(cetate.t("refresh"), render, { class: "refresh", "data-i18n": "refresh" });
      section.append(refresh, root);
      await render();
    },
    show: () => render(),
    relabel: () => root && render(),
  });
})();
