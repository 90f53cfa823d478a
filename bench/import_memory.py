#!/usr/bin/env python
"""A catalog import's peak memory and time on a worker: a generated catalog (100,000 rows, about
31 MB as CSV and 45 MB as JSON, by default) imported by `catalog_import_task`, called directly in
this machine's Python as a worker calls it, and a small file's import timed a few times beside it.

    .venv/bin/python bench/import_memory.py                    # SQLite, in a temporary folder
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/h_import .venv/bin/python bench/import_memory.py
    .venv/bin/python bench/import_memory.py --rows 20000 --small-rows 500 --small-repeats 3
    .venv/bin/python bench/import_memory.py --formats json     # one format only (default: csv,json)

Memory is the peak resident set size of the process that runs the import (`resource.getrusage`,
`ru_maxrss`): the whole process, the interpreter, Django and the database driver included, not only
Python's allocations. Each import runs in a fresh process, so one import's peak is not another's: a
first process creates the tenant and the queued import with its kept file (as the upload does), a
second only runs the task, and its resident size before the task ("before") is printed beside the
peak. On PostgreSQL the database (created if missing) is migrated and keeps the bench's tenants.

Not a test: it is never collected by pytest, and prints a table to read.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlparse, urlunparse

REPO_ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
CATEGORIES = ("Grocery > Produce > Apples", "Home > Kitchen > Knives", "Garden > Tools", "Toys > Puzzles")
BRANDS = ("Orchard Co", "Leafy", "Blade & Sons", "Puzzler")
HEADER = ("external_id", "title", "description", "category", "brand", "price", "currency", "in_stock",
          "attributes", "attr_colour", "attr_origin")


def catalog_rows(rows: int, seed: int):
    """A storefront's catalog export's rows (HEADER's columns), SKUs in no particular order."""
    randomness = random.Random(seed)
    numbers = list(range(rows))
    randomness.shuffle(numbers)  # the upsert writes in SKU order: the file's must not be it already
    for n in numbers:
        yield (
            f"SKU-{n:08d}",
            f"Product {n} in {randomness.choice(('red', 'green', 'blue'))}, size {n % 12}",
            " ".join(randomness.choices(("crisp", "sweet", "sharp", "sturdy", "light", "fresh", "durable",
                                         "handmade", "organic", "classic"), k=22)),
            randomness.choice(CATEGORIES),
            randomness.choice(BRANDS),
            f"{randomness.uniform(0.5, 500):.2f}",
            "USD",
            randomness.choice(("true", "false")),
            json.dumps({"weight_g": randomness.randint(10, 5000), "tags": ["bench", str(n % 100)]}),
            randomness.choice(("red", "green", "blue")),
            randomness.choice(("NZ", "CN", "DE", "US")),
        )


def catalog_csv_write(path: Path, rows: int, seed: int) -> None:
    """About 330 bytes a row."""
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(HEADER)
        writer.writerows(catalog_rows(rows, seed))


def catalog_json_write(path: Path, rows: int, seed: int) -> None:
    """The same products as a JSON list, as the import reads it: typed values, the attributes an
    object (the attr_ columns in it), one product a line; about 410 bytes a row."""
    with path.open("w", encoding="utf-8") as file:
        file.write("[\n")
        for position, row in enumerate(catalog_rows(rows, seed)):
            product = dict(zip(HEADER[:8], row[:8]))
            product["price"] = float(product["price"])
            product["in_stock"] = product["in_stock"] == "true"
            product["attributes"] = {**json.loads(row[8]), "colour": row[9], "origin": row[10]}
            file.write(("," if position else "") + json.dumps(product) + "\n")
        file.write("]\n")


WRITERS = {"csv": catalog_csv_write, "json": catalog_json_write}


# Runs in a process of its own: the tenants and their queued imports, each with its kept file.
def prepare(file_path: str, count: int, file_format: str) -> list[dict]:
    from catalog.models import ImportStatus, ProductImport, ProductImportUpload
    from tenants.models import Tenant
    from tenants.scope import tenant_scope

    content = Path(file_path).read_bytes()
    queued = []
    for _n in range(count):
        slug = f"bench-import-{os.urandom(4).hex()}"
        tenant = Tenant.objects.create(name="Import bench", slug=slug)
        with tenant_scope(tenant):
            record = ProductImport.objects.create(
                tenant=tenant, filename=Path(file_path).name, file_format=file_format, status=ImportStatus.QUEUED
            )
            ProductImportUpload.objects.create(tenant=tenant, product_import=record, content=content)
        queued.append({"tenant_id": tenant.pk, "import_id": record.pk})
    return queued


def _resident_kb() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


# Runs in a process of its own: the queued imports, one after the other; what each took.
def measure(queued: list[dict]) -> dict:
    import resource
    import time

    from catalog.models import ProductImport
    from catalog.tasks import catalog_import_task

    before_kb = _resident_kb()
    seconds, cpu_seconds, outcomes = [], [], []
    for one in queued:
        started, cpu_started = time.perf_counter(), time.process_time()
        catalog_import_task(tenant_id=one["tenant_id"], import_id=one["import_id"], language="en")
        seconds.append(time.perf_counter() - started)
        cpu_seconds.append(time.process_time() - cpu_started)
        record = ProductImport.all_tenants.get(pk=one["import_id"])
        outcomes.append((record.status, record.row_count, record.created_count, record.error_count))
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes, on Linux
    return {
        "before_kb": before_kb, "peak_kb": peak_kb, "seconds": seconds, "cpu_seconds": cpu_seconds,
        "outcomes": outcomes,
    }


def _child(role: str, payload: dict, env: dict) -> dict:
    completed = subprocess.run(
        [PYTHON, __file__, "--child", role, json.dumps(payload)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True,
    )
    if completed.returncode != 0:
        raise SystemExit(f"{role} failed ({completed.returncode}):\n{completed.stderr}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _database_create_if_missing(database_url: str) -> None:
    import psycopg
    from psycopg import sql

    parsed = urlparse(database_url)
    name = parsed.path.lstrip("/")
    with psycopg.connect(urlunparse(parsed._replace(path="/postgres")), autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _run(file_path: Path, count: int, env: dict) -> dict:
    queued = _child("prepare", {"file": str(file_path), "count": count, "format": file_path.suffix[1:]}, env)
    return _child("measure", {"queued": queued}, env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the large file (default 100000)")
    parser.add_argument("--small-rows", type=int, default=1_000, help="rows of the small file (default 1000)")
    parser.add_argument("--small-repeats", type=int, default=5, help="imports of the small file (default 5)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--formats", default="csv,json", help="csv, json or csv,json (default)")
    args = parser.parse_args()
    formats = [name.strip() for name in args.formats.split(",") if name.strip()]
    if not formats or set(formats) - set(WRITERS):
        parser.error("--formats: csv, json or csv,json")

    with tempfile.TemporaryDirectory(prefix="import-bench-") as folder:
        folder = Path(folder)
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "platform_site.settings.local",
            "DEBUG": "false",  # DEBUG keeps every query's SQL in memory: not what a worker does
            "LOG_LEVEL": "WARNING",
            "PLATFORM_VAR_DIR": str(folder),  # SQLite's file, when no DATABASE_URL
        }
        database = "sqlite (temporary file)"
        if os.environ.get("DATABASE_URL"):
            _database_create_if_missing(os.environ["DATABASE_URL"])
            database = "postgresql " + urlparse(os.environ["DATABASE_URL"]).path.lstrip("/")
        subprocess.run([PYTHON, "manage.py", "migrate", "-v", "0"], cwd=REPO_ROOT, env=env, check=True)

        runs = []
        for file_format in formats:
            large, small = folder / f"large.{file_format}", folder / f"small.{file_format}"
            WRITERS[file_format](large, args.rows, args.seed)
            WRITERS[file_format](small, args.small_rows, args.seed)
            runs += [
                (f"large.{file_format}", large.stat().st_size, _run(large, 1, env)),
                (f"small.{file_format}", small.stat().st_size, _run(small, args.small_repeats, env)),
            ]

    print(f"database: {database}; memory: peak RSS of the importing process (ru_maxrss)")
    print(f"{'file':<10} {'rows':>8} {'file MB':>8} {'before MB':>10} {'peak RSS MB':>12} {'seconds':>8} "
          f"{'cpu s':>6}  outcome")
    for name, size, result in runs:
        # A small file's seconds: the median of its imports, each into a tenant of its own. "cpu s":
        # the importing process's CPU time (not the database's), steadier on a busy machine.
        status, row_count, created, errors = result["outcomes"][0]
        print(
            f"{name:<10} {row_count:>8,} {size / 1e6:>8.1f} "
            f"{result['before_kb'] / 1024:>10.0f} {result['peak_kb'] / 1024:>12.0f} "
            f"{statistics.median(result['seconds']):>8.2f} {statistics.median(result['cpu_seconds']):>6.2f}  "
            f"{status}, {created:,} created, {errors} errors"
            + (f" (median of {len(result['seconds'])}: {', '.join(f'{s:.2f}' for s in result['seconds'])})"
               if len(result["seconds"]) > 1 else "")
        )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        sys.path.insert(0, str(REPO_ROOT))
        import django

        django.setup()
        payload = json.loads(sys.argv[3])
        if sys.argv[2] == "prepare":
            print(json.dumps(prepare(payload["file"], payload["count"], payload["format"])))
        else:
            print(json.dumps(measure(payload["queued"])))
    else:
        main()
