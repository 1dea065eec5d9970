// The city map: the basemap Cetate draws from the city's OSM data, one clustered layer per
// entity type group coloured by state, live updates over SSE, the inspector with history, and
// the time slider that redraws the layers as they were at a past time (from the hub's history).
//
// Live updates arrive in batches (one SSE event per ~50 ms on the server) and are applied once
// per animation frame, newest per entity, at most FRAME_BUDGET of them a frame, so a burst never
// blocks the page; cluster icons (which count states) are redrawn at most once a second.
"use strict";

(function () {
  const FRAME_BUDGET = 3000; // updates applied per animation frame at most
  const CLUSTER_REFRESH_MS = 1000;
  const HISTORY_HOURS = 24;
  const PAST_MINUTES = 48 * 60; // how far back the time slider goes
  const PAST_STEP_MINUTES = 5;
  const TRAVEL_DELAY_MS = 300; // a slider dragged or stepped with the keys: read when it rests
  const TILE_UNITS = 1024 / 256; // basemap tile units per CSS pixel (see basemap.py)
  const BASEMAP = {
    background: "#ebe8e1",
    water: { fill: "#a9cbe0" },
    green: { fill: "#cfe3bd" },
    buildings: { fill: "#d5cec6", stroke: "#bfb5aa" },
    coast: { stroke: "#7fa9c6", width: 1.5 },
    rivers: { stroke: "#a9cbe0", width: 2 },
    // road class -> [casing colour, casing width, fill colour, fill width] at zoom 15;
    // widths scale with the zoom (see roadWidth)
    "road-path": [null, 0, "#9b9488", 1, [3, 3]],
    "road-service": ["#c9c2b8", 2.5, "#ffffff", 1.5],
    "road-minor": ["#c2bbb0", 4, "#ffffff", 3],
    "road-tertiary": ["#b8b0a4", 5.5, "#ffffff", 4.5],
    "road-main": ["#a8998a", 7, "#fbe7b8", 5.5],
    "road-major": ["#a08270", 8.5, "#f6c99a", 7],
  };

  const cetate = window.cetate;
  const layers = new Map(); // layer id -> {spec, group, markers: Map(id -> marker), on}
  const pending = new Map(); // entity id -> newest point not yet drawn
  const dirty = new Set(); // markers whose cluster icons need a redraw
  let map = null;
  let panel = null;
  let inspector = null;
  let inspected = null;
  let frameQueued = false;
  let clusterTimer = null;
  let stream = null;
  let viewAt = null; // null: live; else the ISO time the map shows
  let travelTimer = null;
  let mark = null; // the marker of an address found by search

  // -- basemap ---------------------------------------------------------------------------------

  const Basemap = L.GridLayer.extend({
    createTile(coords, done) {
      const canvas = document.createElement("canvas");
      const ratio = window.devicePixelRatio || 1;
      const size = this.getTileSize();
      canvas.width = size.x * ratio;
      canvas.height = size.y * ratio;
      fetch(`/ui/basemap/${coords.z}/${coords.x}/${coords.y}.json`)
        .then((response) => (response.ok ? response.json() : { layers: {} }))
        .then((tile) => {
          drawTile(canvas.getContext("2d"), tile.layers, coords.z, ratio / TILE_UNITS);
          done(null, canvas);
        })
        .catch((error) => done(error, canvas));
      return canvas;
    },
  });

  function roadWidth(width, zoom) {
    return Math.max(0.5, width * Math.pow(2, (zoom - 15) * 0.5));
  }

  function drawTile(ctx, tile, zoom, scale) {
    ctx.setTransform(scale, 0, 0, scale, 0, 0);
    ctx.lineJoin = "round";
    ctx.lineCap = "round";
    for (const name of ["water", "green", "buildings"]) {
      if (!tile[name]) continue;
      ctx.beginPath();
      for (const ring of tile[name]) trace(ctx, ring, true);
      ctx.fillStyle = BASEMAP[name].fill;
      ctx.fill("nonzero");
      if (BASEMAP[name].stroke) {
        ctx.strokeStyle = BASEMAP[name].stroke;
        ctx.lineWidth = TILE_UNITS * 0.75;
        ctx.stroke();
      }
    }
    for (const name of ["coast", "rivers"]) {
      if (!tile[name]) continue;
      strokeLines(ctx, tile[name], BASEMAP[name].stroke, BASEMAP[name].width * TILE_UNITS);
    }
    const roads = ["road-path", "road-service", "road-minor", "road-tertiary", "road-main",
      "road-major"].filter((name) => tile[name]);
    for (const name of roads) { // casings first, so junctions are clean
      const [casing, casingWidth] = BASEMAP[name];
      if (casing) strokeLines(ctx, tile[name], casing, roadWidth(casingWidth, zoom) * TILE_UNITS);
    }
    for (const name of roads) {
      const [, , fill, fillWidth, dash] = BASEMAP[name];
      ctx.setLineDash(dash ? dash.map((d) => d * TILE_UNITS) : []);
      strokeLines(ctx, tile[name], fill, roadWidth(fillWidth, zoom) * TILE_UNITS);
    }
    ctx.setLineDash([]);
  }

  function trace(ctx, flat, close) {
    ctx.moveTo(flat[0], flat[1]);
    for (let i = 2; i < flat.length; i += 2) ctx.lineTo(flat[i], flat[i + 1]);
    if (close) ctx.closePath();
  }

  function strokeLines(ctx, lines, colour, width) {
    ctx.beginPath();
    for (const line of lines) trace(ctx, line, false);
    ctx.strokeStyle = colour;
    ctx.lineWidth = width;
    ctx.stroke();
  }

  // -- entities ----------------------------------------------------------------------------------

  // A marker that carries its entity's id and state on its element, so that tests, assistive
  // technology and style sheets can read them.
  const Pin = L.Marker.extend({
    _initIcon() {
      L.Marker.prototype._initIcon.call(this);
      const el = this._icon;
      el.dataset.id = this.options.entityId;
      el.dataset.layer = this.options.layerId;
      el.dataset.state = this.options.state;
      el.setAttribute("role", "button");
      el.setAttribute("aria-label", markerLabel(this));
    },
  });

  const icons = new Map(); // "layer/state" -> L.DivIcon
  function iconFor(layerId, state) {
    const key = `${layerId}/${state}`;
    if (!icons.has(key)) {
      icons.set(key, L.divIcon({
        className: `cx-pin cx-l-${layerId} cx-s-${state || "none"}`,
        iconSize: [16, 16],
      }));
    }
    return icons.get(key);
  }

  function stateLabel(spec, state) {
    const found = spec.states.find((s) => s.state === state);
    return found ? cetate.title(found.label) : state || cetate.t("noState");
  }

  function markerLabel(marker) {
    const spec = layers.get(marker.options.layerId).spec;
    return `${cetate.title(spec.title)}: ${shortId(marker.options.entityId)}, ` +
      stateLabel(spec, marker.options.state);
  }

  function shortId(id) {
    return id.startsWith("urn:ngsi-ld:") ? id.slice("urn:ngsi-ld:".length) : id;
  }

  function makeMarker(layerId, id, lon, lat, state) {
    const marker = new Pin([lat, lon], {
      icon: iconFor(layerId, state),
      entityId: id,
      layerId,
      state,
      keyboard: true,
      title: shortId(id),
    });
    marker.on("click", () => openInspector(id));
    return marker;
  }

  // Cluster icons: the count, on a ring that shows the share of each state.
  function clusterIcon(spec) {
    const colours = new Map(spec.states.map((s) => [s.state, s.colour]));
    return (cluster) => {
      const children = cluster.getAllChildMarkers();
      const counts = new Map();
      for (const child of children) {
        counts.set(child.options.state, (counts.get(child.options.state) || 0) + 1);
      }
      let at = 0;
      const stops = [];
      for (const [state, count] of counts) {
        const colour = colours.get(state) || "#8c8c8c";
        const end = at + (count / children.length) * 360;
        stops.push(`${colour} ${at}deg ${end}deg`);
        at = end;
      }
      const size = children.length < 100 ? 34 : children.length < 1000 ? 42 : 50;
      return L.divIcon({
        html: `<div style="background: conic-gradient(${stops.join(",")})"><span>${
          children.length}</span></div>`,
        className: `cx-cluster cx-l-${spec.id}`,
        iconSize: [size, size],
      });
    };
  }

  function addLayer(spec) {
    const group = L.markerClusterGroup({
      chunkedLoading: true,
      chunkInterval: 40, // ms of work before the browser gets the thread back
      chunkDelay: 10,
      showCoverageOnHover: false,
      spiderfyOnMaxZoom: true,
      disableClusteringAtZoom: 18,
      maxClusterRadius: 60,
      iconCreateFunction: clusterIcon(spec),
    });
    const entry = {
      spec, group, markers: new Map(), on: spec.visible, loaded: null, fetched: null,
    };
    layers.set(spec.id, entry);
    return entry;
  }

  function fetchPoints(entry) {
    if (entry.fetched === null) {
      const at = viewAt === null ? "" : `?at=${encodeURIComponent(viewAt)}`;
      entry.fetched = cetate.api(`/ui/layers/${encodeURIComponent(entry.spec.id)}/points${at}`);
    }
    return entry.fetched;
  }

  async function loadLayer(entry) {
    const body = await fetchPoints(entry);
    const markers = [];
    for (const [layerId, id, lon, lat, state] of body.points) {
      const marker = makeMarker(layerId, id, lon, lat, state);
      entry.markers.set(id, marker);
      markers.push(marker);
    }
    if (entry.on) map.addLayer(entry.group);
    await new Promise((resolve) => {
      if (markers.length === 0) return resolve();
      entry.group.options.chunkProgress = (done, total) => {
        if (done >= total) resolve();
      };
      entry.group.addLayers(markers);
    });
    entry.group.options.chunkProgress = null;
    updateCount(entry);
  }

  function updateCount(entry) {
    const el = panel.querySelector(`[data-count="${entry.spec.id}"]`);
    if (el) el.textContent = layerCount(entry).toLocaleString(cetate.lang);
  }

  // What the hub counted until the layer is loaded, then what the map holds.
  function layerCount(entry) {
    return entry.loaded === null ? entry.spec.count || 0 : entry.markers.size;
  }

  // -- live updates ----------------------------------------------------------------------------

  function connect() {
    const query = cetate.tenant ? `?tenant=${encodeURIComponent(cetate.tenant)}` : "";
    stream = new EventSource(`/ui/events${query}`);
    stream.onmessage = (event) => {
      if (viewAt !== null) return; // the past is shown: the layers are read again on return
      for (const point of JSON.parse(event.data)) pending.set(point[1], point);
      if (!frameQueued) {
        frameQueued = true;
        requestAnimationFrame(applyPending);
      }
    };
    stream.onopen = () => document.body.classList.remove("offline");
    stream.onerror = () => document.body.classList.add("offline");
  }

  function applyPending() {
    frameQueued = false;
    let budget = FRAME_BUDGET;
    const touched = new Set();
    for (const [id, point] of pending) {
      if (budget-- === 0) break;
      pending.delete(id);
      applyPoint(point, touched);
    }
    for (const entry of touched) updateCount(entry);
    if (pending.size > 0) {
      frameQueued = true;
      requestAnimationFrame(applyPending);
    }
    if (dirty.size > 0 && clusterTimer === null) {
      clusterTimer = setTimeout(refreshClusters, CLUSTER_REFRESH_MS);
    }
  }

  function applyPoint([layerId, id, lon, lat, state], touched) {
    let entry = layers.get(layerId);
    if (!entry) return; // a type that appeared since the page loaded: shown after a reload
    const marker = entry.markers.get(id);
    if (lon === null) {
      if (marker) {
        entry.group.removeLayer(marker);
        entry.markers.delete(id);
        touched.add(entry);
      }
    } else if (!marker) {
      const made = makeMarker(layerId, id, lon, lat, state);
      entry.markers.set(id, made);
      entry.group.addLayer(made);
      touched.add(entry);
    } else {
      const at = marker.getLatLng();
      if (at.lat !== lat || at.lng !== lon) { // the cluster index must learn the move
        entry.group.removeLayer(marker);
        marker.setLatLng([lat, lon]);
        entry.group.addLayer(marker);
      }
      if (marker.options.state !== state) setState(marker, state);
    }
    if (id === inspected) refreshInspector();
  }

  function setState(marker, state) {
    const old = marker.options.state;
    marker.options.state = state;
    marker.options.icon = iconFor(marker.options.layerId, state);
    const el = marker._icon;
    if (el) { // drawn now: change its class in place rather than rebuild it
      el.classList.remove(`cx-s-${old || "none"}`);
      el.classList.add(`cx-s-${state || "none"}`);
      el.dataset.state = state;
      el.setAttribute("aria-label", markerLabel(marker));
    }
    dirty.add(marker);
  }

  function refreshClusters() {
    clusterTimer = null;
    const byGroup = new Map();
    for (const marker of dirty) {
      const entry = layers.get(marker.options.layerId);
      if (!byGroup.has(entry)) byGroup.set(entry, []);
      byGroup.get(entry).push(marker);
    }
    dirty.clear();
    for (const [entry, markers] of byGroup) {
      if (entry.on) entry.group.refreshClusters(markers);
    }
  }

  // -- the layer panel -------------------------------------------------------------------------

  function buildPanel() {
    panel.replaceChildren();
    const heading = document.createElement("h2");
    heading.id = "layers-heading";
    heading.textContent = cetate.t("layers");
    panel.append(heading);
    for (const entry of layers.values()) {
      const spec = entry.spec;
      const box = document.createElement("fieldset");
      box.className = "layer";
      const legend = document.createElement("legend");
      const label = document.createElement("label");
      const input = document.createElement("input");
      input.type = "checkbox";
      input.checked = entry.on;
      input.dataset.layer = spec.id;
      input.addEventListener("change", () => switchLayer(entry, input.checked));
      const name = document.createElement("span");
      name.textContent = cetate.title(spec.title);
      const count = document.createElement("span");
      count.className = "count";
      count.dataset.count = spec.id;
      count.textContent = layerCount(entry).toLocaleString(cetate.lang);
      label.append(input, name, count);
      legend.append(label);
      box.append(legend);
      if (spec.states.length > 0) {
        const list = document.createElement("ul");
        list.className = "legend";
        for (const state of spec.states) {
          const item = document.createElement("li");
          const swatch = document.createElement("span");
          swatch.className = `swatch cx-l-${spec.id} cx-s-${state.state}`;
          item.append(swatch, document.createTextNode(cetate.title(state.label)));
          list.append(item);
        }
        box.append(list);
      }
      panel.append(box);
    }
  }

  function switchLayer(entry, on) {
    entry.on = on;
    if (on) {
      map.addLayer(entry.group);
      if (entry.loaded === null) entry.loaded = loadLayer(entry);
    } else {
      map.removeLayer(entry.group);
    }
  }

  // State colours come from the registry, so they live in one generated style sheet.
  function stateStyles(specs) {
    const rules = [];
    for (const spec of specs) {
      for (const state of spec.states) {
        rules.push(`.cx-l-${spec.id}.cx-s-${state.state} { background: ${state.colour}; }`);
      }
    }
    const style = document.createElement("style");
    style.textContent = rules.join("\n");
    document.head.append(style);
  }

  // -- the time slider: the city as it was ------------------------------------------------------

  function buildTimebar(bar) {
    bar.innerHTML = `
      <label for="timebar-range" data-i18n="timeSlider"></label>
      <input id="timebar-range" type="range" min="${-PAST_MINUTES}" max="0"
        step="${PAST_STEP_MINUTES}" value="0">
      <output for="timebar-range" aria-live="polite"></output>
      <button type="button" class="live" disabled></button>`;
    const range = bar.querySelector("input");
    range.addEventListener("input", () => {
      showTime(bar);
      clearTimeout(travelTimer);
      travelTimer = setTimeout(() => travelTo(range.value), TRAVEL_DELAY_MS);
    });
    bar.querySelector(".live").addEventListener("click", () => {
      range.value = "0";
      showTime(bar);
      travelTo("0");
    });
    labelTimebar(bar);
  }

  function labelTimebar(bar) {
    bar.querySelector("label").textContent = cetate.t("timeSlider");
    bar.querySelector(".live").textContent = cetate.t("backToLive");
    showTime(bar);
  }

  function sliderTime(minutes) {
    return new Date(Date.now() + Number(minutes) * 60e3);
  }

  function showTime(bar) {
    const minutes = Number(bar.querySelector("input").value);
    const output = bar.querySelector("output");
    const text = minutes === 0 ? cetate.t("live") : sliderTime(minutes).toLocaleString(
      cetate.lang, { weekday: "short", hour: "2-digit", minute: "2-digit" });
    output.textContent = text;
    bar.querySelector("input").setAttribute("aria-valuetext", text);
  }

  // Redraw every loaded layer as it was ``minutes`` ago (0: live again).
  async function travelTo(minutes) {
    const live = Number(minutes) === 0;
    const at = live ? null : sliderTime(minutes).toISOString();
    if (at === viewAt) return;
    viewAt = at;
    pending.clear();
    document.body.classList.toggle("past", !live);
    section.querySelector(".timebar .live").disabled = live;
    const loaded = [...layers.values()].filter((entry) => entry.loaded !== null);
    for (const entry of layers.values()) entry.fetched = null;
    for (const entry of loaded) {
      entry.loaded = entry.loaded.then(() => reloadLayer(entry));
    }
    await Promise.all(loaded.map((entry) => entry.loaded));
    if (at === viewAt) {
      if (inspected) renderInspector(inspected); // as it was then, or as it is again
      document.body.dataset.viewAt = at || "live";
      cetate.announce(live ? cetate.t("live") : cetate.t("showingPast", {
        time: new Date(at).toLocaleString(cetate.lang) }));
    }
  }

  async function reloadLayer(entry) {
    entry.group.clearLayers();
    entry.markers.clear();
    await loadLayer(entry);
  }

  // -- inspector -------------------------------------------------------------------------------

  let inspectorTimer = null;

  async function openInspector(id) {
    inspected = id;
    inspector.hidden = false;
    inspector.querySelector("h2").textContent = shortId(id);
    await renderInspector(id);
    inspector.querySelector(".close").focus();
  }

  function closeInspector() {
    const was = inspected;
    inspected = null;
    inspector.hidden = true;
    for (const entry of layers.values()) {
      const marker = entry.markers.get(was);
      if (marker && marker._icon) marker._icon.focus();
    }
  }

  function refreshInspector() { // live: at most once a second
    if (inspectorTimer !== null) return;
    inspectorTimer = setTimeout(() => {
      inspectorTimer = null;
      if (inspected) renderInspector(inspected);
    }, 1000);
  }

  async function renderInspector(id) {
    const body = inspector.querySelector(".body");
    const path = encodeURIComponent(id);
    // Live: the entity now and its last 24 hours. At a past time (the time slider): the entity
    // as it was then, rebuilt from its history, and the 24 hours before.
    const end = viewAt === null ? null : new Date(Date.parse(viewAt) + 1).toISOString();
    const since = new Date((end ? Date.parse(end) : Date.now()) - HISTORY_HOURS * 3600e3)
      .toISOString();
    const period = end === null ? `timerel=after&timeAt=${encodeURIComponent(since)}`
      : `timerel=between&timeAt=${encodeURIComponent(since)}&endTimeAt=${encodeURIComponent(end)}`;
    let entity;
    let history = null;
    try {
      [entity, history] = await Promise.all([
        end === null ? cetate.api(`/ngsi-ld/v1/entities/${path}`) : entityAt(path, end),
        cetate.api(`/ngsi-ld/v1/temporal/entities/${path}?options=temporalValues&${period}`)
          .catch(() => null),
      ]);
    } catch (error) {
      body.textContent = cetate.t(end === null ? "entityGone" : "notYetThen");
      return;
    }
    if (id !== inspected) return;
    const parts = [];
    const type = document.createElement("p");
    type.className = "type";
    type.textContent = `${cetate.t("type")}: ${entity.type}`;
    parts.push(type);
    const table = document.createElement("table");
    table.className = "attrs";
    const caption = document.createElement("caption");
    caption.textContent = end === null ? cetate.t("attributes") : cetate.t("attributesAt", {
      time: new Date(Date.parse(viewAt)).toLocaleString(cetate.lang) });
    table.append(caption);
    for (const [name, attribute] of Object.entries(entity)) {
      if (["id", "type", "@context", "location"].includes(name)) continue;
      const row = table.insertRow();
      const key = document.createElement("th");
      key.scope = "row";
      key.textContent = name;
      row.append(key);
      const cell = row.insertCell();
      cell.textContent = describeValue(attribute);
      if (attribute && attribute.observedAt) {
        const when = document.createElement("time");
        when.dateTime = attribute.observedAt;
        when.textContent = new Date(attribute.observedAt).toLocaleTimeString(cetate.lang);
        cell.append(" ", when);
      }
    }
    parts.push(table);
    const charts = document.createElement("div");
    charts.className = "history";
    const heading = document.createElement("h3");
    heading.textContent = cetate.t("history", { hours: HISTORY_HOURS });
    charts.append(heading);
    let drawn = 0;
    for (const [name, attribute] of Object.entries(history || {})) {
      if (!attribute || !Array.isArray(attribute.values) || name === "location") continue;
      const numeric = attribute.values.filter(([v]) => typeof v === "number");
      if (numeric.length >= 2) {
        charts.append(chart(name, numeric));
        drawn += 1;
      } else if (numeric.length === 0 && attribute.values.length > 0) {
        charts.append(changes(name, attribute.values));
        drawn += 1;
      }
    }
    if (drawn === 0) {
      const none = document.createElement("p");
      none.textContent = cetate.t("noHistory");
      charts.append(none);
    }
    parts.push(charts);
    body.replaceChildren(...parts);
  }

  // The entity as it was at ``end``: the last instance of each attribute before it. Throws
  // (like a 404) when nothing was recorded of it by then.
  async function entityAt(path, end) {
    const temporal = await cetate.api(`/ngsi-ld/v1/temporal/entities/${path}?lastN=1` +
      `&timerel=before&timeAt=${encodeURIComponent(end)}`);
    const entity = { id: temporal.id, type: temporal.type };
    for (const [name, value] of Object.entries(temporal)) {
      if (["id", "type", "@context"].includes(name)) continue;
      const instances = Array.isArray(value) ? value : [value];
      if (instances.length > 0) entity[name] = instances[instances.length - 1];
    }
    if (Object.keys(entity).length === 2) throw new Error("not yet recorded");
    return entity;
  }

  function describeValue(attribute) {
    if (attribute === null || typeof attribute !== "object") return String(attribute);
    const value = "value" in attribute ? attribute.value : attribute.object ?? attribute;
    const text = typeof value === "object" ? describeObject(value) : String(value);
    return attribute.unitCode ? `${text} ${attribute.unitCode}` : text;
  }

  // An address or another flat object as a person reads it ("Mikonkatu 5, 00100, Helsinki");
  // anything deeper as JSON.
  function describeObject(value) {
    const parts = value === null || Array.isArray(value) ? null : Object.values(value);
    if (parts && parts.length > 0 && parts.every((p) => ["string", "number"].includes(typeof p))) {
      return parts.join(", ");
    }
    return JSON.stringify(value);
  }

  // A line chart of one attribute's history, in SVG: min and max on the value axis, first and
  // last time on the time axis, a title for screen readers.
  function chart(name, values) {
    const ns = "http://www.w3.org/2000/svg";
    const width = 300;
    const height = 90;
    const pad = { left: 44, right: 6, top: 8, bottom: 18 };
    const points = values.map(([v, at]) => [Date.parse(at), v]).sort((a, b) => a[0] - b[0]);
    const t0 = points[0][0];
    const t1 = points[points.length - 1][0];
    let low = Math.min(...points.map((p) => p[1]));
    let high = Math.max(...points.map((p) => p[1]));
    if (low === high) { low -= 1; high += 1; }
    const x = (t) => pad.left + ((t - t0) / Math.max(1, t1 - t0)) * (width - pad.left - pad.right);
    const y = (v) => pad.top + (1 - (v - low) / (high - low)) * (height - pad.top - pad.bottom);
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.setAttribute("class", "chart");
    svg.setAttribute("role", "img");
    svg.dataset.attribute = name;
    svg.dataset.points = String(points.length);
    const label = document.createElementNS(ns, "title");
    label.textContent = cetate.t("chartLabel", { name, count: points.length, low, high });
    svg.append(label);
    const axis = document.createElementNS(ns, "path");
    axis.setAttribute("class", "axis");
    axis.setAttribute("d", `M${pad.left},${pad.top}V${height - pad.bottom}H${width - pad.right}`);
    svg.append(axis);
    const line = document.createElementNS(ns, "path");
    line.setAttribute("class", "line");
    line.setAttribute("d", points.map(([t, v], i) => `${i ? "L" : "M"}${x(t).toFixed(1)},${
      y(v).toFixed(1)}`).join(""));
    svg.append(line);
    const texts = [
      [pad.left - 4, pad.top + 8, "end", format(high)],
      [pad.left - 4, height - pad.bottom, "end", format(low)],
      [pad.left, height - 4, "start", time(t0)],
      [width - pad.right, height - 4, "end", time(t1)],
      [pad.left + 4, pad.top + 8, "start", name],
    ];
    for (const [tx, ty, anchor, content] of texts) {
      const text = document.createElementNS(ns, "text");
      text.setAttribute("x", tx);
      text.setAttribute("y", ty);
      text.setAttribute("text-anchor", anchor);
      text.textContent = content;
      svg.append(text);
    }
    return svg;
  }

  // A state's history (on/off, a fault): when it took each value, newest first.
  function changes(name, values) {
    const list = document.createElement("dl");
    list.className = "changes";
    list.dataset.attribute = name;
    const title = document.createElement("dt");
    title.textContent = name;
    list.append(title);
    const sorted = [...values].sort((a, b) => Date.parse(b[1]) - Date.parse(a[1]));
    const kept = sorted.filter((v, i) => i === sorted.length - 1 ||
      JSON.stringify(v[0]) !== JSON.stringify(sorted[i + 1][0])); // where the value changed
    for (const [value, at] of kept.slice(0, 5)) {
      const item = document.createElement("dd");
      const when = document.createElement("time");
      when.dateTime = at;
      when.textContent = time(Date.parse(at));
      item.append(when, ` ${typeof value === "object" ? describeObject(value) : value}`);
      list.append(item);
    }
    return list;
  }

  function format(value) {
    return Number(value.toPrecision(4)).toLocaleString(cetate.lang);
  }

  function time(ms) {
    return new Date(ms).toLocaleTimeString(cetate.lang, { hour: "2-digit", minute: "2-digit" });
  }

  // -- the page --------------------------------------------------------------------------------

  let section = null;

  async function mount(element) {
    section = element;
    section.innerHTML = `
      <aside class="panel" aria-labelledby="layers-heading"></aside>
      <div class="map" tabindex="0"></div>
      <div class="timebar" role="group"></div>
      <aside class="inspector" hidden aria-live="polite">
        <div class="inspector-head"><h2></h2>
          <button type="button" class="close" data-i18n-attr="aria-label:close">×</button></div>
        <div class="body"></div>
      </aside>`;
    panel = section.querySelector(".panel");
    inspector = section.querySelector(".inspector");
    inspector.querySelector(".close").addEventListener("click", closeInspector);
    inspector.querySelector(".close").setAttribute("aria-label", cetate.t("close"));
    section.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && inspected) closeInspector();
    });
    // The entities are asked for first: the server answers them while the page builds the map.
    for (const spec of cetate.config.layers) addLayer(spec);
    connect(); // before the points are read, so nothing written meanwhile is missed
    const visible = [...layers.values()].filter((entry) => entry.on);
    for (const entry of visible) fetchPoints(entry);
    const city = cetate.config.city;
    map = L.map(section.querySelector(".map"), {
      preferCanvas: true,
      zoomControl: true,
      attributionControl: true,
      maxZoom: city ? city.maxZoom : 20,
    });
    map.attributionControl.setPrefix(false);
    map.getContainer().style.background = BASEMAP.background;
    let tilesLoaded = Promise.resolve();
    if (city) {
      const [west, south, east, north] = city.bounds;
      map.fitBounds([[south, west], [north, east]]);
      const basemap = new Basemap({ maxZoom: city.maxZoom, attribution: "© OpenStreetMap" });
      tilesLoaded = new Promise((resolve) => basemap.once("load", resolve));
      basemap.addTo(map);
    } else {
      map.setView([0, 0], 2); // no city loaded: fitted to the entities once they are in
    }
    stateStyles(cetate.config.layers);
    buildPanel();
    buildTimebar(section.querySelector(".timebar"));
    for (const entry of visible) entry.loaded = loadLayer(entry);
    await Promise.all([tilesLoaded, ...visible.map((entry) => entry.loaded)]);
    if (!city) {
      const bounds = L.latLngBounds([]);
      for (const entry of visible) bounds.extend(entry.group.getBounds());
      if (bounds.isValid()) map.fitBounds(bounds);
    }
    performance.mark("cetate:map-ready");
    document.body.dataset.mapReady = "true";
    discoverLayers();
  }

  // The hub's counts per layer, and a layer for each other located type: after the first
  // paint, since counting reads every entity.
  async function discoverLayers() {
    const found = await cetate.api("/ui/layers");
    const added = [];
    for (const spec of found) {
      const entry = layers.get(spec.id);
      if (entry) entry.spec.count = spec.count;
      else {
        addLayer(spec);
        added.push(spec);
      }
    }
    stateStyles(added);
    buildPanel();
  }

  function relabel() {
    if (!panel) return;
    buildPanel();
    labelTimebar(section.querySelector(".timebar"));
    inspector.querySelector(".close").setAttribute("aria-label", cetate.t("close"));
    if (inspected) renderInspector(inspected);
  }

  function textElement(text) {
    const span = document.createElement("span");
    span.textContent = text;
    return span;
  }

  // Hooks for tests and for other modules: where an entity is and what the map shows of it.
  cetate.map = {
    get leaflet() { return map; },
    state(id) {
      for (const entry of layers.values()) {
        const marker = entry.markers.get(id);
        if (marker) return marker.options.state;
      }
      return undefined;
    },
    count(layerId) { return layers.get(layerId)?.markers.size ?? 0; },
    // Zoom until the entity's own marker is drawn, then open it. ``hit`` (a search result)
    // names its layer, which is switched on and loaded when it is not yet.
    async focus(id, hit) {
      const named = hit && hit.layer ? layers.get(hit.layer) : null;
      if (named && !named.on) {
        switchLayer(named, true);
        buildPanel();
      }
      if (named) await named.loaded;
      for (const entry of layers.values()) {
        const marker = entry.markers.get(id);
        if (!marker) continue;
        if (!entry.on) {
          switchLayer(entry, true);
          buildPanel();
        }
        await entry.loaded;
        await new Promise((resolve) => entry.group.zoomToShowLayer(marker, resolve));
        await openInspector(id);
        return true;
      }
      if (hit && hit.lon !== null) map.setView([hit.lat, hit.lon], 18);
      await openInspector(id); // not on the map now (the past is shown): its document all the same
      return false;
    },
    inspect: (id) => openInspector(id), // an entity with no location
    mark(lon, lat, label) { // a place found by search
      if (mark) mark.remove();
      mark = L.circleMarker([lat, lon], {
        radius: 10, color: "#14283c", weight: 3, fillColor: "#ffbf1f", fillOpacity: 0.9,
      }).bindTooltip(textElement(label), { // as text: OSM tags are not markup
        permanent: true, direction: "top", offset: [0, -10], className: "search-mark",
      }).addTo(map);
      map.setView([lat, lon], 18);
    },
    get viewAt() { return viewAt; },
    // Show the city ``minutes`` ago (0: live), as the slider does; resolves once redrawn.
    travel(minutes) {
      const bar = section.querySelector(".timebar");
      bar.querySelector("input").value = String(-Math.abs(minutes));
      showTime(bar);
      return travelTo(String(-Math.abs(minutes)));
    },
  };

  cetate.pages.register("map", {
    mount,
    relabel,
    show() { if (map) map.invalidateSize(); },
  });
})();
