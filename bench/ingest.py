#!/usr/bin/env python
"""Event ingestion through the HTTP API, end to end: how many events per second
`POST /api/v1/events` stores, and whether every accepted event was stored.

By default it is self-contained: it creates (if missing) and migrates a
PostgreSQL database, creates a bench tenant with its keys and a catalog,
starts gunicorn with the production settings on a free local port, sends the
events from several client threads, counts what was stored, prints a table,
and stops gunicorn. With --url and --key it targets a server that is already
running instead, and does no setup.

    .venv/bin/python bench/ingest.py                  # 200,000 events, 8 threads
    .venv/bin/python bench/ingest.py --events 20000   # a quick check
    .venv/bin/python bench/ingest.py --url http://127.0.0.1:8000 --key sk_...

Not a test: it is never collected by pytest, and prints a table to read.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import secrets
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from tempfile import TemporaryDirectory
from urllib.parse import urlparse, urlunparse

import psycopg
from psycopg import sql
import requests

REPO_ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/platform_bench"
EVENTS_PATH = "/api/v1/events"
# The event mix of a storefront: mostly views, few purchases.
EVENT_TYPE_WEIGHTS = {"view": 70, "click": 15, "add_to_cart": 10, "purchase": 5}
SHOPPERS = 20_000
# Events are spread over the past week; never in the future (the API refuses clock skew).
EVENT_WINDOW = timedelta(days=7)
SERVER_START_TIMEOUT_SECONDS = 60
REQUEST_TIMEOUT_SECONDS = 120


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000, help="events to send (default 200000)")
    parser.add_argument("--batch", type=int, default=1000, help="events per request (default 1000)")
    parser.add_argument("--threads", type=int, default=8, help="concurrent client threads (default 8)")
    parser.add_argument(
        "--workers",
        type=int,
        default=2 * (os.cpu_count() or 1) + 1,
        help="gunicorn workers (default 2 x cores + 1, gunicorn's own advice)",
    )
    parser.add_argument("--products", type=int, default=2000, help="catalog size to create (default 2000)")
    parser.add_argument("--url", help="base URL of a running server: skip all setup (needs --key)")
    parser.add_argument("--key", help="a secret API key of the tenant to send events to (with --url)")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL),
        help="PostgreSQL database for the self-contained run, and to count stored events "
        f"(default $DATABASE_URL or {DEFAULT_DATABASE_URL})",
    )
    args = parser.parse_args()
    if bool(args.url) != bool(args.key):
        parser.error("--url and --key go together")
    if args.url and urlparse(args.url).hostname not in {"127.0.0.1", "localhost"}:
        parser.error("the benchmark sends requests to this machine only (127.0.0.1 or localhost)")
    if min(args.events, args.batch, args.threads, args.workers, args.products) < 1:
        parser.error("--events, --batch, --threads, --workers and --products must be at least 1")
    return args


# --- setup: database, tenant, catalog, server -------------------------------------------


def server_environment(database_url: str, var_dir: str) -> dict[str, str]:
    """What a production deployment sets, bound to this machine."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "platform_site.settings.production",
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_urlsafe(50),
        # No TLS in front of the local server: secure cookies would never be sent.
        "SECURE_COOKIES": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "CONN_MAX_AGE": "60",
        # The benchmark measures ingestion, not the per-key rate limit, which is
        # per process here (local-memory cache) and would stop it at 600 requests a minute.
        "API_THROTTLE_RATE": "1000000/minute",
        "LOG_LEVEL": "WARNING",
        # Broker files and anything else written under var/ stay out of the checkout.
        "PLATFORM_VAR_DIR": var_dir,
    }


def database_create_if_missing(database_url: str) -> None:
    parsed = urlparse(database_url)
    name = parsed.path.lstrip("/")
    maintenance_url = urlunparse(parsed._replace(path="/postgres"))
    with psycopg.connect(maintenance_url, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            # Identifiers cannot be query parameters; psycopg.sql quotes the name.
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"Created database {name}")


def manage(env: dict[str, str], *arguments: str) -> str:
    completed = subprocess.run(
        [PYTHON, "manage.py", *arguments], cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )
    if completed.returncode != 0:
        raise SystemExit(
            f"manage.py {shlex.join(arguments[:2])} failed ({completed.returncode}):\n{completed.stderr}"
        )
    return completed.stdout


# Runs inside `manage.py shell`: the catalog the events refer to, in bulk.
CREATE_PRODUCTS = """
import os
from catalog.models import Product
from tenants.models import Tenant
tenant = Tenant.objects.get(slug=os.environ["BENCH_TENANT_SLUG"])
count = int(os.environ["BENCH_PRODUCTS"])
Product.all_tenants.bulk_create(
    [
        Product(tenant=tenant, external_id=f"BENCH-{n:05d}", title=f"Bench product {n}",
                category="Bench > Products", price=f"{1 + n % 50}.99", currency="USD")
        for n in range(count)
    ],
    batch_size=1000,
)
"""

