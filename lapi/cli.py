"""``lapi`` command line: run the service, read images locally, and talk to a running service."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import mimetypes
import os
import sys
import time
from pathlib import Path

DEFAULT_URL = os.environ.get("LAPI_URL", "http://127.0.0.1:8080")


def _die(message: str, code: int = 2) -> None:
    print(f"lapi: {message}", file=sys.stderr)
    raise SystemExit(code)


# local commands ------------------------------------------------------------------------------

def cmd_serve(args: argparse.Namespace) -> None:
    from lapi.config import ConfigError, load_settings
    from lapi.service import serve

    try:
        settings = load_settings(args.config)
    except ConfigError as err:
        _die(f"configuration error: {err}")
    if args.host:
        settings = dataclasses.replace(settings, host=args.host)
    if args.port is not None:
        settings = dataclasses.replace(settings, port=args.port)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(serve(settings))
    except KeyboardInterrupt:
        pass


def cmd_read(args: argparse.Namespace) -> None:
    from lapi.config import ConfigError, load_settings
    from lapi.reading.pipeline import ImageDecodeError, PlateReader

    try:
        settings = load_settings(args.config)
    except ConfigError as err:
        _die(f"configuration error: {err}")
    reader = PlateReader.from_settings(settings)
    found = 0
    for path in args.images:
        try:
            reads, ms = reader.read_image_bytes(Path(path).read_bytes())
        except (OSError, ImageDecodeError) as err:
            print(f"{path}\terror: {err}", flush=True)
            continue
        found += bool(reads)
        if args.json:
            print(json.dumps({"image": str(path), "ms": round(ms, 1), "reads": [r.as_dict() for r in reads]}), flush=True)
        elif not reads:
            print(f"{path}\t(no plate)\t{ms:.0f} ms", flush=True)
        else:
            for r in reads:
                b = r.box
                print(f"{path}\t{r.plate_norm}\tconf={r.confidence:.2f}\tbox={b.x},{b.y},{b.w},{b.h}"
                      f"\tdet={b.score:.2f}\t{ms:.0f} ms", flush=True)
    if not args.json:
        print(f"# plates found in {found} of {len(args.images)} images", file=sys.stderr)


def _with_countries(settings, spec: str):
    """Settings whose grammar is restricted to the countries in ``spec`` (``none``: no grammar)."""
    from lapi import grammars

    if spec.strip().lower() == "none":
        return dataclasses.replace(settings, country_weights={})
    try:
        weights = grammars.weights_for([c.strip() for c in spec.split(",") if c.strip()], settings.country_weights)
    except ValueError as err:
        _die(f"--countries: {err}")
    return dataclasses.replace(settings, country_weights=weights)


def cmd_eval(args: argparse.Namespace) -> None:
    from lapi.config import ConfigError, load_settings
    from lapi.evaluation import evaluate_manifest, format_table
    from lapi.perturb import PERTURBATIONS
    from lapi.reading.pipeline import PlateReader

    if not args.manifest.exists():
        _die(f"manifest not found: {args.manifest}")
    if args.perturb and args.perturb not in PERTURBATIONS:
        _die(f"--perturb: unknown perturbation {args.perturb!r}; one of: {', '.join(PERTURBATIONS)}")
    try:
        settings = load_settings(args.config)
    except ConfigError as err:
        _die(f"configuration error: {err}")
    if args.countries:
        settings = _with_countries(settings, args.countries)
    if args.recognizer:
        if not args.recognizer.exists():
            _die(f"recogniser config not found: {args.recognizer}")
        settings = dataclasses.replace(settings, recognizer_config=args.recognizer.resolve())
    if args.detector:
        if not (args.detector / "model.json").exists():
            _die(f"no model.json in detector folder {args.detector}")
        settings = dataclasses.replace(settings, detector_dir=args.detector.resolve())
    if args.device_crops:
        settings = dataclasses.replace(settings, device_crops=True)
    reader = PlateReader.from_settings(settings)
    perturbation = PERTURBATIONS[args.perturb] if args.perturb else None
    if perturbation is not None:
        print(f"# every photo perturbed: {perturbation.name} ({perturbation.what})", file=sys.stderr)
    result = evaluate_manifest(reader, args.manifest, args.limit, progress=not args.quiet, source_filter=args.source,
                               misses=args.misses, perturbation=perturbation)
    print(format_table(result))
    if args.misses:
        print(f"# images not read exactly: {args.misses}", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        print(f"# written {args.json}", file=sys.stderr)


# client commands ----------------------------------------------------------------------------

async def _request(method: str, url: str, **kwargs) -> object:
    import aiohttp

    token = os.environ.get("LAPI_TOKEN")
    if token:
        kwargs["headers"] = {"Authorization": f"Bearer {token}", **kwargs.get("headers", {})}
    try:
        async with aiohttp.ClientSession() as session:
            async with session.request(method, url, **kwargs) as resp:
                text = await resp.text()
                data = json.loads(text) if text and resp.content_type == "application/json" else text
                if resp.status >= 400:
                    msg = data.get("error", {}).get("message") if isinstance(data, dict) else data
                    _die(f"{resp.status}: {msg}", 1)
                return data
    except aiohttp.ClientConnectionError as err:
        _die(f"cannot reach the service at {url}: {err} (is `lapi serve` running?)", 1)


def _print(data: object) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def cmd_push(args: argparse.Namespace) -> None:
    for path in args.images:
        body = Path(path).read_bytes()
        ctype = mimetypes.guess_type(path)[0] or "image/jpeg"
        params = {"camera_id": args.camera}
        if args.time:
            params["captured_at"] = args.time
        _print(asyncio.run(_request("POST", f"{args.url}/v1/frames", params=params, data=body,
                                    headers={"Content-Type": ctype})))


def cmd_sightings(args: argparse.Namespace) -> None:
    params = {k: v for k, v in (("from", args.start), ("to", args.end), ("procedure", args.procedure)) if v}
    _print(asyncio.run(_request("GET", f"{args.url}/v1/vehicles/{args.plate}/sightings", params=params)))


def cmd_beacons(args: argparse.Namespace) -> None:
    base = f"{args.url}/v1/beacons"
    if args.action == "list":
        _print(asyncio.run(_request("GET", base)))
    elif args.action == "show":
        _print(asyncio.run(_request("GET", f"{base}/{args.beacon_id}")))
    elif args.action == "set":
        body = {k: v for k, v in (("label", args.label), ("watched", args.watched),
                                  ("silence_after_s", args.silence_after)) if v is not None}
        _print(asyncio.run(_request("PATCH", f"{base}/{args.beacon_id}", json=body)))


def cmd_fittings(args: argparse.Namespace) -> None:
    if args.action == "add":
        body = {"plate": args.plate, "note": args.note, **{k: v for k, v in (("from", args.start), ("to", args.end)) if v}}
        _print(asyncio.run(_request("POST", f"{args.url}/v1/beacons/{args.beacon_id}/fittings", json=body)))
    elif args.action == "list":
        params = {k: v for k, v in (("beacon_id", args.beacon), ("plate", args.plate)) if v}
        _print(asyncio.run(_request("GET", f"{args.url}/v1/fittings", params=params)))
    elif args.action == "end":
        body = {"at": args.at} if args.at else {}
        _print(asyncio.run(_request("POST", f"{args.url}/v1/fittings/{args.fitting_id}/end", json=body)))


def cmd_track(args: argparse.Namespace) -> None:
    params = {k: v for k, v in (("from", args.start), ("to", args.end), ("procedure", args.procedure)) if v}
    _print(asyncio.run(_request("GET", f"{args.url}/v1/vehicles/{args.plate}/track", params=params)))


def cmd_bench_pings(args: argparse.Namespace) -> None:
    from trackers.bench import run_bench

    if args.devices < 1 or args.pings < 1 or not 1 <= args.per_packet <= 255:
        _die("--devices and --pings must be >= 1, --per-packet 1-255")
    logging.basicConfig(level=logging.ERROR)
    result = run_bench(args.devices, args.pings, args.per_packet, args.database_url or os.environ.get("LAPI_DATABASE_URL"))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{result['acked']} pings from {args.devices} devices ({args.per_packet} records/packet) acknowledged in "
              f"{result['seconds']:.2f} s: {result['pings_per_s']} pings/s; ack latency median "
              f"{result['ack_ms_median']} ms, p99 {result['ack_ms_p99']} ms; {result['rows_in_postgres']} rows in PostgreSQL")


def cmd_alerts(args: argparse.Namespace) -> None:
    import aiohttp

    async def listen() -> None:
        from urllib.parse import urlencode

        query = urlencode({k: v for k, v in (("after", args.after), ("list", args.list), ("category", args.category),
                                             ("camera", args.camera)) if v is not None})
        ws_url = args.url.replace("http", "ws", 1) + "/v1/alerts/ws" + (f"?{query}" if query else "")
        deadline = time.monotonic() + args.timeout if args.timeout else None
        async with aiohttp.ClientSession() as session:
            try:
                token = os.environ.get("LAPI_TOKEN")
                ws = await session.ws_connect(ws_url, heartbeat=30,
                                              headers={"Authorization": f"Bearer {token}"} if token else None)
            except aiohttp.ClientError as err:
                _die(f"cannot reach the service at {ws_url}: {err} (is `lapi serve` running?)", 1)
            print(f"# listening for alerts on {ws_url}", file=sys.stderr, flush=True)
            count = 0
            while True:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return
                try:
                    msg = await ws.receive(timeout=remaining)
                except asyncio.TimeoutError:
                    return
                if msg.type != aiohttp.WSMsgType.TEXT:
                    return
                alert = json.loads(msg.data)
                if alert.get("type") == "hello":
                    continue
                print(json.dumps(alert, ensure_ascii=False), flush=True)
                count += 1
                if args.count and count >= args.count:
                    return

    try:
        asyncio.run(listen())
    except KeyboardInterrupt:
        pass


def cmd_bench_geo(args: argparse.Namespace) -> None:
    from lapi.bench_geo import run_convoy_bench, run_route_bench

    url = args.database_url or os.environ.get("LAPI_DATABASE_URL")
    logging.basicConfig(level=logging.ERROR)
    if args.bench == "route":
        if args.observations < 2 or args.repeats < 1:
            _die("--observations must be >= 2, --repeats >= 1")
        r = run_route_bench(args.observations, args.repeats, url)
        text = (f"route of {r['observations']} observations ({r['pings']} pings, {r['sightings']} camera reads, "
                f"{r['trips']} trips): median {r['total_ms']} ms (target {r['target_ms']} ms) = fetch {r['fetch_ms']} "
                f"+ reconstruction {r['build_ms']} + GeoJSON {r['geojson_ms']} ms ({r['geojson_bytes']} bytes); "
                f"CPU in this process {r['total_cpu_ms_this_process']} ms")
    else:
        if args.sightings < 1000 or args.repeats < 1:
            _die("--sightings must be >= 1000, --repeats >= 1")
        r = run_convoy_bench(args.sightings, args.repeats, url, args.k, args.dt)
        text = (f"convoy query over {r['sightings']} sightings ({r['days']} days, {r['cameras']} cameras; COPY "
                f"{r['copy_s']} s, {r['copy_rows_per_s']} rows/s): median {r['query_ms']} ms (target {r['target_ms']} ms);"
                f" {r['passages']} target passages, {r['co_sightings']} co-sightings, {r['candidates']} candidates at "
                f"k={r['k']}, top {r['top']} (the planted companion: {r['top_is_companion']})")
    print(json.dumps(r, indent=2) if args.json else text)


def cmd_bench_watchlist(args: argparse.Namespace) -> None:
    from lapi.bench_watchlist import bench_watchlist, format_report

    if args.entries < 1 or args.reads < 1 or args.wildcards < 0:
        _die("--entries and --reads must be >= 1, --wildcards >= 0")
    try:
        result = bench_watchlist(args.entries, args.reads, wildcards=min(args.wildcards, args.entries),
                                 max_cost=args.max_cost, seed=args.seed,
                                 progress=None if args.quiet else lambda m: print(m, file=sys.stderr))
    except ValueError as exc:
        _die(str(exc))
    if args.json:
        print(json.dumps(dataclasses.asdict(result), indent=2))
    else:
        print(format_report(result))


def cmd_bench_ocr(args: argparse.Namespace) -> None:
    from lapi.bench_ocr import as_dict, bench_ocr, format_report

    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise SystemExit("error: --device cuda: no CUDA device is visible to torch on this machine")
    result = bench_ocr(args.n, args.batch, args.device, args.stock_n, progress=not args.json)
    print(json.dumps(as_dict(result), indent=2) if args.json else format_report(result))


def cmd_bench_pipeline(args: argparse.Namespace) -> None:
    from lapi.bench_pipeline import DEFAULT_MANIFEST, format_report, run_pipeline_bench

    logging.basicConfig(level=logging.ERROR)
    try:
        result = run_pipeline_bench(args.cameras, args.frames, args.batch, args.wait_ms, args.threads, args.device,
                                    None if args.synthetic else (args.manifest or DEFAULT_MANIFEST),
                                    args.database_url or os.environ.get("LAPI_DATABASE_URL"), args.precision)
    except ValueError as exc:
        _die(str(exc))
    print(json.dumps(result, indent=2) if args.json else format_report(result))


def cmd_bench_passes(args: argparse.Namespace) -> None:
    from lapi.bench_passes import format_report, run_pass_bench

    logging.basicConfig(level=logging.ERROR)
    r = run_pass_bench(args.database_url or os.environ.get("LAPI_DATABASE_URL"), args.seed)
    print(json.dumps(r, indent=2, default=str) if args.json else format_report(r))


def cmd_bench_alerts(args: argparse.Namespace) -> None:
    from lapi.bench_alerts import bench_alerts, format_report

    logging.basicConfig(level=logging.ERROR)
    try:
        result = bench_alerts(args.rate, args.seconds, args.entries, args.database_url or os.environ.get("LAPI_DATABASE_URL"))
    except ValueError as exc:
        _die(str(exc))
    print(json.dumps(result, indent=2) if args.json else format_report(result))


def cmd_bench_store(args: argparse.Namespace) -> None:
    from lapi.bench_store import bench_store, format_report

    logging.basicConfig(level=logging.ERROR)
    try:
        result = bench_store(args.n, args.days, args.cameras, args.batch, args.writers, args.insert_n, args.frames_n,
                             args.queries, args.seed, args.database_url or os.environ.get("LAPI_DATABASE_URL"),
                             progress=lambda m: print(f"# {m}", file=sys.stderr, flush=True))  # --json: stdout only
    except ValueError as exc:
        _die(str(exc))
    print(json.dumps(result, indent=2) if args.json else format_report(result))


def _scratch_db_args(b: argparse.ArgumentParser) -> None:
    """--database-url and --json, as every bench on a scratch database takes them."""
    b.add_argument("--database-url", help="PostgreSQL server for a scratch database (default: $LAPI_DATABASE_URL, "
                   "else a temporary embedded one)")
    b.add_argument("--json", action="store_true", help="print the figures as JSON")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lapi", description="LAPI licence-plate event processor")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the service (embedded PostgreSQL unless LAPI_DATABASE_URL is set)")
    p.add_argument("--config", type=Path, help="TOML config (default configs/lapi.toml or $LAPI_CONFIG)")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("read", help="read plates in image files locally (no service needed)")
    p.add_argument("images", nargs="+")
    p.add_argument("--config", type=Path)
    p.add_argument("--json", action="store_true", help="one JSON object per image")
    p.set_defaults(func=cmd_read)

    p = sub.add_parser("eval", help="accuracy of the reading pipeline on a labelled manifest (CSV)")
    p.add_argument("--manifest", type=Path, required=True, help="CSV: file, plate_norm[, x, y, w, h, source, country, format]")
    p.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    p.add_argument("--misses", type=Path, help="also write a CSV of the images not read exactly (file, truth, read)")
    p.add_argument("--limit", type=int, help="only the first N rows")
    p.add_argument("--source", help="only rows whose source or file path contains this (e.g. fr_dev)")
    p.add_argument("--countries", help="override reading.countries: comma-separated codes, e.g. FR,BE,ZZ "
                   "(priors from the config, else equal); 'none' = greedy decoding without grammar")
    p.add_argument("--recognizer", type=Path, help="override reading.recognizer_config (a models/ocr/*.json)")
    p.add_argument("--detector", type=Path, help="override reading.detector_dir (a folder with model.json)")
    p.add_argument("--device-crops", action="store_true", help="cut plates on the device (reading.device_crops = "
                   "true), to compare with the OpenCV crops")
    p.add_argument("--perturb", metavar="NAME", help="read every photo changed so, its box moved along "
                   "(scale0.7, scale1.3, jpeg50, dark0.6, crop8, blur1: lapi/perturb.py): does a figure hold on "
                   "photos a little unlike these?")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--config", type=Path)
    p.set_defaults(func=cmd_eval)

    def client(p: argparse.ArgumentParser) -> None:
        p.add_argument("--url", default=DEFAULT_URL, help=f"service URL (default {DEFAULT_URL}, or $LAPI_URL)")
        p.add_argument("--token", help="API token (default $LAPI_TOKEN; made with `lapi token create`)")

    p = sub.add_parser("push", help="push image files to a running service as camera frames")
    p.add_argument("images", nargs="+")
    p.add_argument("--camera", required=True, help="camera id")
    p.add_argument("--time", help="capture time, ISO 8601 with offset (default: now)")
    client(p)
    p.set_defaults(func=cmd_push)

    from lapi.cli_watchlists import add_parsers as add_watchlist_parsers

    add_watchlist_parsers(sub, client)  # watch, watchlists, hits (lapi/cli_watchlists.py)
    from lapi.cli_security import add_parsers as add_security_parsers

    add_security_parsers(sub)  # token, retention (lapi/cli_security.py)

    p = sub.add_parser("sightings", help="a vehicle's sightings from a running service")
    p.add_argument("plate")
    p.add_argument("--from", dest="start")
    p.add_argument("--to", dest="end")
    p.add_argument("--procedure", help="procedure reference: without one, only reads that produced a hit")
    client(p)
    p.set_defaults(func=cmd_sightings)

    p = sub.add_parser("beacons", help="GPS beacons of a running service: state, label, watched flag")
    bsub_ = p.add_subparsers(dest="action", required=True)
    c = bsub_.add_parser("list")
    client(c)
    c = bsub_.add_parser("show")
    c.add_argument("beacon_id")
    client(c)
    c = bsub_.add_parser("set", help="register a beacon or change its label / watched flag / silence threshold")
    c.add_argument("beacon_id")
    c.add_argument("--label")
    c.add_argument("--watched", action=argparse.BooleanOptionalAction, default=None,
                   help="alert when it goes silent (fitted beacons are watched anyway)")
    c.add_argument("--silence-after", type=int, help="seconds without a ping before the alert")
    client(c)
    p.set_defaults(func=cmd_beacons)

    p = sub.add_parser("fittings", help="which beacon is fitted on which vehicle, and when")
    fsub = p.add_subparsers(dest="action", required=True)
    c = fsub.add_parser("add", help="beacon fitted on a vehicle from --from (default now) to --to (default: still on)")
    c.add_argument("beacon_id")
    c.add_argument("plate")
    c.add_argument("--from", dest="start", help="ISO 8601 with offset")
    c.add_argument("--to", dest="end", help="ISO 8601 with offset")
    c.add_argument("--note", default="")
    client(c)
    c = fsub.add_parser("list")
    c.add_argument("--beacon")
    c.add_argument("--plate")
    client(c)
    c = fsub.add_parser("end", help="the beacon was removed at --at (default now)")
    c.add_argument("fitting_id", type=int)
    c.add_argument("--at")
    client(c)
    p.set_defaults(func=cmd_fittings)

    p = sub.add_parser("track", help="a vehicle's camera sightings and fitted-beacon pings, in time order")
    p.add_argument("plate")
    p.add_argument("--from", dest="start", help="default: 24 hours ago")
    p.add_argument("--to", dest="end")
    p.add_argument("--procedure", help="procedure reference: without one, only sightings that produced a hit")
    client(p)
    p.set_defaults(func=cmd_track)

    p = sub.add_parser("alerts", help="print live hits from a running service, one JSON line each")
    p.add_argument("--count", type=int, default=0, help="exit after this many alerts")
    p.add_argument("--timeout", type=float, default=0, help="exit after this many seconds")
    p.add_argument("--after", type=int, help="first every alert with a larger id (resume from your last alert_id)")
    p.add_argument("--list", help="only these lists (comma-separated)")
    p.add_argument("--category", help="only these categories (comma-separated)")
    p.add_argument("--camera", help="only these cameras (comma-separated)")
    client(p)
    p.set_defaults(func=cmd_alerts)
    p = sub.add_parser("bench", help="measure throughput (figures go to docs/benchmarks.md)")
    bsub = p.add_subparsers(dest="bench", required=True)
    b = bsub.add_parser("watchlist", help="watchlist index: build time, memory, reads matched per second on one core")
    b.add_argument("--entries", type=int, default=1_000_000, help="watchlist entries (default 1,000,000)")
    b.add_argument("--reads", type=int, default=200_000, help="reads to match (default 200,000)")
    b.add_argument("--wildcards", type=int, default=1000, help="how many of the entries are wildcard patterns")
    b.add_argument("--max-cost", type=float, default=0.8, help="every list's threshold (default 0.8: exact + "
                   "lookalike; >= 1 also tolerates one real edit)")
    b.add_argument("--seed", type=int, default=7)
    b.add_argument("--json", action="store_true", help="print the figures as JSON")
    b.add_argument("--quiet", action="store_true", help="no progress lines")
    b.set_defaults(func=cmd_bench_watchlist)
    b = bsub.add_parser("route", help="GET .../route work for a vehicle with N observations (fetch, trips, GeoJSON)")
    b.add_argument("--observations", type=int, default=10_000, help="pings + camera reads (default 10,000)")
    b.add_argument("--repeats", type=int, default=20)
    _scratch_db_args(b)
    b.set_defaults(func=cmd_bench_geo)
    b = bsub.add_parser("convoy", help="convoy query over N sightings bulk-loaded with COPY")
    b.add_argument("--sightings", type=int, default=1_000_000, help="background sightings (default 1,000,000)")
    b.add_argument("--repeats", type=int, default=5)
    b.add_argument("--k", type=int, default=3, help="distinct cameras shared (default 3)")
    b.add_argument("--dt", type=float, default=120.0, help="seconds from the target's passage (default 120)")
    _scratch_db_args(b)
    b.set_defaults(func=cmd_bench_geo)
    b = bsub.add_parser("pings", help="beacon pings/s over the Teltonika server into PostgreSQL (ack after commit)")
    b.add_argument("--devices", type=int, default=100, help="concurrent simulated devices (default 100)")
    b.add_argument("--pings", type=int, default=2000, help="pings per device (default 2000)")
    b.add_argument("--per-packet", type=int, default=25, help="records per AVL packet (default 25, ~1.3 KB)")
    _scratch_db_args(b)
    b.set_defaults(func=cmd_bench_pings)
    b = bsub.add_parser("ocr", help="plates/s of LAPI's batched recogniser vs stock easyocr recognize, same crops and weights")
    b.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default cpu)")
    b.add_argument("--n", type=int, default=512, help="crops read by LAPI (default 512; real ground-truth crops, cycled)")
    b.add_argument("--batch", type=int, default=64, help="LAPI batch size (default 64)")
    b.add_argument("--stock-n", type=int, help="crops read by stock EasyOCR (default: all n)")
    b.add_argument("--json", action="store_true", help="print the figures as JSON")
    b.set_defaults(func=cmd_bench_ocr)
    b = bsub.add_parser("pipeline", help="frames/s and frame -> read latency through the HTTP API, N cameras pushing at once")
    b.add_argument("--cameras", type=int, default=4, help="simulated cameras pushing concurrently (default 4)")
    b.add_argument("--frames", type=int, default=10, help="frames each camera pushes (default 10)")
    b.add_argument("--batch", type=int, default=8, help="reading.batch_max_frames (default 8)")
    b.add_argument("--wait-ms", type=float, default=2.0, help="reading.batch_max_wait_ms (default 2)")
    b.add_argument("--threads", type=int, default=1, help="reading.reading_threads (default 1)")
    b.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default cpu)")
    b.add_argument("--precision", default="fp32", help="reading.precision: fp32, bf16, int8 or auto (default fp32)")
    b.add_argument("--manifest", type=Path, help="plates manifest whose photos are pushed (default ../shared/data)")
    b.add_argument("--synthetic", action="store_true", help="push synthetic scenes even when real photos are there")
    _scratch_db_args(b)
    b.set_defaults(func=cmd_bench_pipeline)
    b = bsub.add_parser("alerts", help="latency hit stored -> alert on a WebSocket, at a fixed hit rate")
    b.add_argument("--rate", type=float, default=200, help="hits per second (default 200)")
    b.add_argument("--seconds", type=float, default=10, help="how long (default 10)")
    b.add_argument("--entries", type=int, default=10000, help="watchlist entries (default 10,000)")
    _scratch_db_args(b)
    b.set_defaults(func=cmd_bench_alerts)
    b = bsub.add_parser("passes", help="pass-level vs frame-level plate accuracy and duplicate alerts on a rendered video")
    b.add_argument("--seed", type=int, default=5, help="scenario seed (default 5, the one the tests use)")
    _scratch_db_args(b)
    b.set_defaults(func=cmd_bench_passes)
    from lapi.cli_investigations import add_parsers as add_investigation_parsers

    add_investigation_parsers(sub, bsub, client)  # case export/verify, bench stakeout (lapi/cli_investigations.py)
    b = bsub.add_parser("store", help="N synthetic reads: COPY vs per-row INSERT, 90-day plate history p50/p99, "
                        "convoy query, bytes per read (loads the server: see docs/scaling.md)")
    b.add_argument("--n", type=int, default=10_000_000, help="reads to load (default 10,000,000; 50,000,000 for the full run)")
    b.add_argument("--days", type=int, default=90, help="days of history the reads span (default 90)")
    b.add_argument("--cameras", type=int, default=400, help="cameras (default 400)")
    b.add_argument("--batch", type=int, default=50_000, help="reads per COPY transaction (default 50,000)")
    b.add_argument("--writers", type=int, default=2, help="connections streaming COPY batches at once (default 2)")
    b.add_argument("--insert-n", type=int, default=20_000, help="reads inserted one by one for the ratio (default 20,000)")
    b.add_argument("--frames-n", type=int, default=50_000, help="reads through Store.store_frames (default 50,000)")
    b.add_argument("--queries", type=int, default=400, help="plate history queries timed (default 400)")
    b.add_argument("--seed", type=int, default=10)
    _scratch_db_args(b)
    b.set_defaults(func=cmd_bench_store)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if getattr(args, "token", None):
        os.environ["LAPI_TOKEN"] = args.token
    args.func(args)


if __name__ == "__main__":
    main()
