"""A catalog file is imported by a worker: the upload answers at once, the import's page follows
its progress row by row, and an import whose worker is lost ends, with the reason."""
import re
import time
from datetime import timedelta

import pytest
import yaml
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.timesince import timesince
from kombu.exceptions import OperationalError

from catalog import tasks
from catalog.models import ImportStatus, Product, ProductImport, ProductImportUpload
from catalog.services import imports as import_services
from catalog.services import products as product_services
from catalog.services.imports import catalog_imports_lost_fail
from tenants.scope import tenant_scope
from tests.catalog.conftest import queued_and_run

IMPORTS = "/api/v1/catalog/imports"
FIVE_PRODUCTS = b"external_id,title\n" + b"".join(f"SKU-{n},Tea {n}\n".encode() for n in range(5))


def _file(content: bytes = FIVE_PRODUCTS, name: str = "catalog.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, "text/csv")


def _queued(client, content: bytes = FIVE_PRODUCTS) -> dict:
    """Upload a file without running its import (no worker yet): the API's answer."""
    response = client.post(IMPORTS, {"file": _file(content)}, format="multipart")
    assert response.status_code == 202, response.content
    return response.json()


def _import(tenant, import_id: int) -> ProductImport:
    with tenant_scope(tenant):
        return ProductImport.objects.get(pk=import_id)


def _product_count(tenant) -> int:
    with tenant_scope(tenant):
        return Product.objects.count()


def test_an_upload_is_answered_at_once_with_the_queued_import_and_its_address(secret_client, tenant):
    queued = _queued(secret_client)

    assert queued["status"] == ImportStatus.QUEUED
    assert (queued["row_count"], queued["rows_checked"]) == (0, 0)
    assert _product_count(tenant) == 0
    with tenant_scope(tenant):
        assert ProductImportUpload.objects.filter(product_import_id=queued["id"]).exists()  # kept for the worker


def test_the_worker_imports_the_file_kept_for_it_and_then_lets_it_go(secret_client, tenant):
    response = queued_and_run(lambda: secret_client.post(IMPORTS, {"file": _file()}, format="multipart"))
    assert response["Location"] == f"{IMPORTS}/{response.json()['id']}"

    done = secret_client.get(response["Location"]).json()
    assert done["status"] == ImportStatus.SUCCEEDED
    assert (done["row_count"], done["rows_checked"], done["created_count"]) == (5, 5, 5)
    assert done["started_at"] and done["finished_at"]
    assert _product_count(tenant) == 5
    with tenant_scope(tenant):
        assert not ProductImportUpload.objects.exists()


def test_a_running_import_writes_how_many_rows_are_checked_as_it_goes(secret_client, tenant, monkeypatch):
    monkeypatch.setattr(product_services, "ROWS_PER_PROGRESS_REPORT", 2)
    monkeypatch.setattr(tasks, "IMPORT_PROGRESS_EVERY", timedelta(0))
    import_id = _queued(secret_client)["id"]
    seen = []
    real_run = tasks.catalog_import_stored

    def run_and_watch(*, import_id, on_progress):
        def report(rows_checked, row_count):
            on_progress(rows_checked, row_count)
            seen.append(ProductImport.objects.values_list("status", "rows_checked", "row_count").get(pk=import_id))

        return real_run(import_id=import_id, on_progress=report)

    monkeypatch.setattr(tasks, "catalog_import_stored", run_and_watch)
    tasks.catalog_import_task.apply(kwargs={"tenant_id": tenant.pk, "import_id": import_id, "language": "en"})

    assert seen == [("running", 0, 5), ("running", 2, 5), ("running", 4, 5), ("running", 5, 5)]
    assert _import(tenant, import_id).status == ImportStatus.SUCCEEDED


def _page_of_a_running_import(client, tenant, *, rows_checked: int, row_count: int = 12_000) -> str:
    with tenant_scope(tenant):
        running = ProductImport.objects.create(
            filename="big.csv", file_format="csv", status=ImportStatus.RUNNING, row_count=row_count,
            rows_checked=rows_checked, started_at=timezone.now(), progress_at=timezone.now(),
        )
    return client.get(reverse("product-import-detail", args=[running.pk])).content.decode()


def test_the_page_of_a_running_import_shows_its_progress_and_asks_for_it_again(owner_client, tenant):
    html = _page_of_a_running_import(owner_client, tenant, rows_checked=3_000)

    assert "Checking the rows: 3,000 of 12,000 rows…" in html
    assert 'value="25"' in html  # the progress bar
    assert 'hx-trigger="every 2s"' in html and "htmx.min.js" in html


def test_the_page_of_an_import_whose_rows_are_all_checked_says_it_saves_them(owner_client, tenant):
    html = _page_of_a_running_import(owner_client, tenant, rows_checked=12_000)

    assert "Every row is checked: saving 12,000 products…" in html and "Checking the rows" not in html


def test_the_page_of_a_queued_import_says_it_waits_for_a_worker_and_a_finished_one_stops_asking(
    owner_client, secret_client, tenant
):
    queued_id = _queued(secret_client)["id"]
    html = owner_client.get(reverse("product-import-detail", args=[queued_id])).content.decode()
    assert "Waiting for a worker to take the file…" in html

    tasks.catalog_import_task.apply(kwargs={"tenant_id": tenant.pk, "import_id": queued_id, "language": "en"})
    html = owner_client.get(reverse("product-import-detail", args=[queued_id])).content.decode()
    assert "5 rows imported: 5 products created, 0 updated." in html
    assert "hx-trigger" not in html and "htmx.min.js" not in html


def test_an_upload_on_the_import_page_leads_to_the_page_of_its_import(owner_client, tenant):
    response = owner_client.post(reverse("product-import"), {"file": _file()})

    with tenant_scope(tenant):
        queued = ProductImport.objects.get()
    assert response.status_code == 302 and response.url == reverse("product-import-detail", args=[queued.pk])
    assert queued.status == ImportStatus.QUEUED


def test_a_redelivered_task_does_not_run_an_import_that_runs_or_has_ended(secret_client, tenant):
    import_id = _queued(secret_client)["id"]
    with tenant_scope(tenant):
        ProductImport.objects.filter(pk=import_id).update(
            status=ImportStatus.RUNNING, started_at=timezone.now(), progress_at=timezone.now()
        )
    tasks.catalog_import_task.apply(kwargs={"tenant_id": tenant.pk, "import_id": import_id, "language": "en"})
    assert _import(tenant, import_id).status == ImportStatus.RUNNING
    assert _product_count(tenant) == 0


def test_a_redelivered_task_does_not_take_again_an_import_whose_worker_died(secret_client, tenant):
    """Its file may be older than imports that succeeded since: running it would overwrite them."""
    import_id = _queued(secret_client)["id"]
    silent_since = timezone.now() - ProductImport.RUNNING_LOST_AFTER - timedelta(minutes=1)
    with tenant_scope(tenant):
        ProductImport.objects.filter(pk=import_id).update(
            status=ImportStatus.RUNNING, started_at=silent_since, progress_at=silent_since, rows_checked=3
        )
    tasks.catalog_import_task.apply(kwargs={"tenant_id": tenant.pk, "import_id": import_id, "language": "en"})

    failed = _import(tenant, import_id)
    assert failed.status == ImportStatus.FAILED and "the one running it stopped" in failed.errors[0]["reason"]
    assert _product_count(tenant) == 0
    with tenant_scope(tenant):
        assert not ProductImportUpload.objects.exists()


def test_a_task_delivered_after_its_import_waited_too_long_fails_it_rather_than_running_it(secret_client, tenant):
    import_id = _queued(secret_client)["id"]
    with tenant_scope(tenant):
        ProductImport.objects.filter(pk=import_id).update(
            created_at=timezone.now() - ProductImport.QUEUED_LOST_AFTER - timedelta(minutes=1)
        )
    tasks.catalog_import_task.apply(kwargs={"tenant_id": tenant.pk, "import_id": import_id, "language": "en"})

    failed = _import(tenant, import_id)
    assert failed.status == ImportStatus.FAILED and "no worker took it up" in failed.errors[0]["reason"]
    assert failed.started_at is None and _product_count(tenant) == 0


def test_an_import_no_worker_took_up_ends_as_failed_when_read_and_says_why(secret_client, owner_client, tenant):
    import_id = _queued(secret_client)["id"]
    with tenant_scope(tenant):
        ProductImport.objects.filter(pk=import_id).update(
            created_at=timezone.now() - ProductImport.QUEUED_LOST_AFTER - timedelta(minutes=1)
        )

    read = secret_client.get(f"{IMPORTS}/{import_id}").json()
    assert read["status"] == ImportStatus.FAILED
    assert "no worker took it up" in read["errors"][0]["reason"] and "upload the file again" in read["errors"][0]["reason"]
    owner_client.cookies["django_language"] = "zh-hans"
    page = owner_client.get(reverse("product-import-detail", args=[import_id])).content.decode()
    with translation.override("zh-hans"):
        assert translation.gettext("Failed") in page
    with tenant_scope(tenant):
        assert not ProductImportUpload.objects.exists()
    # A task delivered late finds it ended.
    tasks.catalog_import_task.apply(kwargs={"tenant_id": tenant.pk, "import_id": import_id, "language": "en"})
    assert _product_count(tenant) == 0


def test_a_queued_import_waits_longer_than_a_silent_running_one_before_it_counts_as_lost(secret_client, tenant):
    waiting_id, silent_id = _queued(secret_client)["id"], _queued(secret_client)["id"]
    twenty_minutes_ago = timezone.now() - timedelta(minutes=20)
    with tenant_scope(tenant):
        ProductImport.objects.filter(pk=waiting_id).update(created_at=twenty_minutes_ago)
        ProductImport.objects.filter(pk=silent_id).update(
            status=ImportStatus.RUNNING, created_at=twenty_minutes_ago, started_at=twenty_minutes_ago,
            progress_at=twenty_minutes_ago,
        )

    assert secret_client.get(f"{IMPORTS}/{waiting_id}").json()["status"] == ImportStatus.QUEUED
    assert secret_client.get(f"{IMPORTS}/{silent_id}").json()["status"] == ImportStatus.FAILED


def test_an_import_that_cannot_be_queued_fails_at_once_with_the_reason_and_keeps_no_file(
    secret_client, tenant, monkeypatch
):
    def broker_down(**kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(tasks.catalog_import_task, "delay", broker_down)
    response = queued_and_run(lambda: secret_client.post(IMPORTS, {"file": _file()}, format="multipart"))

    read = secret_client.get(response["Location"]).json()
    assert read["status"] == ImportStatus.FAILED
    assert "task queue did not answer" in read["errors"][0]["reason"]
    in_chinese = secret_client.get(response["Location"], HTTP_ACCEPT_LANGUAGE="zh-hans").json()
    assert in_chinese["errors"][0]["reason"] != read["errors"][0]["reason"]
    with tenant_scope(tenant):
        assert not ProductImportUpload.objects.exists()


def test_an_error_of_ours_during_an_import_fails_it_with_the_reason_and_stores_nothing(
    secret_client, tenant, monkeypatch
):
    import_id = _queued(secret_client)["id"]

    def broken_store(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("catalog.services.imports.products_store", broken_store)
    with pytest.raises(RuntimeError):
        tasks.catalog_import_task.apply(
            kwargs={"tenant_id": tenant.pk, "import_id": import_id, "language": "en"}, throw=True
        )

    failed = _import(tenant, import_id)
    assert failed.status == ImportStatus.FAILED
    assert "error on our side, not in your file" in failed.errors[0]["reason"]
    assert _product_count(tenant) == 0


def test_the_errors_of_a_file_uploaded_in_chinese_are_written_in_chinese(session_client, tenant):
    response = queued_and_run(lambda: session_client.post(
        IMPORTS, {"file": _file(b"external_id,title,price\nA-1,Tea,cheap\n")}, format="multipart",
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    ))

    (recorded,) = ProductImport.all_tenants.filter(pk=response.json()["id"])
    with translation.override("zh-hans"):
        assert recorded.errors[0]["reason"] == recorded.errors[0]["reasons"]["zh-hans"]
    assert recorded.errors[0]["reason"] != recorded.errors[0]["reasons"]["en"]


def test_another_tenants_import_is_404_on_its_page_and_in_the_api(
    secret_client, other_tenant_client, client, other_merchant_user, tenant
):
    import_id = _queued(secret_client)["id"]

    assert other_tenant_client.get(f"{IMPORTS}/{import_id}").status_code == 404
    client.force_login(other_merchant_user)
    assert client.get(reverse("product-import-detail", args=[import_id])).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_imports_an_uploaded_file_while_the_client_reads_its_progress(
    secret_client, tenant, monkeypatch
):
    import time

    from celery.contrib.testing.worker import start_worker

    from platform_site.celery import app

    monkeypatch.undo()  # the task goes through the configured broker, not in this process
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        response = secret_client.post(IMPORTS, {"file": _file()}, format="multipart")
        assert response.status_code == 202
        deadline = time.monotonic() + 30
        while (read := secret_client.get(response["Location"]).json())["status"] in ("queued", "running"):
            assert time.monotonic() < deadline, read
            time.sleep(0.1)

    assert read["status"] == ImportStatus.SUCCEEDED, read
    assert _product_count(tenant) == 5


# A worker alive while it saves; an import failed meanwhile stays failed


def _run(tenant, import_id: int) -> None:
    tasks.catalog_import_task.apply(kwargs={"tenant_id": tenant.pk, "import_id": import_id, "language": "en"})


def _run_slowly_through(tenant, import_id: int, monkeypatch, step: str) -> dict:
    """Run the import with its `step` (a function of catalog.services.imports) taking a while, as on
    a file of 100,000 rows, during which no progress report comes: when the step began, and the
    import's progress_at as the step ends."""
    real_step = getattr(import_services, step)
    seen = {}

    def slow_step(*args, **kwargs):
        seen["began"] = timezone.now()
        time.sleep(0.5)
        seen["progress_at"] = ProductImport.all_tenants.values_list("progress_at", flat=True).get(pk=import_id)
        return real_step(*args, **kwargs)

    monkeypatch.setattr(tasks, "IMPORT_HEARTBEAT_EVERY", timedelta(seconds=0.05))
    monkeypatch.setattr(import_services, step, slow_step)
    _run(tenant, import_id)
    return seen


@pytest.mark.django_db(transaction=True)
def test_a_running_import_shows_a_sign_of_life_while_a_failed_file_is_checked_again_in_each_language(
    secret_client, tenant, monkeypatch
):
    monkeypatch.setattr(tasks.catalog_import_task, "delay", lambda **kwargs: None)  # no worker yet
    import_id = _queued(secret_client, b"external_id,title,price\nA-1,Tea,cheap\n")["id"]

    seen = _run_slowly_through(tenant, import_id, monkeypatch, "_reasons_in_every_language")

    assert seen["progress_at"] > seen["began"]
    assert _import(tenant, import_id).status == ImportStatus.FAILED


@pytest.mark.needs_postgres  # SQLite takes its one write lock for the whole saving: no beat gets in
@pytest.mark.django_db(transaction=True)
def test_a_running_import_shows_a_sign_of_life_while_its_products_are_saved(secret_client, tenant, monkeypatch):
    monkeypatch.setattr(tasks.catalog_import_task, "delay", lambda **kwargs: None)  # no worker yet
    import_id = _queued(secret_client)["id"]

    seen = _run_slowly_through(tenant, import_id, monkeypatch, "products_store")

    assert seen["progress_at"] > seen["began"]
    assert _import(tenant, import_id).status == ImportStatus.SUCCEEDED


def _failed_as_lost(tenant, import_id: int) -> None:
    """What a page read does once the import has been silent for too long (another worker's view)."""
    long_ago = timezone.now() - ProductImport.RUNNING_LOST_AFTER - timedelta(minutes=1)
    ProductImport.objects.filter(pk=import_id).update(progress_at=long_ago)
    catalog_imports_lost_fail(tenant=tenant)


def _run_failing_it_as_lost_at(tenant, import_id: int, monkeypatch, *, rows_checked: int) -> None:
    """Run the import, failed as lost (outside the transaction that saves) at that progress report."""
    real_run = tasks.catalog_import_stored

    def run_and_lose(*, import_id, on_progress):
        def report(checked, row_count):
            on_progress(checked, row_count)
            if checked == rows_checked:
                _failed_as_lost(tenant, import_id)

        return real_run(import_id=import_id, on_progress=report)

    monkeypatch.setattr(tasks, "catalog_import_stored", run_and_lose)
    _run(tenant, import_id)


def test_an_import_failed_as_lost_while_its_worker_still_ran_stays_failed_and_stores_nothing(
    secret_client, tenant, monkeypatch
):
    import_id = _queued(secret_client)["id"]

    _run_failing_it_as_lost_at(tenant, import_id, monkeypatch, rows_checked=5)  # the last report, then saving

    failed = _import(tenant, import_id)
    assert failed.status == ImportStatus.FAILED and "the one running it stopped" in failed.errors[0]["reason"]
    assert (failed.created_count, _product_count(tenant)) == (0, 0)


def test_a_progress_report_does_not_write_on_an_import_failed_meanwhile(secret_client, tenant, monkeypatch):
    monkeypatch.setattr(tasks, "IMPORT_PROGRESS_EVERY", timedelta(0))  # every report is written
    import_id = _queued(secret_client)["id"]

    _run_failing_it_as_lost_at(tenant, import_id, monkeypatch, rows_checked=0)  # the first report

    failed = _import(tenant, import_id)
    assert failed.status == ImportStatus.FAILED
    assert failed.rows_checked == 0 and failed.progress_at < timezone.now() - ProductImport.RUNNING_LOST_AFTER


# Deadlocks


def test_products_are_upserted_in_sku_order_whatever_the_files_order(secret_client, tenant):
    """Two writers of the same SKUs lock their rows in the same order, so neither waits on the other
    for a row it holds: no deadlock."""
    backwards = b"external_id,title\n" + b"".join(f"SKU-{n},Tea {n}\n".encode() for n in (4, 2, 0, 3, 1))
    import_id = _queued(secret_client, backwards)["id"]

    with CaptureQueriesContext(connection) as queries:
        _run(tenant, import_id)

    (upsert,) = [query["sql"] for query in queries if query["sql"].startswith('INSERT INTO "catalog_product"')]
    # SQLite lists the values row by row, PostgreSQL column by column (UNNEST): in both, in their order.
    positions = [re.search(rf"\bSKU-{n}\b", upsert).start() for n in range(5)]
    assert positions == sorted(positions)


# What the page shows


def test_the_progress_reaches_every_row_so_the_page_says_the_products_are_being_saved(
    secret_client, owner_client, tenant, monkeypatch
):
    import_id = _queued(secret_client)["id"]  # 5 rows: fewer than a report's batch, faster than its second
    real_store = import_services.products_store
    pages = []

    def store_and_look(**kwargs):
        pages.append(owner_client.get(reverse("product-import-detail", args=[import_id])).content.decode())
        return real_store(**kwargs)

    monkeypatch.setattr(import_services, "products_store", store_and_look)
    _run(tenant, import_id)

    assert "Every row is checked: saving 5 products…" in pages[0]


def _polled_part(html: str) -> str:
    """What htmx takes of the page each time it asks for it again (hx-select)."""
    match = re.search(r'<div id="import-progress".*?</div>\s*</section>', html, re.DOTALL)
    assert match, "no #import-progress"
    return match.group(0)


def test_the_status_is_in_the_part_of_the_page_that_follows_the_import(secret_client, owner_client, tenant):
    import_id = _queued(secret_client)["id"]
    page = reverse("product-import-detail", args=[import_id])
    assert "<dd>Queued</dd>" in _polled_part(owner_client.get(page).content.decode())

    _run(tenant, import_id)

    polled = _polled_part(owner_client.get(page).content.decode())
    assert "<dd>Succeeded</dd>" in polled and "Queued" not in polled


def test_an_import_queued_for_minutes_says_how_long_it_has_waited_and_why(secret_client, owner_client, tenant):
    import_id = _queued(secret_client)["id"]
    page = reverse("product-import-detail", args=[import_id])
    assert "It has waited" not in owner_client.get(page).content.decode()  # a worker takes it in seconds
    with tenant_scope(tenant):
        ProductImport.objects.filter(pk=import_id).update(created_at=timezone.now() - timedelta(minutes=5, seconds=10))

    html = owner_client.get(page).content.decode()
    assert "It has waited 5\xa0minutes: the platform's workers are all busy with other work, or none is running." in html
    assert 'hx-trigger="every 2s"' in html  # still watching for a worker
    owner_client.cookies["django_language"] = "zh-hans"
    in_chinese = owner_client.get(page).content.decode()
    with translation.override("zh-hans"):
        waited = timesince(timezone.now() - timedelta(minutes=5, seconds=10))
        assert translation.gettext(
            "It has waited %(waited)s: the platform's workers are all busy with other work, or none is running. "
            "It starts as soon as one is free; you may leave this page."
        ) % {"waited": waited} in in_chinese
    assert "分钟" in in_chinese


def test_the_error_count_of_a_failed_import_is_grouped_in_thousands(owner_client, tenant):
    with tenant_scope(tenant):
        failed = ProductImport.objects.create(
            filename="huge.csv", file_format="csv", status=ImportStatus.FAILED, row_count=120_000,
            rows_checked=120_000, error_count=100_000,
            errors=[{"row": 2, "field": "price", "reason": "Not a price."}],
        )

    html = owner_client.get(reverse("product-import-detail", args=[failed.pk])).content.decode()

    assert "The import failed with 100,000 errors." in html
    assert "Showing the first 1 of 100,000 errors." in html


# Uploads that no worker could import, and a queue that does not answer


def test_a_file_of_no_known_format_or_an_empty_one_fails_at_once_with_the_reason_and_is_not_queued(
    owner_client, secret_client, tenant, monkeypatch
):
    sent = []
    monkeypatch.setattr(tasks.catalog_import_task, "delay", lambda **kwargs: sent.append(kwargs))
    workbook = SimpleUploadedFile("catalog.xlsx", b"PK\x03\x04", "application/vnd.ms-excel")

    posted = queued_and_run(lambda: owner_client.post(reverse("product-import"), {"file": workbook}))
    html = owner_client.get(posted.url).content.decode()
    assert "Upload a .csv or .json file." in html and "<dd>Failed</dd>" in html and "hx-trigger" not in html
    empty = queued_and_run(lambda: secret_client.post(IMPORTS, {"file": _file(b"")}, format="multipart"))
    assert empty.status_code == 400
    assert empty.json()["status"] == ImportStatus.FAILED and empty.json()["errors"][0]["reason"] == "The file is empty."

    assert sent == []
    with tenant_scope(tenant):
        assert not ProductImportUpload.objects.exists()
        assert ProductImport.objects.filter(status=ImportStatus.FAILED).count() == 2


def _broker_down(monkeypatch) -> None:
    def broker_down(**kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(tasks.catalog_import_task, "delay", broker_down)


@pytest.mark.django_db(transaction=True)
def test_an_upload_the_task_queue_does_not_take_is_answered_503_with_the_failed_import(
    secret_client, tenant, monkeypatch
):
    _broker_down(monkeypatch)

    response = secret_client.post(IMPORTS, {"file": _file()}, format="multipart")

    assert response.status_code == 503
    assert response.json()["status"] == ImportStatus.FAILED
    assert "task queue did not answer" in response.json()["errors"][0]["reason"]
    assert secret_client.get(response["Location"]).json() == response.json()


@pytest.mark.django_db(transaction=True)
def test_an_upload_on_the_page_the_task_queue_does_not_take_leads_to_the_import_page_with_the_reason(
    owner_client, tenant, monkeypatch
):
    _broker_down(monkeypatch)

    response = owner_client.post(reverse("product-import"), {"file": _file()})

    assert response.status_code == 302
    assert "task queue did not answer" in owner_client.get(response.url).content.decode()


def test_the_schema_says_an_upload_the_task_queue_does_not_take_is_a_503(client, db):
    schema = yaml.safe_load(client.get("/api/v1/schema").content)

    assert "503" in schema["paths"]["/api/v1/catalog/imports"]["post"]["responses"]


def test_a_file_over_the_size_limit_fails_at_once_naming_both_sizes_and_is_neither_read_nor_kept(
    owner_client, secret_client, tenant, monkeypatch, settings
):
    settings.CATALOG_IMPORT_MAX_BYTES = 100
    sent = []
    monkeypatch.setattr(tasks.catalog_import_task, "delay", lambda **kwargs: sent.append(kwargs))
    too_large = FIVE_PRODUCTS + b"".join(f"SKU-x{n},Coffee {n}\n".encode() for n in range(10))
    assert len(too_large) > 100

    answer = queued_and_run(lambda: secret_client.post(IMPORTS, {"file": _file(too_large)}, format="multipart"))
    assert answer.status_code == 400
    [error] = answer.json()["errors"]
    assert error["field"] == "file"
    # filesizeformat keeps a number and its unit together with a no-break space.
    assert error["reason"].startswith(
        f"The file is {len(too_large)}\xa0bytes; a catalog file can be at most 100\xa0bytes."
    )
    posted = queued_and_run(lambda: owner_client.post(reverse("product-import"), {"file": _file(too_large)}))
    assert "a catalog file can be at most 100\xa0bytes" in owner_client.get(posted.url).content.decode()

    assert sent == [] and _product_count(tenant) == 0
    with tenant_scope(tenant):
        assert not ProductImportUpload.objects.exists()
        assert ProductImport.objects.filter(status=ImportStatus.FAILED).count() == 2
    # A file at the limit is taken.
    settings.CATALOG_IMPORT_MAX_BYTES = len(FIVE_PRODUCTS)
    assert _queued(secret_client)["status"] == ImportStatus.QUEUED


def test_the_upload_form_says_how_large_a_file_may_be(owner_client, settings):
    settings.CATALOG_IMPORT_MAX_BYTES = 100 * 1024 * 1024
    html = owner_client.get(reverse("product-import")).content.decode()
    assert "A .csv or .json file, UTF-8, of at most 100.0\xa0MB." in html


def test_the_documented_failed_import_gives_the_reason_the_api_gives(client, secret_client, tenant):
    schema = yaml.safe_load(client.get("/api/v1/schema").content)
    answer = schema["paths"]["/api/v1/catalog/imports/{import_id}"]["get"]["responses"]["200"]
    examples = answer["content"]["application/json"]["examples"].values()
    (documented,) = [error for example in examples for error in example["value"]["errors"]]
    price = re.search(r"“(.*?)”", documented["reason"]).group(1)

    upload = _file(f"external_id,title,price\nA-1,Tea,{price}\n".encode())
    queued = queued_and_run(lambda: secret_client.post(IMPORTS, {"file": upload}, format="multipart"))
    (actual,) = secret_client.get(queued["Location"]).json()["errors"]

    assert (actual["field"], actual["reason"]) == (documented["field"], documented["reason"])