# Runs inside `manage.py shell`: how many of this run's events are stored.
COUNT_STORED_EVENTS = """
import os
from catalog.models import Event
from tenants.selectors import api_key_from_presented
api_key = api_key_from_presented(os.environ["BENCH_API_KEY"])
print(Event.all_tenants.filter(
    tenant=api_key.tenant, event_id__startswith=os.environ["BENCH_EVENT_ID_PREFIX"]
).count())
"""


def bench_tenant_create(env: dict[str, str], products: int) -> str:
    """A new tenant for this run, with its catalog; returns its secret key."""
    slug = f"bench-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
    created = json.loads(
        manage(env, "create_tenant", slug, "--owner", "bench@example.com", "--name", "Ingest bench", "--json")
    )
    catalog_env = {**env, "BENCH_TENANT_SLUG": slug, "BENCH_PRODUCTS": str(products)}
    manage(catalog_env, "shell", "-c", CREATE_PRODUCTS)
    print(f"Tenant {slug} with {products} products")
    return created["secret_key"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def gunicorn_start(env: dict[str, str], workers: int, port: int) -> subprocess.Popen:
    command = [
        PYTHON, "-m", "gunicorn", "platform_site.wsgi:application",
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
        "--timeout", str(REQUEST_TIMEOUT_SECONDS), "--log-level", "warning",
    ]
    # Its own process group, so stopping it reaches every worker.
    return subprocess.Popen(command, cwd=REPO_ROOT, env=env, start_new_session=True)


def gunicorn_stop(server: subprocess.Popen) -> None:
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)  # gunicorn's graceful shutdown
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def wait_until_healthy(base_url: str, server: subprocess.Popen | None) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server is not None and server.poll() is not None:
            raise SystemExit(f"gunicorn exited with status {server.returncode} before answering")
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return
        time.sleep(0.3)
    raise SystemExit(f"{base_url}/healthz did not answer within {SERVER_START_TIMEOUT_SECONDS} s")


# --- the load ----------------------------------------------------------------------------


def request_bodies(
    *, events: int, batch: int, products: int, event_id_prefix: str
) -> list[tuple[int, bytes]]:
    """Every request body, encoded before the clock starts: the client's CPU
    (on the same machine as the server) should not be part of the measurement."""
    rng = random.Random(20170101)
    types, weights = zip(*EVENT_TYPE_WEIGHTS.items())
    now = datetime.now(timezone.utc)
    bodies = []
    for start in range(0, events, batch):
        batch_events = []
        for number in range(start, min(start + batch, events)):
            event_type = rng.choices(types, weights)[0]
            quantity = rng.randint(1, 3) if event_type in {"add_to_cart", "purchase"} else 1
            batch_events.append({
                "event_id": f"{event_id_prefix}{number}",
                "shopper_id": f"shopper-{rng.randrange(SHOPPERS)}",
                "type": event_type,
                "product": f"BENCH-{rng.randrange(products):05d}",
                "timestamp": (now - rng.random() * EVENT_WINDOW).isoformat(),
                "quantity": quantity,
                "value": f"{quantity * rng.uniform(1, 50):.2f}" if event_type == "purchase" else "0",
            })
        bodies.append((len(batch_events), json.dumps({"events": batch_events}).encode()))
    return bodies


@dataclass
class BatchResult:
    sent: int
    status: int
    seconds: float
    # The API's own account of the batch: {"accepted", "duplicates", "rejected", "errors"}.
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    error: str = ""


def batch_result(response: requests.Response, sent: int, seconds: float) -> BatchResult:
    if not response.ok:
        return BatchResult(sent, response.status_code, seconds, error=" ".join(response.text.split())[:300])
    body = response.json()
    errors = body.get("errors") or []
    return BatchResult(
        sent, response.status_code, seconds,
        accepted=body["accepted"], duplicates=body["duplicates"], rejected=body["rejected"],
        error=json.dumps(errors[0]) if errors else "",
    )


