// The console's wiring: sign in, search, the vehicle view (route, timeline, convoys) and the live feed.
import { api, clearToken, setToken, token } from "./api.js";
import { Feed } from "./feed.js";
import { drawMap, routeSummary } from "./map.js";
import { isoToLocalInput, localInputToIso, shortTime } from "./times.js";
import { Timeline } from "./timeline.js";

const $ = (id) => document.getElementById(id);
const MAX_WINDOW_DAYS = 31;  // the route and convoy queries span at most this (geo routes)
const state = { zones: null, baseLayer: null, coastline: null, cameras: new Map(), cameraList: [], feed: null, timeline: null, query: null };

async function signIn(secret) {
  setToken(secret);
  let me;
  try {
    me = await api.get("/v1/whoami");
  } catch (err) {
    clearToken();
    throw err;
  }
  $("who-name").textContent = `${me.principal} (${me.role})`;
  $("who").hidden = false;
  $("sign-in").hidden = true;
  $("console").hidden = false;
  const [zones, cameras] = await Promise.all([api.get("/v1/geo/zones"), api.get("/v1/cameras")]);
  state.zones = zones;
  state.cameraList = cameras.cameras;
  state.cameras = new Map(cameras.cameras.map((c) => [c.id, c.name]));
  [state.baseLayer, state.coastline] = await Promise.all([  // 404: none configured / switched off
    api.get("/v1/geo/base-layer").catch(() => null), api.get("/v1/geo/coastline").catch(() => null)]);
  state.timeline = new Timeline($("timeline").tBodies[0], state.cameras);
  state.feed = new Feed($("feed-list"), $("feed-state"), (plate) => show({ ...currentWindow(), plate }));
  state.feed.start();
  $("q").focus();
}

function signOut() {
  state.feed?.stop();
  clearToken();
  location.reload();
}

function currentWindow() {
  const from = localInputToIso($("from").value), to = localInputToIso($("to").value);
  const procedure = $("all-reads").checked ? $("procedure").value.trim() : "";
  return { from, to, procedure };
}

function checkWindow({ from, to }) {
  const days = (Date.parse(to) - Date.parse(from)) / 86400000;
  if (!(days > 0)) return "To must be after From";
  if (days > MAX_WINDOW_DAYS) return `the window may span at most ${MAX_WINDOW_DAYS} days`;
  return null;
}

function showRestricted(node, answer) {
  node.hidden = !answer.restricted;
  node.textContent = answer.restricted ? `Hit reads only: ${answer.restricted.replace(/^hit reads only: /, "")}` : "";
}

async function search(event) {
  event.preventDefault();
  $("search-error").textContent = "";
  const q = $("q").value.trim(), mode = $("mode").value, win = currentWindow();
  const problem = checkWindow(win) || ($("all-reads").checked && !win.procedure
    ? "give the procedure reference, or untick 'Include reads that matched no watchlist'" : null);
  if (problem) { $("search-error").textContent = problem; return; }
  try {
    if (mode === "exact") {
      $("candidates").hidden = true;
      await openVehicle({ ...win, plate: q });
      return;
    }
    const found = await api.get("/v1/plates", { q, mode, from: win.from, to: win.to, procedure: win.procedure });
    showCandidates(found, win);
  } catch (err) {
    $("search-error").textContent = err.message;
  }
}

function showCandidates(found, win) {
  const list = $("candidate-list");
  list.replaceChildren();
  showRestricted($("candidates-restricted"), found);
  for (const p of found.plates) {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = `${p.plate_norm} — ${p.reads} read(s), ${p.cameras} camera(s), last ${shortTime(p.last_seen)}` +
      (found.mode === "lookalike" ? `, cost ${p.cost}` : "") + (p.hit ? ", hit" : "");
    b.addEventListener("click", () => show({ ...win, plate: p.plate_norm }));
    li.appendChild(b);
    list.appendChild(li);
  }
  if (!found.plates.length) list.textContent = `no plate read matches ${found.query} (${found.mode}) in this window`;
  $("candidates").hidden = false;
  $("candidates-title").textContent = `Plates found (${found.plates.length}, ${found.mode} ${found.query})`;
  $("candidates-title").focus();
}

// From a button (a candidate, a convoy member, a live hit): an error goes where the search's would.
function show(query) {
  $("search-error").textContent = "";
  openVehicle(query).catch((err) => { $("search-error").textContent = err.message; });
}

