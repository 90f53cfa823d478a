#!/usr/bin/env python
"""The storefront API under load: requests per second and latency of recommendations,
similar products and search, beside /healthz (the framework's floor) and the engine's
in-process time (the compute floor).

Self-contained: it creates (if missing) and migrates a PostgreSQL database, seeds the
demo tenant from The Complete Journey, trains a small model once (kept for later runs),
issues a publishable key, starts gunicorn with the production settings and the Redis
cache on a free local port, drives each endpoint from N keep-alive connections for a
fixed time, prints a Markdown table, and stops gunicorn.

    .venv/bin/python bench/serve.py                      # 32 connections, 15 s per endpoint
    .venv/bin/python bench/serve.py --seconds 5          # a quick check
    .venv/bin/python bench/serve.py --workers 3 --threads 4 --retrain

Not a test: it is never collected by pytest, and prints a table to read.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import numpy as np

# bench/ is on sys.path when this runs as a script: the ingest bench's setup helpers.
from ingest import database_create_if_missing, free_port, gunicorn_stop, manage, wait_until_healthy

REPO_ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/platform_bench_serve"
DEFAULT_CACHE_URL = "redis://127.0.0.1:6379/12"
SETTINGS_MODULE = "platform_site.settings.production"
# Kept between runs: the trained model's artifacts must outlive the run that made them.
VAR_DIR = REPO_ROOT / "var" / "bench-serve"
# A small budget on CPU (a few minutes on 2 cores): serving speed does not depend on how
# well the model was trained, only on the catalog and the model's arrays.
TRAIN_ARGUMENTS = (
    "--epochs", "1", "--set", "max_samples_per_epoch=128", "--set", "max_tokens=16", "--set", "device=cpu",
)
LIMIT = 10
SERVER_TIMEOUT_SECONDS = 120
ENGINE_SAMPLES = 1000
AIM_RATIO, AIM_P99_MS, AIM_CONNECTIONS = 0.5, 50.0, 32
ENDPOINT_NAMES = {
    "healthz": "GET /healthz",
    "recommendations": "GET /api/v1/recommendations",
    "similar": "GET /api/v1/products/<sku>/similar",
    "search": "GET /api/v1/search",
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=32, help="concurrent keep-alive connections (default 32)")
    parser.add_argument("--seconds", type=float, default=15.0, help="measured seconds per endpoint (default 15)")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds before each endpoint (default 3)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2: one per core)")
    parser.add_argument("--threads", type=int, default=8, help="threads per gunicorn worker, gthread (default 8)")
    parser.add_argument("--conn-max-age", type=int, default=60, help="CONN_MAX_AGE of the server (default 60)")
    parser.add_argument(
        "--throttle-rate", default="1000000/minute",
        help="API_SERVING_THROTTLE_RATE of the server (default 1000000/minute: never reached)",
    )
    parser.add_argument(
        "--households", type=int, default=None,
        help="households of the demo tenant when it is seeded (default: seed_demo's); an existing one is kept",
    )
    parser.add_argument(
        "--endpoints", nargs="+", choices=sorted(ENDPOINT_NAMES), default=sorted(ENDPOINT_NAMES),
        metavar="NAME", help=f"endpoints to drive (default all: {', '.join(ENDPOINT_NAMES)})",
    )
    parser.add_argument("--retrain", action="store_true", help="train a new model even if one is live")
    parser.add_argument(
        "--database-url", default=os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL),
        help=f"PostgreSQL database (default $DATABASE_URL or {DEFAULT_DATABASE_URL})",
    )
    parser.add_argument(
        "--cache-url", default=os.environ.get("CACHE_URL", DEFAULT_CACHE_URL),
        help=f"the server's cache (default $CACHE_URL or {DEFAULT_CACHE_URL})",
    )
    args = parser.parse_args()
    if min(args.connections, args.workers, args.threads) < 1 or args.seconds <= 0 or args.warmup < 0:
        parser.error("--connections, --workers, --threads and --seconds must be positive")
    return args


# --- setup: settings, database, demo tenant, model, key --------------------------------


def server_environment(args: argparse.Namespace) -> dict[str, str]:
    """The production settings, bound to this machine; the bench process uses them too."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
        "DATABASE_URL": args.database_url,
        "CACHE_URL": args.cache_url,
        # Per run: nothing measured here is signed with it (shopper ids use each tenant's own secret).
        "SECRET_KEY": secrets.token_urlsafe(50),
        # Plain HTTP on loopback: secure cookies would never be sent (the API uses none).
        "SECURE_COOKIES": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DEBUG": "false",
        "CONN_MAX_AGE": str(args.conn_max_age),
        # What is measured is serving, not the per-key limit (a product setting).
        "API_SERVING_THROTTLE_RATE": args.throttle_rate,
        "LOG_LEVEL": "WARNING",
        "PLATFORM_VAR_DIR": str(VAR_DIR),
    }