def send_all(
    base_url: str, key: str, bodies: list[tuple[int, bytes]], threads: int
) -> tuple[list[BatchResult], float]:
    """Every batch, `threads` at a time; the results and the wall time of the whole."""
    local = threading.local()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def send(sent: int, body: bytes) -> BatchResult:
        # One Session per thread: keep-alive connections, no sharing across threads.
        if not hasattr(local, "session"):
            local.session = requests.Session()
            local.session.headers.update(headers)
        started = time.perf_counter()
        try:
            response = local.session.post(
                f"{base_url}{EVENTS_PATH}", data=body, timeout=REQUEST_TIMEOUT_SECONDS
            )
        except requests.RequestException as error:
            seconds = time.perf_counter() - started
            return BatchResult(sent, 0, seconds, error=f"{type(error).__name__}: {error}")
        return batch_result(response, sent, time.perf_counter() - started)

    results = []
    executor = ThreadPoolExecutor(max_workers=threads)
    started = time.perf_counter()
    try:
        futures = [executor.submit(send, sent, body) for sent, body in bodies]
        for done, future in enumerate(as_completed(futures), start=1):
            results.append(future.result())
            if done % max(1, len(futures) // 10) == 0:
                print(f"  {done}/{len(futures)} batches", flush=True)
    finally:
        # On Ctrl-C: drop the batches not started yet instead of sending them all.
        executor.shutdown(wait=True, cancel_futures=True)
    return results, time.perf_counter() - started


def stored_event_count(env: dict[str, str], key: str, event_id_prefix: str) -> int:
    count_env = {**env, "BENCH_API_KEY": key, "BENCH_EVENT_ID_PREFIX": event_id_prefix}
    output = manage(count_env, "shell", "-c", COUNT_STORED_EVENTS)
    return int(output.strip().splitlines()[-1])


def print_table(rows: list[tuple[str, str]]) -> None:
    width = max(len(label) for label, _value in rows)
    value_width = max(len(value) for _label, value in rows)
    rule = f"+-{'-' * width}-+-{'-' * value_width}-+"
    print(rule)
    for label, value in rows:
        print(f"| {label:<{width}} | {value:>{value_width}} |")
    print(rule)


def percentile(values: list[float], fraction: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(fraction * 100) - 1]


def report(args, results: list[BatchResult], seconds: float, stored: int | None, workers: str) -> None:
    def total(attribute: str) -> int:
        return sum(getattr(result, attribute) for result in results)

    accepted = total("accepted")
    latencies_ms = [result.seconds * 1000 for result in results]
    failures = [result for result in results if not 200 <= result.status < 300]
    print_table([
        ("events sent", f"{total('sent'):,}"),
        ("events accepted", f"{accepted:,}"),
        ("duplicates / rejected", f"{total('duplicates'):,} / {total('rejected'):,}"),
        ("events stored", "n/a" if stored is None else f"{stored:,}"),
        ("accepted == stored", "n/a" if stored is None else ("yes" if stored == accepted else "NO")),
        ("failed batches", f"{len(failures)}"),
        ("seconds", f"{seconds:.1f}"),
        ("events/s (accepted)", f"{accepted / seconds:,.0f}"),
        ("batch latency p50 ms", f"{percentile(latencies_ms, 0.50):.0f}"),
        ("batch latency p95 ms", f"{percentile(latencies_ms, 0.95):.0f}"),
        ("events per batch", f"{args.batch}"),
        ("gunicorn workers", workers),
        ("client threads", f"{args.threads}"),
    ])
    if failures:
        print(f"First failed batch: HTTP {failures[0].status} {failures[0].error}")
    refused = next((result for result in results if result.rejected), None)
    if refused:
        print(f"First refused event: {refused.error}")


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main() -> int:
    args = parse_args()
    # `kill` and `timeout` send SIGTERM: stop gunicorn then too, as on Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    # Unique per run: the count finds exactly this run's events, even in a reused tenant.
    event_id_prefix = f"bench-{secrets.token_hex(4)}-"
    server = None
    with TemporaryDirectory(prefix="platform-bench-") as var_dir:
        # WhiteNoise warns at every start when the static root is missing; the API needs no static files.
        Path(var_dir, "staticfiles").mkdir()
        env = server_environment(args.database_url, var_dir)
        try:
            if args.url:
                base_url, key, workers = args.url.rstrip("/"), args.key, "(external)"
                server_started = None
            else:
                database_create_if_missing(args.database_url)
                print("Migrating...", flush=True)
                manage(env, "migrate", "--noinput")
                key = bench_tenant_create(env, args.products)
                port = free_port()
                base_url, workers = f"http://127.0.0.1:{port}", str(args.workers)
                server = server_started = gunicorn_start(env, args.workers, port)
                print(f"gunicorn: {args.workers} workers on {base_url}", flush=True)
            wait_until_healthy(base_url, server_started)

            bodies = request_bodies(
                events=args.events, batch=args.batch, products=args.products, event_id_prefix=event_id_prefix
            )
            print(
                f"Sending {args.events:,} events in {len(bodies)} batches from {args.threads} threads...",
                flush=True,
            )
            results, seconds = send_all(base_url, key, bodies, args.threads)
        except KeyboardInterrupt:
            print("Interrupted.")
            return 130
        finally:
            if server is not None:
                gunicorn_stop(server)

        # Against an external server, its database is known only if DATABASE_URL says so.
        can_count = not args.url or "DATABASE_URL" in os.environ
        stored = stored_event_count(env, key, event_id_prefix) if can_count else None
        report(args, results, seconds, stored, workers)
        return 0 if stored is None or stored == sum(result.accepted for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
