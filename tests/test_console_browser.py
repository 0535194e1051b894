"""The analyst console in a real browser (issue 9): Debian's chromium driven by Playwright against the
real app, a real PostgreSQL and the real alert feed.  An analyst signs in with a token, searches a
plate (wildcard, then opens it) with a procedure reference, sees its route drawn over the shipped
coastline and the departure zones and its timeline paged, receives a live hit over the WebSocket and confirms it with a reason,
all from the keyboard; then the audit log holds every query the page made.  A screenshot is kept
in tests/output/ (not committed).  Skipped only when chromium is absent (.ci/ensure-chromium
installs it)."""

from __future__ import annotations

import json
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import pytest_asyncio

from conftest import OUTPUT, ROOT, serve_app
from lapi.api.app import create_app
from lapi.api.access import TOKENS
from lapi.api.audit import AUDIT
from lapi.api.geo_routes import configure_geo
from lapi.config import GeoSettings, TrackerSettings
from test_console import PAGE, PLATE, PROCEDURE, plate_read, seed_vehicle

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
COAST = {"type": "FeatureCollection", "features": [  # a sketch of the coast as an analyst's own base layer
    {"type": "Feature", "properties": {"name": "coast"}, "geometry": {"type": "LineString", "coordinates": [
        [1.58, 50.73], [1.60, 50.87], [1.73, 50.95], [1.85, 50.97], [2.10, 51.00], [2.37, 51.05], [2.55, 51.09]]}}]}

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium "
                                "(absent here): run .ci/ensure-chromium (apt-get install -y chromium)")


@pytest_asyncio.fixture
async def browser_page():
    from playwright.async_api import async_playwright

    with tempfile.TemporaryDirectory(prefix="lapi-chromium-") as profile:
        async with async_playwright() as pw:
            context = await pw.chromium.launch_persistent_context(
                profile, executable_path=str(CHROMIUM), headless=True, args=ARGS,
                viewport={"width": 1366, "height": 768})  # a laptop screen
            page = context.pages[0] if context.pages else await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda err: errors.append(f"page error: {err}"))
            page.on("console", lambda msg: errors.append(f"console {msg.type}: {msg.text}")
                    if msg.type == "error" else None)
            page.errors = errors
            try:
                yield page
            finally:
                await context.close()


@pytest_asyncio.fixture
async def console_app(store):
    app = create_app(store, None, trackers=TrackerSettings(silence_check_interval_s=3600))
    configure_geo(app, GeoSettings(base_layer=Path("coast.geojson"), base_layer_doc=COAST))
    url, runner = await serve_app(app, store)
    url.app = app
    yield url
    await runner.cleanup()


async def set_time(page, selector: str, at: datetime) -> None:
    """A datetime-local input set to ``at`` in the browser's own time zone."""
    await page.eval_on_selector(selector, "(el, iso) => { const d = new Date(iso); "
                                "el.value = new Date(d - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16); }",
                                at.isoformat())


async def focused_id(page) -> str:
    return await page.evaluate("document.activeElement.id")


