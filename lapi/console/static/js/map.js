// The route map, drawn in SVG from GeoJSON already on the page (no tiles: the machine is offline):
// the analysts' base layer, the coastline ([geo] coastline: by default the shipped approximate line),
// the departure zones, the cameras, the vehicle's trips and the sightings shown, bottom to top.
const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 800, HEIGHT = 520, PAD = 24;

function el(name, attrs = {}, parent) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

// Every [lon, lat] of a geometry, however nested.
function positions(coords, out = []) {
  if (typeof coords[0] === "number") out.push(coords);
  else for (const c of coords) positions(c, out);
  return out;
}

export function bounds(points) {
  let [w, s, e, n] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const [lon, lat] of points) {
    w = Math.min(w, lon); e = Math.max(e, lon); s = Math.min(s, lat); n = Math.max(n, lat);
  }
  return Number.isFinite(w) ? [w, s, e, n] : null;
}

// Equirectangular, scaled by cos(latitude) at the centre: at the coast's 51° a few tens of km look right.
export function projection([w, s, e, n]) {
  const k = Math.cos(((s + n) / 2) * Math.PI / 180);
  const spanX = Math.max((e - w) * k, 0.005), spanY = Math.max(n - s, 0.005);
  const scale = Math.min((WIDTH - 2 * PAD) / spanX, (HEIGHT - 2 * PAD) / spanY);
  const cx = (w + e) / 2, cy = (s + n) / 2;
  return ([lon, lat]) => [WIDTH / 2 + (lon - cx) * k * scale, HEIGHT / 2 - (lat - cy) * scale];
}

function path(rings, project) {
  return rings.map((ring) => "M" + ring.map((p) => project(p).map((v) => v.toFixed(1)).join(",")).join("L")).join(" ");
}

function drawGeometry(g, geometry, project, lineClass, areaClass, parent) {
  const t = geometry.type, c = geometry.coordinates;
  if (t === "Polygon") return el("path", { d: path(c, project) + "Z", class: areaClass, "fill-rule": "evenodd" }, parent);
  if (t === "MultiPolygon") return el("path", { d: c.map((p) => path(p, project) + "Z").join(" "), class: areaClass, "fill-rule": "evenodd" }, parent);
  if (t === "LineString") return el("path", { d: path([c], project), class: lineClass }, parent);
  if (t === "MultiLineString") return el("path", { d: path(c, project), class: lineClass }, parent);
  const pts = t === "Point" ? [c] : t === "MultiPoint" ? c : [];
  for (const p of pts) { const [x, y] = project(p); el("circle", { cx: x, cy: y, r: 2, class: lineClass }, parent); }
  return null;
}

// One <g> of a FeatureCollection's shapes, each titled with its feature's name (hover, screen readers).
function namedLayer(svg, layerClass, collection, project, lineClass, areaClass, label) {
  const layer = el("g", { class: layerClass }, svg);
  for (const f of collection?.features || []) {
    if (!f.geometry) continue;
    const shape = drawGeometry(layer, f.geometry, project, lineClass, areaClass, layer);
    if (shape) el("title", {}, shape).textContent = `${label}: ${f.properties?.name ?? ""}`;
  }
}

// route: the /route GeoJSON (points=none: one LineString per trip, null for a one-observation trip).
export function drawMap(figure, { zones, baseLayer, coastline, cameras, route, sightings }) {
  const trips = (route?.features || []).filter((f) => f.properties?.feature === "trip");
  const tripPoints = trips.flatMap((f) => f.geometry ? positions(f.geometry.coordinates) : [f.properties.start_position]);
  const seen = (sightings || []).filter((r) => r.lat != null && r.lon != null).map((r) => [r.lon, r.lat]);
  const zonePoints = (zones?.features || []).flatMap((f) => f.geometry ? positions(f.geometry.coordinates) : []);
  let box = bounds(tripPoints.length ? tripPoints.concat(seen) : zonePoints);
  if (!box) box = [1.5, 50.4, 2.6, 51.2]; // the northern coast, when there is nothing to show
  const [w, s, e, n] = box, padX = Math.max((e - w) * 0.15, 0.02), padY = Math.max((n - s) * 0.15, 0.015);
  const project = projection([w - padX, s - padY, e + padX, n + padY]);

  const svg = el("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img" });
  el("title", {}, svg).textContent = trips.length
    ? `Route map: ${trips.length} trip(s) over the departure zones` : "Map of the departure zones (no located observation)";
  const base = el("g", { class: "layer-base" }, svg);
  for (const f of baseLayer?.features || []) if (f.geometry) drawGeometry(base, f.geometry, project, "base", "base-area", base);
  namedLayer(svg, "layer-coast", coastline, project, "coast", "coast-area", "Coast");
  namedLayer(svg, "layer-zones", zones, project, "zone", "zone", "Departure zone");
  const cameraLayer = el("g", { class: "layer-cameras" }, svg);
  for (const c of cameras || []) {
    if (c.lat == null || c.lon == null) continue;
    const [x, y] = project([c.lon, c.lat]);
    const mark = el("rect", { x: (x - 3).toFixed(1), y: (y - 3).toFixed(1), width: 6, height: 6, class: "camera" }, cameraLayer);
    el("title", {}, mark).textContent = `Camera ${c.name || c.id} (${c.id})`;
  }
  const tripLayer = el("g", { class: "layer-route" }, svg);
  for (const f of trips) {
    if (!f.geometry) continue;
    const line = el("polyline", { class: "trip", "data-trip": f.properties.trip,
      points: f.geometry.coordinates.map((p) => project(p).map((v) => v.toFixed(1)).join(",")).join(" ") }, tripLayer);
    el("title", {}, line).textContent = `Trip ${f.properties.trip}: ${(f.properties.distance_m / 1000).toFixed(1)} km`;
  }
  for (const [lon, lat] of seen) {
    const [x, y] = project([lon, lat]);
    el("circle", { cx: x.toFixed(1), cy: y.toFixed(1), r: 4, class: "sighting" }, tripLayer);
  }
  if (trips.length) {
    const first = trips[0].properties.start_position, last = trips[trips.length - 1].properties.end_position;
    for (const [p, cls] of [[first, "start"], [last, "end"]]) {
      const [x, y] = project(p);
      el("circle", { cx: x.toFixed(1), cy: y.toFixed(1), r: 6, class: cls }, tripLayer);
    }
  }
  figure.replaceChildren(svg);
  return trips.length;
}

export function routeSummary(route) {
  const trips = (route?.features || []).filter((f) => f.properties?.feature === "trip").map((f) => f.properties);
  if (!trips.length) return "No located sighting or beacon ping in this window.";
  const km = trips.reduce((a, t) => a + t.distance_m, 0) / 1000;
  const implausible = trips.reduce((a, t) => a + (t.implausible_hops || 0), 0);
  return `${trips.length} trip(s), ${route.observations} observations, ${km.toFixed(1)} km` +
    (implausible ? `, ${implausible} implausible hop(s) (misread or cloned plate?)` : "") +
    (route.truncated ? "; truncated: narrow the window" : "") + ". Green: first position, red: last.";
}