def stream(env: dict[str, str], *arguments: str, hide_after: str | None = None) -> None:
    """Run manage.py, showing its output as it comes (up to `hide_after`: printed secrets)."""
    process = subprocess.Popen(
        [PYTHON, "manage.py", *arguments], cwd=REPO_ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    hiding = False
    for line in process.stdout:
        hiding = hiding or (hide_after is not None and line.startswith(hide_after))
        if not hiding:
            print(f"  {line.rstrip()}", flush=True)
    if process.wait() != 0:
        raise SystemExit(f"manage.py {arguments[0]} failed ({process.returncode})")


def demo_prepare(env: dict[str, str], args: argparse.Namespace):
    """The demo tenant with a live model whose artifacts exist; trains one when needed."""
    from catalog.demo import DEMO_SLUG
    from tenants.models import Tenant
    from tenants.scope import tenant_scope
    from training.models import ModelVersion, VersionStatus
    from training.services.versions import model_version_promote

    households = [] if args.households is None else ["--households", str(args.households)]
    print("Seeding the demo tenant (if missing)...", flush=True)
    stream(env, "seed_demo", "--if-missing", *households, hide_after="API keys")
    tenant = Tenant.objects.get(slug=DEMO_SLUG)
    with tenant_scope(tenant):
        live = ModelVersion.objects.filter(status=VersionStatus.LIVE).first()
        if live is not None and Path(live.artifact_path).is_dir() and not args.retrain:
            print(f"Model v{live.number} is live: no training (--retrain forces it)", flush=True)
            return tenant, live
        print(f"Training a model: manage.py train --tenant {DEMO_SLUG} --here {' '.join(TRAIN_ARGUMENTS)}", flush=True)
        stream(env, "train", "--tenant", DEMO_SLUG, "--here", *TRAIN_ARGUMENTS)
        newest = ModelVersion.objects.order_by("-number").first()
        if newest.status != VersionStatus.LIVE:  # not better than the live one: this run serves it anyway
            newest = model_version_promote(tenant=tenant, version_id=newest.pk)
            print(f"Promoted v{newest.number}", flush=True)
        return tenant, newest


@dataclass
class Workload:
    shopper_ids: list[str]
    skus: list[str]
    queries: list[str]
    products: int


def workload_collect(tenant, seed: int = 8451) -> Workload:
    """Real shoppers, SKUs and queries of the demo tenant. Events hold only HMAC keys of the
    shopper ids: the raw ids are the Complete Journey households whose key is among them."""
    from catalog import demo
    from catalog.models import Event, Product
    from tenants.scope import tenant_scope

    with tenant_scope(tenant):
        keys = set(Event.objects.values_list("shopper_key", flat=True).distinct())
        bought = list(Event.objects.values_list("product_external_id", flat=True).distinct())
        titles = list(Product.objects.values_list("title", flat=True))
    # seed_demo loads the first N households of a fixed permutation: N is at most the shoppers seen.
    households = demo.sample_households(len(keys))
    shopper_ids = [str(h) for h in households if tenant.pseudonymise_shopper(str(h)) in keys]
    rng = random.Random(seed)
    rng.shuffle(shopper_ids)
    skus = rng.sample(sorted(bought), min(2000, len(bought)))
    queries = []
    for title in rng.sample(titles, min(2000, len(titles))):
        words = [w for w in re.findall(r"[a-z]+", title.lower()) if len(w) > 2]
        if words:
            queries.append(" ".join(words[: rng.choice((1, 2))]))
    if not shopper_ids:
        raise SystemExit("No demo household matches the tenant's shopper keys")
    return Workload(shopper_ids, skus, sorted(set(queries)), len(titles))


# --- the engine in-process: the compute floor ------------------------------------------


def _timed_ms(calls) -> list[float]:
    timings = []
    for call in calls:
        started = time.perf_counter()
        call()
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def engine_timings(tenant, shopper_ids: list[str]) -> dict[str, list[float]]:
    """recommendation_list() as the view calls it (state, catalog, history query, scoring,
    filters, top-k), and its numpy core alone, for the same shoppers."""
    from recommendations.engine.ranking import top_k
    from recommendations.selectors.recommendations import recommendation_list
    from recommendations.selectors.shoppers import shopper_history
    from recommendations.serving import serving_catalog, serving_model, serving_state
    from tenants.scope import tenant_scope

    order = [shopper_ids[i % len(shopper_ids)] for i in range(ENGINE_SAMPLES)]
    with tenant_scope(tenant):
        state = serving_state(tenant=tenant)
        catalog = serving_catalog(tenant=tenant, state=state)
        model = serving_model(tenant=tenant, version=state.live)
        if model is None:
            raise SystemExit(f"The live model ({state.live}) cannot be loaded")
        histories = {s: shopper_history(tenant=tenant, shopper_id=s).items for s in shopper_ids}
        for shopper_id in shopper_ids[:20]:  # warm: the model's alignment to the catalog, masks
            recommendation_list(tenant=tenant, shopper_id=shopper_id, limit=LIMIT)
        full = _timed_ms(
            lambda s=s: recommendation_list(tenant=tenant, shopper_id=s, limit=LIMIT) for s in order
        )
        core = _timed_ms(
            lambda s=s: top_k(model.to_catalog(model.shopper_scores(histories[s]), catalog), catalog.in_stock, LIMIT)
            for s in order
        )
    return {"engine: recommendation_list()": full, "engine: shopper_scores + top_k (numpy)": core}


# --- the server ---------------------------------------------------------------------------


def gunicorn_start(env: dict[str, str], args: argparse.Namespace, port: int) -> subprocess.Popen:
    command = [
        PYTHON, "-m", "gunicorn", "platform_site.wsgi:application",
        "--bind", f"127.0.0.1:{port}", "--worker-class", "gthread",
        "--workers", str(args.workers), "--threads", str(args.threads), "--preload",
        "--timeout", str(SERVER_TIMEOUT_SECONDS), "--log-level", "warning",
    ]
    # Its own process group, so stopping it reaches every worker.
    return subprocess.Popen(command, cwd=REPO_ROOT, env=env, start_new_session=True)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return sorted(found)


def _machine_busy_seconds() -> float:
    """CPU seconds all cores spent not idle since boot (/proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """Where the machine's CPU went during a run: gunicorn's workers, this client, the rest."""

    def __init__(self, server_pid: int):
        self.workers = _children(server_pid)
        self.started = (self._workers(), time.process_time(), _machine_busy_seconds(), time.perf_counter())

    def _workers(self) -> list[float]:
        return [_cpu_seconds(pid) for pid in self.workers]

    def stop(self) -> dict[str, object]:
        workers, client, busy, wall = self.started
        elapsed = time.perf_counter() - wall
        per_worker = [(now - then) / elapsed for now, then in zip(self._workers(), workers)]
        client_cores = (time.process_time() - client) / elapsed
        machine = (_machine_busy_seconds() - busy) / elapsed
        return {"workers": per_worker, "client": client_cores, "other": machine - sum(per_worker) - client_cores,
                "machine": machine}


# --- the load: asyncio keep-alive connections --------------------------------------------


@dataclass
class LoadResult:
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    model_ranked: int = 0
    connection_errors: int = 0
    first_error: str = ""
    seconds: float = 0.0
    cpu: dict = field(default_factory=dict)
    redis_connections: int | None = None  # opened by anyone while it ran

    @property
    def errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status != 200) + self.connection_errors


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, keep-alive) of one HTTP/1.1 response."""
    head = (await reader.readuntil(b"\r\n\r\n")).lower()
    status = int(head[9:12])
    start = head.find(b"\r\ncontent-length:")
    if start >= 0:
        body = await reader.readexactly(int(head[start + 17 : head.index(b"\r\n", start + 2)]))
    elif b"\r\ntransfer-encoding: chunked" in head:
        chunks = []
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            chunks.append((await reader.readexactly(size + 2))[:-2])
        await reader.readuntil(b"\r\n")
        body = b"".join(chunks)
    else:
        return status, await reader.read(), False
    return status, body, b"\r\nconnection: close" not in head


async def _connection(port: int, requests: list[bytes], offset: int, deadline: float, result: LoadResult,
                      streams) -> None:
    reader, writer = streams
    position = offset
    while time.perf_counter() < deadline:
        request = requests[position % len(requests)]
        position += 1
        started = time.perf_counter()
        try:
            writer.write(request)
            status, body, keep_alive = await _read_response(reader)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as error:
            result.connection_errors += 1
            result.first_error = result.first_error or f"{type(error).__name__}: {error}"
            keep_alive = False
        else:
            result.latencies_ms.append((time.perf_counter() - started) * 1000)
            result.statuses[status] += 1
            result.model_ranked += b'"fallback":false' in body
            if status != 200 and not result.first_error:
                result.first_error = f"HTTP {status}: {body[:200].decode(errors='replace')}"
        if not keep_alive:
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.close()


async def drive(port: int, requests: list[bytes], connections: int, seconds: float) -> LoadResult:
    """Send the requests round-robin over `connections` keep-alive connections for `seconds`."""
    streams = await asyncio.gather(*(asyncio.open_connection("127.0.0.1", port) for _ in range(connections)))
    result = LoadResult()
    started = time.perf_counter()
    spacing = max(1, len(requests) // connections)  # each connection starts elsewhere in the rotation
    await asyncio.gather(*(
        _connection(port, requests, n * spacing, started + seconds, result, stream)
        for n, stream in enumerate(streams)
    ))
    result.seconds = time.perf_counter() - started
    return result


def requests_for(paths: list[str], port: int, key: str) -> list[bytes]:
    """Every request encoded once: the client shares the cores with the server."""
    return [
        (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {key}\r\n"
         "Accept: application/json\r\n\r\n").encode()
        for path in paths
    ]


def endpoint_paths(workload: Workload) -> dict[str, list[str]]:
    return {
        "GET /healthz": ["/healthz"],
        "GET /api/v1/recommendations": [
            f"/api/v1/recommendations?shopper_id={quote(s)}&limit={LIMIT}" for s in workload.shopper_ids
        ],
        "GET /api/v1/products/<sku>/similar": [
            f"/api/v1/products/{quote(sku, safe='')}/similar?limit={LIMIT}" for sku in workload.skus
        ],
        "GET /api/v1/search": [f"/api/v1/search?q={quote(q)}&limit={LIMIT}" for q in workload.queries],
    }


class RedisConnectionCounter:
    """Connections the cache's Redis accepted: a request should reuse its worker's, not open one."""

    def __init__(self, cache_url: str):
        import redis

        self.client = redis.Redis.from_url(cache_url) if cache_url.startswith("redis") else None

    def __call__(self) -> int | None:
        return None if self.client is None else int(self.client.info("stats")["total_connections_received"])


def measure_all(server: subprocess.Popen, port: int, key: str, workload: Workload, args) -> dict[str, LoadResult]:
    results = {}
    redis_connections = RedisConnectionCounter(args.cache_url)
    chosen = {ENDPOINT_NAMES[short] for short in args.endpoints}
    for name, paths in endpoint_paths(workload).items():
        if name not in chosen:
            continue
        requests = requests_for(paths, port, key)
        if args.warmup:
            asyncio.run(drive(port, requests, args.connections, args.warmup))
        meter, connections_before = CpuMeter(server.pid), redis_connections()
        result = asyncio.run(drive(port, requests, args.connections, args.seconds))
        result.cpu = meter.stop()
        if connections_before is not None:
            result.redis_connections = redis_connections() - connections_before
        results[name] = result
        print(f"  {name}: {len(result.latencies_ms) / result.seconds:,.0f} requests/s, "
              f"{result.errors} errors", flush=True)
    return results


# --- the report ------------------------------------------------------------------------


def _percentiles(values_ms: list[float]) -> tuple[float, float, float]:
    if not values_ms:
        return (float("nan"),) * 3
    return tuple(float(v) for v in np.percentile(values_ms, [50, 95, 99]))


def report(results: dict[str, LoadResult], engine: dict[str, list[float]], facts: list[str], args) -> None:
    print("\n" + "\n".join(facts) + "\n")
    print("| endpoint | connections | requests/s | p50 ms | p95 ms | p99 ms | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, result in results.items():
        p50, p95, p99 = _percentiles(result.latencies_ms)
        rate = len(result.latencies_ms) / result.seconds
        print(f"| {name} | {args.connections} | {rate:,.0f} | {p50:.1f} | {p95:.1f} | {p99:.1f} | {result.errors} |")
    for name, timings in engine.items():
        p50, p95, p99 = _percentiles(timings)
        rate = 1000 / float(np.mean(timings))
        print(f"| {name} | 1 (in-process) | {rate:,.0f} | {p50:.2f} | {p95:.2f} | {p99:.2f} | - |")

    print(f"\nWhere the CPU went during each measured run (cores, of {os.cpu_count()}), Redis connections "
          "opened per request, and the share of answers ranked by the model:\n")
    print("| endpoint | gunicorn workers | worker CPU ms / request | bench client | PostgreSQL, Redis, other "
          "| Redis connects / request | model-ranked |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, result in results.items():
        cpu = result.cpu
        workers = " + ".join(f"{w:.2f}" for w in cpu["workers"])
        answered = max(1, result.statuses[200])
        ranked = "-" if name == "GET /healthz" else f"{result.model_ranked / answered:.0%}"
        requests = max(1, len(result.latencies_ms))
        per_request = 1000 * sum(cpu["workers"]) * result.seconds / requests
        connects = "n/a" if result.redis_connections is None else f"{result.redis_connections / requests:.2f}"
        print(f"| {name} | {workers} | {per_request:.1f} | {cpu['client']:.2f} | {cpu['other']:.2f} | {connects} "
              f"| {ranked} |")
    for name, result in results.items():
        if result.first_error:
            print(f"\nFirst error of {name}: {result.first_error}")
    print("\n" + aim_line(results, args))


def aim_line(results: dict[str, LoadResult], args) -> str:
    floor, served = results.get("GET /healthz"), results.get("GET /api/v1/recommendations")
    if floor is None or served is None:
        return "Aim: n/a (needs the healthz and recommendations endpoints)"
    floor_rate = len(floor.latencies_ms) / floor.seconds
    rate = len(served.latencies_ms) / served.seconds
    p99 = _percentiles(served.latencies_ms)[2]
    met = rate >= AIM_RATIO * floor_rate and p99 <= AIM_P99_MS and args.connections == AIM_CONNECTIONS
    aim = (f"recommendations requests/s >= {AIM_RATIO} x /healthz requests/s and p99 <= {AIM_P99_MS:.0f} ms "
           f"at {AIM_CONNECTIONS} connections")
    measured = (f"{rate:,.0f} req/s = {rate / floor_rate:.2f} x /healthz ({floor_rate:,.0f} req/s), "
                f"p99 {p99:.1f} ms at {args.connections} connections")
    return f"Aim: {aim}: **{'met' if met else 'not met'}** ({measured})"


# --- main ---------------------------------------------------------------------------------


def run_facts(args, workload: Workload, version) -> list[str]:
    """What was measured, and how: printed above the tables."""
    # platform_site/wsgi.py limits every web process to one BLAS thread.
    blas_threads = "1 (platform_site/wsgi.py)"
    return [
        (f"- settings: `{SETTINGS_MODULE}` (DEBUG off, CONN_MAX_AGE={args.conn_max_age}), PostgreSQL "
         f"`{args.database_url}`, cache `{args.cache_url}`"),
        (f"- serving throttle raised to `{args.throttle_rate}` (API_SERVING_THROTTLE_RATE) so that it never "
         "answers 429: the limit is a product setting, not what is measured"),
        (f"- gunicorn: {args.workers} workers x {args.threads} threads (gthread), --preload, on 127.0.0.1; "
         f"{os.cpu_count()} cores shared with PostgreSQL, Redis and this asyncio client; BLAS threads per "
         f"process: {blas_threads}"),
        (f"- catalog: {workload.products:,} products; model v{version.number} ({version.method}, "
         f"{base_model_label(version.base_model)}), live"),
        (f"- rotated: {len(workload.shopper_ids)} shoppers, {len(workload.skus):,} SKUs, "
         f"{len(workload.queries):,} queries (words of titles); limit={LIMIT}; "
         f"{args.warmup:g} s warm-up + {args.seconds:g} s per endpoint"),
    ]


def base_model_label(path: str) -> str:
    """The packaged MiniLM lives in <package>/model: name the package."""
    folder = Path(path)
    return folder.parent.name if folder.name == "model" else folder.name


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def setup(args) -> tuple[dict[str, str], object, object, Workload, str]:
    env = server_environment(args)
    (VAR_DIR / "staticfiles").mkdir(parents=True, exist_ok=True)  # WhiteNoise warns when it is missing
    database_create_if_missing(args.database_url)
    print("Migrating...", flush=True)
    manage(env, "migrate", "--noinput")
    os.environ.update(env)  # this process reads the same database and cache as the server
    sys.path.insert(0, str(REPO_ROOT))
    import django

    django.setup()
    from tenants.models import ApiKeyKind
    from tenants.services import api_key_issue

    tenant, version = demo_prepare(env, args)
    workload = workload_collect(tenant)
    key = api_key_issue(tenant=tenant, kind=ApiKeyKind.PUBLISHABLE, name="serve bench").key
    return env, tenant, version, workload, key


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` and `timeout`: stop gunicorn then too
    server = None
    try:
        env, tenant, version, workload, key = setup(args)
        print(f"Timing the engine in-process ({ENGINE_SAMPLES} calls each)...", flush=True)
        engine = engine_timings(tenant, workload.shopper_ids)
        port = free_port()
        server = gunicorn_start(env, args, port)
        wait_until_healthy(f"http://127.0.0.1:{port}", server)
        print(f"Driving 127.0.0.1:{port}: {args.connections} connections, {args.warmup:g} s warm-up "
              f"+ {args.seconds:g} s per endpoint...", flush=True)
        results = measure_all(server, port, key, workload, args)
    except KeyboardInterrupt:
        print("Interrupted.")
        return 130
    finally:
        if server is not None:
            gunicorn_stop(server)
    report(results, engine, run_facts(args, workload, version), args)
    return 1 if any(result.errors for result in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