async def test_sign_in_search_route_live_hit_confirm(browser_page, console_app, store):
    page, url = browser_page, console_app
    now = datetime.now(timezone.utc)
    start, _ = await seed_vehicle(store, 10_000, now - timedelta(hours=1))
    await store.add_watch_entry(PLATE, category="passeur", reason="PV 2026/0042")
    secret = await url.token("Lt Dupont")

    # sign in: paste the token, Enter (a wrong one is refused, said on the page)
    await page.goto(f"{url}/console/")
    assert await focused_id(page) == "token"
    assert await page.locator("#console").is_hidden()  # nothing but the sign-in form before a token
    OUTPUT.mkdir(exist_ok=True)
    await page.screenshot(path=str(OUTPUT / "console-sign-in.png"))
    await page.keyboard.type("not-a-token")
    await page.keyboard.press("Enter")
    await page.locator("#sign-in-error", has_text="invalid, expired or revoked token").wait_for()
    page.errors.clear()  # the browser logs the refused call (401) as an error
    await page.fill("#token", "")
    await page.keyboard.type(secret)
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#console:not([hidden])")
    assert "Lt Dupont (analyst)" in await page.inner_text("#who")
    await page.wait_for_function("() => document.activeElement.id === 'q'")  # ready to search
    assert await page.evaluate("sessionStorage.getItem('lapi.token')") == secret

    # without a procedure: hit reads only, and the page says so (none of the 10,000 reads is a hit)
    await set_time(page, "#from", start)
    await set_time(page, "#to", now + timedelta(minutes=5))
    await page.keyboard.type("GV-073-KP")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#vehicle-restricted:not([hidden])")
    assert "procedure" in await page.inner_text("#vehicle-restricted")
    assert await page.locator("#timeline tbody tr").count() == 0

    # the procedure field appears for non-hit reads; a wildcard search lists the plates, Enter opens one
    assert await page.locator("#procedure").is_hidden()
    await page.focus("#all-reads")
    await page.keyboard.press("Space")
    await page.wait_for_selector("#procedure-row:not([hidden])")
    assert await focused_id(page) == "procedure"
    await page.keyboard.type(PROCEDURE)
    await page.fill("#q", "GV-07?-KP")
    assert await page.input_value("#mode") == "wildcard"
    await page.press("#q", "Enter")
    await page.wait_for_selector("#candidate-list button")
    assert await focused_id(page) == "candidates-title"
    assert "10000 read(s)" in await page.inner_text("#candidate-list")
    await page.keyboard.press("Tab")
    t0 = time.perf_counter()
    await page.keyboard.press("Enter")
    await page.wait_for_function(f"() => document.querySelectorAll('#timeline tbody tr').length === {PAGE}"
                                 " && document.querySelector('#map polyline.trip') !== null")
    open_s = time.perf_counter() - t0
    assert await page.locator("#vehicle-restricted").is_hidden()
    assert await page.inner_text("#vehicle-title") == f"Vehicle {PLATE}"

    # the route is drawn: trips as polylines over the zones and the base layer, summarised in text
    trips = page.locator("#map polyline.trip")
    assert await trips.count() >= 10
    assert len((await trips.first.get_attribute("points")).split()) >= 6
    zones = json.loads((ROOT / "configs" / "departure_zones.geojson").read_text())["features"]
    assert await page.locator("#map .layer-zones path").count() == len(zones)
    assert await page.locator("#map .layer-base path").count() == 1
    # the shipped coastline ([geo] coastline's default), every point of each line, beneath zones and route
    coast = json.loads((ROOT / "configs" / "coastline.geojson").read_text())["features"]
    coast_paths = page.locator("#map .layer-coast path.coast")
    assert await coast_paths.count() == len(coast) == 4
    drawn = [(await coast_paths.nth(i).get_attribute("d")).count(",") for i in range(len(coast))]
    assert drawn == [len(f["geometry"]["coordinates"]) for f in coast]
    assert await page.eval_on_selector_all("#map svg > g", "gs => gs.map(g => g.getAttribute('class'))") == [
        "layer-base", "layer-coast", "layer-zones", "layer-cameras", "layer-route"]
    assert await page.locator("#map .layer-cameras rect").count() == 7  # the corridor's six and the fixtures' cam-1
    assert "trip(s), 10000 observations" in await page.inner_text("#route-summary")
    await page.wait_for_function("() => document.querySelector('#timeline tbody img')?.naturalWidth > 0")

    # older reads, a page at a time, none twice
    await page.focus("#load-older")
    await page.keyboard.press("Enter")
    await page.wait_for_function(f"() => document.querySelectorAll('#timeline tbody tr').length === {2 * PAGE}")
    assert f"{2 * PAGE} read(s) shown" in await page.inner_text("#timeline-count")
    assert await focused_id(page) == "" and await page.evaluate("() => document.activeElement.rowIndex") == PAGE + 1

    # convoys of this vehicle
    await page.click("#convoy-form button[type=submit]")
    await page.wait_for_function("() => document.querySelector('#convoy-summary').textContent.length > 0")

    # a live hit arrives over the WebSocket; confirming it needs a reason
    await page.wait_for_function("() => document.querySelector('#feed-state').textContent.startsWith('connected')")
    (stored,) = await store.store_reads("a16-calais-est", datetime.now(timezone.utc), [plate_read(PLATE)])
    (hit,) = stored.hits
    item = page.locator(f"#feed-list li[data-hit-id='{hit.id}']")
    await item.wait_for(timeout=15000)
    assert PLATE in await item.inner_text()
    await item.get_by_role("button", name=f"Confirm hit {hit.id}").focus()
    await page.keyboard.press("Enter")
    assert await focused_id(page) == f"reason-{hit.id}"
    await page.keyboard.press("Enter")  # no reason yet
    assert "reason is required" in await item.locator(".error").inner_text()
    await page.keyboard.type("crop shows GV-073-KP, grey Peugeot")
    await page.keyboard.press("Enter")
    await item.locator(".decision", has_text="confirmed by Lt Dupont").wait_for()
    assert (await store.get_hit(hit.id))["status"] == "confirmed"

    # another one, rejected (Tab from its Confirm button reaches Reject)
    (stored,) = await store.store_reads("a16-coquelles", datetime.now(timezone.utc), [plate_read(PLATE, 0.62)])
    (other,) = stored.hits
    item = page.locator(f"#feed-list li[data-hit-id='{other.id}']")
    await item.wait_for(timeout=15000)
    await item.get_by_role("button", name=f"Confirm hit {other.id}").focus()
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    await page.keyboard.type("crop shows GV-078-KP: another vehicle")
    await page.keyboard.press("Enter")
    await item.locator(".decision", has_text="rejected by Lt Dupont").wait_for()
    assert (await store.get_hit(other.id))["status"] == "rejected"

    # every control has a label, and the page fits a laptop screen's width
    assert await page.evaluate("() => [...document.querySelectorAll('input, select, textarea')]"
                               ".filter((e) => !e.labels.length).map((e) => e.id)") == []
    assert await page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")

    await page.screenshot(path=str(OUTPUT / "console.png"), full_page=True)
    print(f"\nbrowser: vehicle with 10,000 reads opened in {open_s * 1000:.0f} ms; screenshot {OUTPUT / 'console.png'}")
    assert page.errors == []
    assert open_s < 3, "the vehicle view took more than 3 s in the browser (target: 1 s, see test_console.py)"

    # every query the page made is in the audit log under the analyst, with the procedure when given
    audit = {(r["operation"], r["justification"]) for r in await url.app[AUDIT].query(principal="Lt Dupont", limit=1000)}
    for expected in (("GET /v1/vehicles/{plate}/sightings", None), ("GET /v1/vehicles/{plate}/sightings", PROCEDURE),
                     ("GET /v1/vehicles/{plate}/route", PROCEDURE), ("GET /v1/plates", PROCEDURE),
                     ("GET /v1/reads/{read_id}/crop", PROCEDURE), ("GET /v1/vehicles/{plate}/convoys", PROCEDURE),
                     ("GET /v1/hits", None), ("POST /v1/hits/{hit_id}/confirm", None),
                     ("POST /v1/hits/{hit_id}/reject", None)):
        assert expected in audit, (expected, sorted(audit, key=str))

    # a token revoked while the page is open: the next call signs the analyst out, saying why
    me = await (await page.request.get(f"{url}/v1/whoami", headers={"Authorization": f"Bearer {secret}"})).json()
    await url.app[TOKENS].revoke(me["token_id"], "test-admin")  # the app's store: its lookup cache is cleared
    await page.press("#q", "Enter")
    await page.locator("#sign-in-error", has_text="invalid, expired or revoked token").wait_for()
    assert await page.locator("#console").is_hidden() and await focused_id(page) == "token"
    assert await page.evaluate("() => sessionStorage.getItem('lapi.token')") is None

