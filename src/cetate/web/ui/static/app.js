// The shell of the operations room: configuration, language, navigation between the pages
// that modules register (cetate.pages.register), and the signed-in user when there is one.
// Pages are plain scripts; a module's script is loaded the first time its page is opened.
"use strict";

(function () {
  const LANGS = ["en", "ro"];
  const pages = new Map(); // module id -> {mount(el), show?(), hide?(), relabel?()}
  const mounted = new Map(); // module id -> its <section>
  const loading = new Map(); // module id -> Promise of its script
  let messages = {};
  let config = null;
  let current = null;

  const cetate = {
    lang: pickLanguage(),
    tenant: "",
    config: null,
    user: null,
    pages: { register: (id, page) => pages.set(id, page) },
    t,
    title,
    api,
    announce,
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

  async function api(path, options) {
    const headers = Object.assign({ Accept: "application/json" }, (options || {}).headers);
    if (cetate.tenant) headers["NGSILD-Tenant"] = cetate.tenant;
    const response = await fetch(path, Object.assign({}, options, { headers }));
    if (!response.ok) {
      const error = new Error(`${response.status} ${path}`);
      error.status = response.status;
      throw error;
    }
    return response.status === 204 ? null : response.json();
  }

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
    for (const module of config.modules) {
      if (!module.script) continue;
      const link = document.createElement("a");
      link.href = `#/${module.id}`;
      link.textContent = title(module.title);
      link.dataset.module = module.id;
      if (module.id === current) link.setAttribute("aria-current", "page");
      nav.append(link);
    }
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

  // The accounts module, where the server has one (config.auth): who is signed in, and
  // whether they may write. Without it the dashboard is open, as the API is.
  async function loadUser() {
    try {
      const user = await api("/auth/me");
      cetate.user = user;
      const el = document.getElementById("user");
      el.textContent = `${user.name || user.username || user.id} · ${user.role || ""}`;
      el.hidden = false;
      document.body.classList.toggle("read-only", user.role === "viewer");
    } catch (error) {
      cetate.user = null;
    }
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
    translateDocument();
    if (config.auth) loadUser();
    window.addEventListener("hashchange", () => show(location.hash.slice(2)));
    await show(location.hash.slice(2));
  }

  cetate.ready = new Promise((resolve, reject) => {
    document.addEventListener("DOMContentLoaded", () => start().then(resolve, reject));
  });
  cetate.ready.catch((error) => announce(String(error)));
})();
