// The shell of the operations room: configuration, language, signing in, the tenant switch,
// search, and navigation between the pages that modules register (cetate.pages.register).
// Pages are plain scripts; a module's script is loaded the first time its page is opened.
"use strict";

(function () {
  const LANGS = ["en", "ro"];
  const BADGE_MS = 30000; // how often the navigation's badges (open alerts) are read again
  const SEARCH_DELAY_MS = 250;
  const pages = new Map(); // module id -> {mount(el), show?(), hide?(), relabel?()}
  const mounted = new Map(); // module id -> its <section>
  const loading = new Map(); // module id -> Promise of its script
  let messages = {};
  let config = null;
  let current = null;

  const cetate = {
    lang: pickLanguage(),
    tenant: localStorage.getItem("cetate.tenant") || "",
    config: null,
    user: null,
    pages: { register: (id, page) => pages.set(id, page) },
    t,
    title,
    api,
    announce,
    open: (id) => show(id), // show a module's page (mounted on first use); a Promise
    canWrite: () => !cetate.user || ["operator", "admin"].includes(cetate.user.role),
    ready: null, // resolves when the first page is shown
  };
  window.cetate = cetate;

  function pickLanguage() {
    const saved = localStorage.getItem("cetate.lang");
    if (LANGS.includes(saved)) return saved;
    return (navigator.language || "en").toLowerCase().startsWith("ro") ? "ro" : "en";
  }

  // A message of the catalogue, with {name} placeholders filled from `values`.
  function t(key, values) {
    let text = messages[key] ?? key;
    for (const [name, value] of Object.entries(values || {})) {
      text = text.replaceAll(`{${name}}`, String(value));
    }
    return text;
  }

  // A registry title ({en, ro}) in the current language.
  function title(titles) {
    return titles[cetate.lang] || titles.en || "";
  }

  // A call to Cetate's API for the current tenant. Every call says it comes from this page
  // (X-Requested-With): the server refuses a write made with the session cookie without it,
  // which a form on another site cannot add. A failure throws an Error with the status and
  // the ProblemDetails' detail; a 401 means the session ended, so the sign-in form comes back.
  async function api(path, options) {
    const headers = Object.assign(
      { Accept: "application/json", "X-Requested-With": "cetate" },
      (options || {}).headers,
    );
    if (cetate.tenant) headers["NGSILD-Tenant"] = cetate.tenant;
    const response = await fetch(path, Object.assign({}, options, { headers }));
    if (!response.ok) {
      let detail = "";
      try {
        detail = (await response.json()).detail || "";
      } catch (ignored) { /* not a ProblemDetails */ }
      const error = new Error(detail || `${response.status} ${path}`);
      error.status = response.status;
      if (response.status === 401 && config && config.auth && cetate.user) signedOut();
      throw error;
    }
    return response.status === 204 ? null : response.json();
  }

  function postJson(path, body) {
    return api(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
  }
  cetate.postJson = postJson;

  function announce(text) {
    document.getElementById("status").textContent = text;
  }

  async function loadMessages(lang) {
    const response = await fetch(`/static/ui/i18n/${lang}.json`);
    messages = await response.json();
  }

  function translateDocument() {
    document.documentElement.lang = cetate.lang;
    for (const el of document.querySelectorAll("[data-i18n]")) {
      el.textContent = t(el.dataset.i18n);
    }
    for (const el of document.querySelectorAll("[data-i18n-attr]")) {
      for (const pair of el.dataset.i18nAttr.split(";")) {
        const [attribute, key] = pair.split(":");
        el.setAttribute(attribute, t(key));
      }
    }
    document.title = `Cetate — ${t("title")}`;
    buildNav();
    for (const page of pages.values()) {
      if (page.relabel) page.relabel();
    }
  }

  function buildNav() {
    const nav = document.getElementById("nav");
    nav.replaceChildren();
    if (!cetate.mayRead) return; // nothing to open before signing in
    for (const module of config.modules) {
      if (!module.script) continue;
      const link = document.createElement("a");
      link.href = `#/${module.id}`;
      link.textContent = title(module.title);
      link.dataset.module = module.id;
      if (module.id === current) link.setAttribute("aria-current", "page");
      if (module.badge) {
        const badge = document.createElement("span");
        badge.className = "badge";
        badge.dataset.badge = module.id;
        badge.hidden = true;
        link.append(" ", badge);
      }
      nav.append(link);
    }
    refreshBadges();
  }

  // -- badges: a count beside a module's name (open alerts), read every half minute ----------

  const badgeValues = new Map(); // module id -> {count, severity}

  async function refreshBadges() {
    for (const module of config.modules) {
      if (!module.badge || !cetate.mayRead) continue;
      if (!badgeValues.has(module.id)) {
        badgeValues.set(module.id, null);
        readBadge(module);
      }
      drawBadge(module.id);
    }
  }

  async function readBadge(module) {
    try {
      badgeValues.set(module.id, await api(module.badge));
    } catch (error) {
      badgeValues.set(module.id, null);
    }
    drawBadge(module.id);
  }
  cetate.refreshBadge = (id) => {
    const module = config.modules.find((m) => m.id === id);
    if (module && module.badge) readBadge(module);
  };

  function drawBadge(id) {
    const el = document.querySelector(`[data-badge="${id}"]`);
    const value = badgeValues.get(id);
    if (!el) return;
    el.hidden = !value || !value.count;
    if (!value) return;
    el.textContent = value.count.toLocaleString(cetate.lang);
    el.dataset.severity = value.severity || "";
    el.setAttribute("aria-label", t("badgeOpen", { count: value.count }));
  }

  function startBadges() {
    setInterval(() => {
      for (const module of config.modules) if (module.badge) readBadge(module);
    }, BADGE_MS);
  }

  function loadScript(module) {
    if (pages.has(module.id)) return Promise.resolve();
    if (!loading.has(module.id)) {
      loading.set(
        module.id,
        new Promise((resolve, reject) => {
          const script = document.createElement("script");
          script.src = module.script;
          script.onload = resolve;
          script.onerror = () => reject(new Error(`cannot load ${module.script}`));
          document.head.append(script);
        }),
      );
    }
    return loading.get(module.id);
  }

  async function show(id) {
    const module = config.modules.find((m) => m.id === id && m.script) || config.modules[0];
    await loadScript(module);
    const page = pages.get(module.id);
    if (!page) throw new Error(`${module.script} registered no page "${module.id}"`);
    if (current && current !== module.id) {
      mounted.get(current).hidden = true;
      const previous = pages.get(current);
      if (previous.hide) previous.hide();
    }
    current = module.id;
    let section = mounted.get(module.id);
    if (!section) {
      section = document.createElement("section");
      section.className = `page page-${module.id}`;
      section.setAttribute("aria-label", title(module.title));
      document.getElementById("main").append(section);
      mounted.set(module.id, section);
      section.hidden = false;
      await page.mount(section, module);
    } else {
      section.hidden = false;
      if (page.show) page.show();
    }
    for (const link of document.querySelectorAll("#nav a")) {
      if (link.dataset.module === module.id) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
  }

  // -- accounts: where the server has them (config.auth), who is signed in and what they may
  // do on the tenant shown. Without them the dashboard is open, as the API is.

  // The signed-in account, or null (401: nobody, or a session that has ended).
  async function whoAmI() {
    try {
      return await api("/auth/me");
    } catch (error) {
      if (error.status === 401) return null;
      throw error;
    }
  }

  function showUser(user) {
    cetate.user = user;
    const el = document.getElementById("user");
    el.textContent = `${user.name} · ${user.role ? t(`role.${user.role}`) : t("noRole")}`;
    el.hidden = false;
    document.getElementById("logout").hidden = false;
    document.body.classList.toggle("read-only", !cetate.canWrite());
    document.body.dataset.role = user.role || "";
  }

  // The sign-in form, in place of the pages; resolves with the account once signed in.
  function signIn() {
    const main = document.getElementById("main");
    const form = document.createElement("form");
    form.className = "login";
    form.id = "login";
    form.innerHTML = `
      <h2 data-i18n="signInTitle"></h2>
      <label><span data-i18n="username"></span>
        <input name="username" autocomplete="username" required></label>
      <label><span data-i18n="password"></span>
        <input name="password" type="password" autocomplete="current-password" required></label>
      <p class="error" role="alert"></p>
      <button type="submit" data-i18n="signIn"></button>`;
    for (const el of form.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
    for (const section of main.children) section.hidden = true;
    main.append(form);
    form.querySelector("input").focus();
    return new Promise((resolve) => {
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const error = form.querySelector(".error");
        error.textContent = "";
        const fields = Object.fromEntries(new FormData(form));
        const response = await fetch("/auth/login", {
          method: "POST",
          headers: { "Content-Type": "application/json", "X-Requested-With": "cetate" },
          body: JSON.stringify(fields),
        });
        if (response.ok) {
          form.remove();
          resolve(await whoAmI());
        } else if (response.status === 429) {
          error.textContent = t("tooManyAttempts", {
            seconds: response.headers.get("Retry-After") || "?" });
        } else {
          error.textContent = t("wrongLogin");
          form.querySelector("[name=password]").select();
        }
      });
    });
  }

  // A session that ended while the page was open: sign in again, then carry on.
  function signedOut() {
    cetate.user = null;
    location.reload();
  }

  async function signOut() {
    await fetch("/auth/logout", { method: "POST", headers: { "X-Requested-With": "cetate" } });
    localStorage.removeItem("cetate.tenant");
    location.reload();
  }

  // The tenants this person may open: those the account has a role on (every tenant the hub
  // holds for a role on "*"), or every tenant when accounts are off.
  async function tenantChoices() {
    let names = [];
    const roles = cetate.user ? cetate.user.roles : null;
    if (!roles || "*" in roles) {
      try {
        names = await api("/ui/tenants");
      } catch (error) {
        names = [];
      }
    }
    if (roles) names = names.concat(Object.keys(roles).filter((name) => name !== "*"));
    return [...new Set(names)].sort();
  }

  async function setUpTenants() {
    const choices = await tenantChoices();
    if (!choices.includes(cetate.tenant)) {
      cetate.tenant = choices.includes("") || choices.length === 0 ? "" : choices[0];
    }
    const select = document.getElementById("tenant");
    select.replaceChildren();
    for (const name of choices) {
      const option = document.createElement("option");
      option.value = name;
      option.textContent = name || t("defaultTenant");
      select.append(option);
    }
    select.value = cetate.tenant;
    select.closest("label").hidden = choices.length < 2;
    // Every page reads the tenant's data: switching starts the page again on the new one.
    select.addEventListener("change", () => {
      localStorage.setItem("cetate.tenant", select.value);
      location.reload();
    });
  }

  // -- search: entities by id, name or address, and the city's addresses -----------------------

  function setUpSearch() {
    const form = document.getElementById("search");
    const input = document.getElementById("search-input");
    const list = document.getElementById("search-results");
    let timer = null;
    let asked = 0;
    form.hidden = false;

    // Closing empties the list, so that nothing chosen later can come from an older search.
    function close() {
      list.hidden = true;
      list.replaceChildren();
      input.setAttribute("aria-expanded", "false");
    }

    // Searches what is typed; true when the list now shows results of exactly that.
    async function run() {
      const text = input.value.trim();
      const ticket = ++asked;
      if (text.replace(/\s/g, "").length < 2) {
        close();
        return false;
      }
      let found;
      try {
        found = await api(`/ui/search?q=${encodeURIComponent(text)}`);
      } catch (error) {
        found = { results: [] };
      }
      if (ticket !== asked) return false; // a newer search is on its way
      list.replaceChildren();
      if (found.results.length === 0) {
        const none = document.createElement("li");
        none.className = "none";
        none.textContent = t("noResults");
        list.append(none);
      }
      for (const hit of found.results) {
        const item = document.createElement("li");
        item.setAttribute("role", "option");
        item.tabIndex = -1;
        item.dataset.kind = hit.kind;
        item.dataset.id = hit.id;
        const label = document.createElement("span");
        label.className = "label";
        label.textContent = hit.label;
        const detail = document.createElement("span");
        detail.className = "detail";
        const kind = hit.kind === "address" ? [t("address")] : [];
        detail.textContent = kind.concat(hit.detail ? [hit.detail] : []).join(" · ");
        item.append(label, detail);
        item.addEventListener("click", () => choose(hit));
        item.addEventListener("keydown", (event) => {
          if (event.key === "Enter") choose(hit);
          else if (event.key === "ArrowDown") item.nextElementSibling?.focus();
          else if (event.key === "ArrowUp") (item.previousElementSibling || input).focus();
          else if (event.key === "Escape") { close(); input.focus(); }
          else return;
          event.preventDefault();
        });
        list.append(item);
      }
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
      announce(t("resultsCount", { count: found.results.length }));
      return found.results.length > 0;
    }

    async function choose(hit) {
      close();
      location.hash = "#/map";
      await show("map");
      if (hit.kind === "entity" && hit.layer) await cetate.map.focus(hit.id, hit);
      else if (hit.kind === "entity") await cetate.map.inspect(hit.id);
      else cetate.map.mark(hit.lon, hit.lat, `${hit.label}, ${hit.detail}`);
    }

    input.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(run, SEARCH_DELAY_MS);
    });
    input.addEventListener("keydown", (event) => {
      if (event.key === "ArrowDown" && !list.hidden) {
        list.querySelector("[role=option]")?.focus();
        event.preventDefault();
      } else if (event.key === "Escape") {
        close();
      }
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearTimeout(timer);
      if (await run()) list.querySelector("[role=option]")?.click();
    });
    document.addEventListener("click", (event) => {
      if (!form.contains(event.target)) close();
    });
  }

  async function start() {
    const select = document.getElementById("lang");
    select.value = cetate.lang;
    select.addEventListener("change", async () => {
      cetate.lang = select.value;
      localStorage.setItem("cetate.lang", cetate.lang);
      await loadMessages(cetate.lang);
      translateDocument();
    });
    const [loaded] = await Promise.all([api("/ui/config"), loadMessages(cetate.lang)]);
    config = loaded;
    cetate.config = config;
    cetate.mayRead = false; // until signed in with a role on the tenant
    translateDocument();
    if (config.auth) {
      document.getElementById("logout").addEventListener("click", signOut);
      const user = (await whoAmI()) || (await signIn());
      showUser(user);
    }
    await setUpTenants();
    if (config.auth) showUser(await whoAmI()); // its role on the tenant chosen
    document.body.dataset.tenant = cetate.tenant;
    if (config.auth && !cetate.user.role) {
      cetate.mayRead = false;
      announce(t("noRoleHere"));
      return;
    }
    cetate.mayRead = true;
    setUpSearch();
    buildNav();
    startBadges();
    window.addEventListener("hashchange", () => show(location.hash.slice(2)));
    await show(location.hash.slice(2));
  }

  cetate.ready = new Promise((resolve, reject) => {
    document.addEventListener("DOMContentLoaded", () => start().then(resolve, reject));
  });
  cetate.ready.catch((error) => announce(String(error)));
})();