async function openVehicle(query) {
  state.query = query;
  const plate = encodeURIComponent(query.plate);
  $("vehicle").hidden = false;
  $("vehicle-title").textContent = `Vehicle ${query.plate}`;
  $("convoy-table").hidden = true;
  $("convoy-summary").textContent = $("convoy-error").textContent = "";
  const [route, first] = await Promise.all([
    api.get(`/v1/vehicles/${plate}/route`, { start: query.from, end: query.to, points: "none", procedure: query.procedure }),
    state.timeline.start(query),
  ]);
  state.route = route;
  $("vehicle-title").textContent = `Vehicle ${first.page.plate_norm}`;
  showRestricted($("vehicle-restricted"), first.page);
  redraw();
  $("route-summary").textContent = routeSummary(route);
  $("vehicle-title").focus();
}

function redraw() {
  drawMap($("map"), { zones: state.zones, baseLayer: state.baseLayer, coastline: state.coastline,
                      cameras: state.cameraList, route: state.route, sightings: state.timeline.rows });
  const t = state.timeline;
  $("timeline-count").textContent = `${t.rows.length} read(s) shown${t.done ? " (all)" : ""}, newest first`;
  $("load-older").hidden = t.done;
}

async function loadOlder() {
  $("load-older").disabled = true;
  try {
    const before = state.timeline.rows.length;
    await state.timeline.more();
    redraw();
    const next = $("timeline").tBodies[0].rows[before];  // keyboard users land on the first new row
    if (next) { next.tabIndex = -1; next.focus(); } else $("load-older").focus();
  } catch (err) {
    $("timeline-count").textContent = `could not load older reads: ${err.message}`;
  } finally {
    $("load-older").disabled = false;
  }
}

async function convoys(event) {
  event.preventDefault();
  const q = state.query;
  $("convoy-error").textContent = "";
  try {
    const answer = await api.get(`/v1/vehicles/${encodeURIComponent(q.plate)}/convoys`, {
      start: q.from, end: q.to, k: $("convoy-k").value, dt: $("convoy-dt").value, procedure: q.procedure });
    const body = $("convoy-table").tBodies[0];
    body.replaceChildren();
    for (const c of answer.candidates) {
      const tr = body.insertRow();
      const open = document.createElement("button");
      open.type = "button";
      open.className = "secondary";
      open.textContent = c.plate_norm;
      open.addEventListener("click", () => show({ ...q, plate: c.plate_norm }));
      tr.insertCell().appendChild(open);
      for (const v of [c.cameras, c.score, c.mean_offset_s, c.listed ? "yes" : ""]) tr.insertCell().textContent = v;
    }
    $("convoy-table").hidden = !answer.candidates.length;
    $("convoy-summary").textContent = `${answer.candidates_total} vehicle(s) seen within ${answer.dt_s} s at ` +
      `${answer.k}+ of the ${answer.cameras} camera(s) it passed` + (answer.restricted ? " (hit reads only)" : "");
  } catch (err) {
    $("convoy-error").textContent = err.message;
  }
}

function init() {
  const now = new Date();
  $("to").value = isoToLocalInput(new Date(now.getTime() + 5 * 60000));
  $("from").value = isoToLocalInput(new Date(now.getTime() - 7 * 86400000));
  $("all-reads").addEventListener("change", () => {
    $("procedure-row").hidden = !$("all-reads").checked;
    $("procedure").required = $("all-reads").checked;
    if ($("all-reads").checked) $("procedure").focus();
  });
  $("mode").addEventListener("change", () => { $("q").focus(); });
  $("q").addEventListener("input", () => {  // typing a wildcard selects the wildcard search
    if (/[?*]/.test($("q").value)) $("mode").value = "wildcard";
  });
  $("sign-in-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    $("sign-in-error").textContent = "";
    try { await signIn($("token").value.trim()); $("token").value = ""; }
    catch (err) { $("sign-in-error").textContent = `sign-in failed: ${err.message}`; }
  });
  $("sign-out").addEventListener("click", signOut);
  window.addEventListener("lapi:unauthorized", (e) => {  // token revoked or expired while the page was open
    if ($("console").hidden) return;
    state.feed?.stop();
    clearToken();
    $("console").hidden = $("who").hidden = true;
    $("sign-in").hidden = false;
    $("sign-in-error").textContent = `signed out: ${e.detail}; sign in again with a valid token`;
    $("token").focus();
  });
  $("search-form").addEventListener("submit", search);
  $("load-older").addEventListener("click", loadOlder);
  $("convoy-form").addEventListener("submit", convoys);
  if (token()) signIn(token()).catch(() => { $("sign-in").hidden = false; });
  else $("token").focus();
}

init();
